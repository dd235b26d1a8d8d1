"""What every Mastodon endpoint shares: bearer authentication, the scopes each kind of call
accepts and Mastodon's error format (`{"error": "..."}`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from civichub.broadcast.mastodon import scopes
from civichub.broadcast.mastodon import services as oauth_services
from civichub.broadcast.mastodon.bodies import json_form
from civichub.broadcast.mastodon.selectors import NOT_FOUND
from civichub.core.errors import DomainError
from civichub.core.http import bearer_token
from civichub.core.models import User
from civichub.core.services import api_token_authenticate

OUTSIDE_SCOPES = "This action is outside the authorized scopes"
INVALID_TOKEN = "The access token is invalid"  # noqa: S105 (a message, not a secret)
# A civichub API token (made on the token page, not through OAuth) already acts as its owner
# everywhere in civichub's own API, so the Mastodon API gives it every scope too.
PERSONAL_TOKEN_SCOPES = "read write follow push"  # noqa: S105
# Scopes each kind of call accepts (any one of them), as Mastodon's controllers declare them.
READ_ACCOUNTS = ("read:accounts",)
OWN_ACCOUNT = ("read:accounts", "profile")
READ_STATUSES = ("read:statuses",)
WRITE_STATUSES = ("write:statuses",)
WRITE_FAVOURITES = ("write:favourites",)
WRITE_MEDIA = ("write:media",)
WRITE_FOLLOWS = ("write:follows",)
READ_FOLLOWS = ("read:follows",)
READ_NOTIFICATIONS = ("read:notifications",)


def error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def domain_error(exc: DomainError) -> JsonResponse:
    if exc.status == 422 and not exc.message.startswith("Validation failed"):
        return error(f"Validation failed: {exc.message}", 422)
    return error(exc.message, exc.status)


@dataclass
class Credential:
    user: User | None  # None: an app's own token (client credentials grant)
    scopes: str
    app_name: str = ""
    app_website: str = ""


def credential_for(secret: str) -> Credential | None:
    token = oauth_services.token_authenticate(secret)
    if token is not None:
        return Credential(token.user, token.scopes, token.app.name, token.app.website)
    user = api_token_authenticate(secret)
    if user is None:
        return None
    return Credential(user, PERSONAL_TOKEN_SCOPES)


def refusal(
    credential: Credential, needed: tuple[str, ...] | None, *, user_required: bool
) -> JsonResponse | None:
    """What a valid token is refused with, if anything: the one rule for endpoints and streams."""
    if user_required and credential.user is None:
        return error("This method requires an authenticated user", 422)
    if needed and not scopes.allows(credential.scopes, needed):
        return error(OUTSIDE_SCOPES, 403)
    return None


def authenticated(
    request: HttpRequest,
    needed: tuple[str, ...] | None,
    *,
    user_required: bool,
    token: str | None = None,
) -> Credential | None | JsonResponse:
    """The credential of the request's bearer token (or of `token`), None when none was sent
    and none is required, or the error to answer: no token where one is required, a bad
    token, or one refused by `refusal`."""
    secret = token if token is not None else bearer_token(request)
    if not secret:
        return error(INVALID_TOKEN, 401) if user_required else None
    credential = credential_for(secret)
    if credential is None:
        return error(INVALID_TOKEN, 401)
    return refusal(credential, needed, user_required=user_required) or credential


def endpoint(
    *,
    auth: bool = True,
    scopes_needed: tuple[str, ...] | None = None,
    methods: tuple[str, ...] | None = None,
) -> Callable[[Callable[..., HttpResponseBase]], Any]:
    """Bearer authentication, the scope check and Mastodon's error format around a view.

    `auth=True`: a user's token is required. `auth=False`: the call is public, but a token that
    is sent must be valid and hold the scope (Mastodon's "authorize if got token")."""

    def decorate(view: Callable[..., HttpResponseBase]) -> Any:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if methods and request.method not in methods:
                response = error("Method not allowed", 405)
                response["Allow"] = ", ".join(methods)
                return response
            credential = authenticated(request, scopes_needed, user_required=auth)
            if isinstance(credential, JsonResponse):
                return credential
            # The token's user acts (never the session's: Mastodon clients send tokens).
            request.user = (credential.user if credential else None) or AnonymousUser()
            request.mastodon_credential = credential  # type: ignore[attr-defined]
            try:
                json_form(request)
                return view(request, *args, **kwargs)
            except DomainError as exc:
                return domain_error(exc)

        return wrapper

    return decorate


def error_for_status(request: HttpRequest, status: int, message: str) -> HttpResponse:
    """Errors Django raises around a Mastodon view (a crash, a bad Host header) in Mastodon's
    format; the module manifest registers it for the API's prefixes."""
    return error(NOT_FOUND if status == 404 else message, status)


@csrf_exempt
def api_not_found(request: HttpRequest) -> HttpResponse:
    """Any other path under /api/v1/ or /api/v2/: Mastodon's 404, not civichub's own API's."""
    return error(NOT_FOUND, 404)
