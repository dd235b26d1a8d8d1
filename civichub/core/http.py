"""What pages, API handlers and protocol adapters need from a request: who is acting, and the
bearer token they sent. One place, so that every entry point resolves the user the same way."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.translation import gettext as _

from civichub.core.errors import NotAuthenticated
from civichub.core.models import User


def request_user_or_none(request: HttpRequest) -> User | None:
    """The signed-in user of the request (session or bearer token), or None for a visitor."""
    user = getattr(request, "user", None)
    if isinstance(user, User) and user.is_authenticated:
        return user
    return None


def request_user(request: HttpRequest) -> User:
    """The signed-in user of the request; a visitor gets `NotAuthenticated` (401 / the login
    page), never an anonymous user object passed on to a service."""
    user = request_user_or_none(request)
    if user is None:
        raise NotAuthenticated(_("请先登录。"))
    return user


def bearer_token(request: HttpRequest) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None when there is none.
    The scheme is case-insensitive (RFC 7235); an empty token counts as none."""
    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
