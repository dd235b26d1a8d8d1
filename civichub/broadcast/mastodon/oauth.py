"""OAuth endpoints for Mastodon clients: the consent page (GET/POST /oauth/authorize), the
token endpoint (authorization_code, password and client_credentials grants) and revocation.

The consent page is a civichub page (sign-in, CSRF, the reader's language); the token and
revocation endpoints answer RFC 6749's `{"error", "error_description"}`."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote, urlencode

from django.contrib import messages
from django.contrib.auth import authenticate, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from civichub.broadcast.mastodon import scopes, selectors, services
from civichub.broadcast.mastodon.bodies import json_form
from civichub.broadcast.mastodon.services import OOB, OAuthError
from civichub.broadcast.models import ClientApp
from civichub.core.errors import DomainError
from civichub.core.models import User

# The authorization request's parameters, carried from the consent page to its form.
AUTHORIZE_FIELDS = (
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "lang",
)
# The `lang` an app asks the consent pages to speak (ISO 639-1), as civichub's languages.
LANGUAGES = {"en": "en", "zh": "zh-hans", "zh-hans": "zh-hans", "zh-cn": "zh-hans"}
TRUE = {"1", "true", "True", "on", "yes"}


def oauth_error(exc: OAuthError) -> JsonResponse:
    return JsonResponse({"error": exc.error, "error_description": exc.message}, status=exc.status)


def _client_redirect(redirect_uri: str, params: dict[str, str]) -> HttpResponse:
    """A redirect to the client's registered URI, which may use the app's own scheme (Django's
    redirect responses allow http, https and ftp only); only registered URIs get here."""
    separator = "&" if "?" in redirect_uri else "?"
    response = HttpResponse(status=302)
    response["Location"] = f"{redirect_uri}{separator}{urlencode(params)}"
    return response


def _error_page(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "broadcast/oauth/error.html", {"message": message}, status=400)


def _with_state(params: dict[str, str], state: str) -> dict[str, str]:
    return {**params, "state": state} if state else params


@never_cache
def authorize(request: HttpRequest) -> HttpResponse:
    """GET shows the consent page (after sign-in); POST records the resident's decision. The
    pages speak the language the app asks for with `lang`, else the reader's."""
    data: QueryDict = request.POST if request.method == "POST" else request.GET
    language = LANGUAGES.get(data.get("lang", "").lower())
    if language is None:
        return _authorize(request, data)
    with translation.override(language):
        return _authorize(request, data)


def _authorize(request: HttpRequest, data: QueryDict) -> HttpResponse:
    app = services.client_app_get(data.get("client_id", ""))
    if app is None:
        return _error_page(request, _("没有这个应用，请检查应用的设置。"))
    redirect_uri = data.get("redirect_uri", "") or app.redirect_uris.split()[0]
    # An unregistered redirect URI is never redirected to (RFC 6749 §4.1.2.1).
    if not services.redirect_uri_registered(app, redirect_uri):
        return _error_page(request, _("应用给出的回调地址与注册时的不符。"))
    state = data.get("state", "")
    if data.get("response_type", "code") != "code":
        return _refused(request, app, redirect_uri, state, "unsupported_response_type")
    try:
        granted = services.requested_scopes(app, data.get("scope", ""))
    except OAuthError:
        return _refused(request, app, redirect_uri, state, "invalid_scope")
    if not request.user.is_authenticated or data.get("force_login") in TRUE:
        if request.user.is_authenticated:
            logout(request)
        query = request.GET.copy()
        query.pop("force_login", None)
        return redirect_to_login(f"{request.path}?{query.urlencode()}")
    user = request.user
    assert isinstance(user, User)
    if request.method == "POST":
        if data.get("decision") != "approve":
            return _refused(request, app, redirect_uri, state, "access_denied")
        try:
            code = services.authorization_grant(
                actor=user,
                app=app,
                redirect_uri=redirect_uri,
                scope_text=granted,
                code_challenge=data.get("code_challenge", ""),
                code_challenge_method=data.get("code_challenge_method", ""),
            )
        except OAuthError as exc:
            return _error_page(request, exc.message)
        if redirect_uri == OOB:
            return render(request, "broadcast/oauth/code.html", {"app": app, "code": code})
        return _client_redirect(redirect_uri, _with_state({"code": code}, state))
    fields = [(name, data[name]) for name in AUTHORIZE_FIELDS if data.get(name)]
    if not data.get("redirect_uri"):
        fields.append(("redirect_uri", redirect_uri))
    return render(
        request,
        "broadcast/oauth/authorize.html",
        {
            "app": app,
            "action": request.path,
            "fields": fields,
            "scopes": [(scope, scopes.DESCRIPTIONS.get(scope, scope)) for scope in granted.split()],
        },
    )


def _refused(
    request: HttpRequest, app: ClientApp, redirect_uri: str, state: str, error: str
) -> HttpResponse:
    if redirect_uri == OOB:
        if error == "access_denied":
            return render(request, "broadcast/oauth/denied.html", {"app": app})
        return _error_page(request, _("应用请求的权限无效。"))
    return _client_redirect(redirect_uri, _with_state({"error": error}, state))


def _credentials(request: HttpRequest) -> tuple[str, str]:
    """Client credentials from the form or from HTTP Basic authentication (RFC 6749 §2.3.1)."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        try:
            decoded = base64.b64decode(header[6:]).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        client_id, _sep, client_secret = decoded.partition(":")
        return unquote(client_id), unquote(client_secret)
    return request.POST.get("client_id", ""), request.POST.get("client_secret", "")


@csrf_exempt
@never_cache
def token(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return JsonResponse({"error": "Method not allowed"}, status=405)
    try:
        json_form(request)
        app = services.client_app_authenticate(*_credentials(request))
        grant_type = request.POST.get("grant_type", "")
        scope = request.POST.get("scope", "")
        if grant_type == "authorization_code":
            record, secret = services.token_for_code(
                app=app,
                code=request.POST.get("code", ""),
                redirect_uri=request.POST.get("redirect_uri", ""),
                code_verifier=request.POST.get("code_verifier", ""),
            )
        elif grant_type == "password":
            user = authenticate(
                request,
                username=request.POST.get("username", ""),
                password=request.POST.get("password", ""),
            )
            if getattr(request, "axes_locked_out", False):
                # The login throttle (django-axes) locked this user name and address out. Its
                # middleware would answer with the login page's HTML; an OAuth client gets JSON.
                request.axes_locked_out = False  # type: ignore[attr-defined]
                raise OAuthError(
                    "invalid_grant",
                    "Too many failed sign-ins; try again later.",
                    status=429,
                )
            if not isinstance(user, User):
                raise OAuthError(
                    "invalid_grant",
                    "The provided authorization grant is invalid, expired, revoked, does not "
                    "match the redirection URI used in the authorization request, or was issued "
                    "to another client.",
                )
            record, secret = services.token_for_password(app=app, user=user, scope_text=scope)
        elif grant_type == "client_credentials":
            record, secret = services.token_for_app(app=app, scope_text=scope)
        else:
            raise OAuthError(
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server.",
            )
    except OAuthError as exc:
        return oauth_error(exc)
    except DomainError as exc:
        return JsonResponse(
            {"error": "invalid_request", "error_description": exc.message}, status=400
        )
    return JsonResponse(services.token_json(record, secret))


@csrf_exempt
@never_cache
def revoke(request: HttpRequest) -> HttpResponse:
    """RFC 7009: 200 with an empty object whether or not the token existed."""
    if request.method != "POST":
        return JsonResponse({"error": "Method not allowed"}, status=405)
    try:
        json_form(request)
        app = services.client_app_authenticate(*_credentials(request))
    except OAuthError as exc:
        return oauth_error(exc)
    except DomainError as exc:
        return JsonResponse(
            {"error": "invalid_request", "error_description": exc.message}, status=400
        )
    services.token_revoke(app=app, secret=request.POST.get("token", ""))
    return JsonResponse({})


def server_metadata(request: HttpRequest) -> dict[str, Any]:
    """RFC 8414 metadata, for clients that read it."""
    base = request.build_absolute_uri("/")[:-1]
    return {
        "issuer": base + "/",
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "scopes_supported": sorted(scopes.ALL_SCOPES),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "password", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "app_registration_endpoint": f"{base}/api/v1/apps",
    }


@login_required
@never_cache
def authorized_apps(request: HttpRequest) -> HttpResponse:
    """The apps the signed-in person has let use their account; withdrawing one revokes its
    tokens at once."""
    user = request.user
    assert isinstance(user, User)
    if request.method == "POST":
        app_id = request.POST.get("app", "")
        if app_id.isdigit() and services.authorization_revoke(actor=user, app_id=int(app_id)):
            messages.success(request, _("已撤销该应用的授权。"))
        return redirect("mastodon_authorized_apps")
    apps = selectors.authorized_apps(user)
    return render(
        request,
        "broadcast/oauth/authorized_apps.html",
        {"apps": [(app, [(s, scopes.DESCRIPTIONS.get(s, s)) for s in app.scopes]) for app in apps]},
    )
