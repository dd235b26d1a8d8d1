"""What pages, API handlers and protocol adapters need from a request: who is acting, from which
address, and the bearer token they sent. One place, so that every entry point resolves the user
and the client's address the same way."""

from __future__ import annotations

import hashlib
import ipaddress
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib import auth
from django.http import HttpRequest
from django.utils.translation import gettext as _

from civichub.core.errors import NotAuthenticated
from civichub.core.events import STREAM_END, Event, credential_channel, publish
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


def session_user(request: HttpRequest) -> Any:
    """The person the request's session cookie signs in (or an anonymous user), checked as the
    session and authentication middleware check it (the session's password hash, an active
    account): for a stream served beside the middleware. Reads the database."""
    engine = import_module(settings.SESSION_ENGINE)
    request.session = engine.SessionStore(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
    user = auth.get_user(request)
    request.user = user
    return user


def session_channel(session_key: str | None) -> str | None:
    """The channel of one signed-in session (named by a hash of its key, never the key): a page
    stream the session opened listens on it, and signing out publishes STREAM_END there, which
    ends those streams (`session_ended`). None for a request without a session."""
    if not session_key:
        return None
    return credential_channel(hashlib.sha256(f"session:{session_key}".encode()).hexdigest())


def session_ended(sender: Any, request: HttpRequest | None = None, **_kwargs: Any) -> None:
    """`user_logged_out`'s receiver (sent before the session is flushed): the page streams the
    session opened end with it, in every process, as a revoked token's streams do."""
    session = getattr(request, "session", None)
    channel = session_channel(getattr(session, "session_key", None))
    if channel is not None:
        publish([channel], Event(STREAM_END))


def connect() -> None:
    """Core's signal receivers, connected when the app registry is ready (the manifest's
    `on_ready`)."""
    auth.signals.user_logged_out.connect(session_ended, dispatch_uid="core-session-ended")


def bearer_token(request: HttpRequest) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None when there is none.
    The scheme is case-insensitive (RFC 7235); an empty token counts as none."""
    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def client_address(request: HttpRequest) -> str | None:
    """The address of the client that sent the request: the one answer the audit log
    (`RequestContextMiddleware`) and the login lock-out (`AXES_CLIENT_IP_CALLABLE`) both use.

    `X-Forwarded-For` is whatever the client wrote followed by one address per proxy, so only
    the hops that the deployment's own proxies appended can be believed. It is read only when
    the connecting peer is a trusted proxy (`CIVICHUB_TRUSTED_PROXIES`, none by default), from
    the right: the first address that is not itself a trusted proxy is the client. A hop that
    is not an address ends the chain at the last proxy; None when the peer has no address."""
    peer = _ip(request.META.get("REMOTE_ADDR", ""))
    proxies = _trusted_proxies()
    if peer is None or not _is_proxy(peer, proxies):
        return str(peer) if peer is not None else None
    client = peer
    hops = request.headers.get("X-Forwarded-For", "").split(",")
    for hop in reversed([h.strip() for h in hops if h.strip()]):
        address = _ip(hop)
        if address is None:
            break
        client = address
        if not _is_proxy(address, proxies):
            break
    return str(client)


Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _ip(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # An IPv4 client of a dual-stack socket arrives as ::ffff:a.b.c.d; it is the IPv4 client.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted_proxies() -> list[Network]:
    return [ipaddress.ip_network(p, strict=False) for p in settings.CIVICHUB_TRUSTED_PROXIES]


def _is_proxy(address: Address, proxies: list[Network]) -> bool:
    return any(address in network for network in proxies)


# The attribute `share_publicly` sets on a request: how long a shared cache may keep the answer.
_SHARED_SECONDS = "_civichub_shared_cache_seconds"


def share_publicly(request: HttpRequest) -> None:
    """Lets the proxy in front (nginx's micro-cache, `docs/nginx.conf`) keep this page's answer
    for a visitor for `PUBLIC_PAGE_CACHE_SECONDS` and give it to other visitors. Only for pages
    that show every visitor the same thing; `SharedCacheMiddleware` still refuses whenever the
    request or the answer is personal (signed in, a session, a cookie set, a form token)."""
    setattr(request, _SHARED_SECONDS, settings.PUBLIC_PAGE_CACHE_SECONDS)


def shared_cache_seconds(request: HttpRequest) -> int:
    """How long `share_publicly` allowed the answer to be shared (0: not at all)."""
    return int(getattr(request, _SHARED_SECONDS, 0))
