"""Event streams served beside Django's request cycle.

A stream held open by ten thousand readers costs what its request costs, ten thousand times
over: under Django's handler each one keeps its own thread for synchronous code (the request's
thread-sensitive context lives as long as the response), runs the middleware stack, and leaves
a few hundred objects that every full garbage collection walks again. A module names, in its
manifest's `asgi_streams`, the paths of its streams (Django's `<int:name>` converter allowed; the
values are in the scope's `path_params`); for each a function of the ASGI scope gives the
stream's ASGI app, or None to leave the request to Django (a Host Django refuses). The app
checks the token or the session itself, once, as the stream opens (`shared`, `routed`)."""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.middleware.security import SecurityMiddleware
from django.utils.module_loading import import_string

from civichub.core.registry import modules

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
StreamChooser = Callable[[Scope], "ASGIApp | None"]

# What an event stream says of itself; the security headers come from Django's middleware.
_STREAM_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # nginx: pass each event on at once
)
# Django's middleware that only adds security headers to an answer, each from its settings:
# SECURE_* (HSTS, nosniff, the referrer and opener policies), X_FRAME_OPTIONS and
# CONTENT_SECURITY_POLICY.
_SECURITY = "django.middleware.security.SecurityMiddleware"
SECURITY_MIDDLEWARE = frozenset(
    {
        _SECURITY,
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
        "csp.middleware.CSPMiddleware",
    }
)


def security_headers(scope: Scope) -> tuple[tuple[bytes, bytes], ...]:
    """The security headers Django's middleware gives its answer to this request, for an answer
    sent here without it: those of `settings.MIDDLEWARE` in SECURITY_MIDDLEWARE are run over an
    empty answer, so the settings stay their one source. They depend on the request's path
    (CSP may exclude some) and on whether it came over HTTPS (HSTS)."""
    request = ASGIRequest(scope, io.BytesIO())
    return _security_headers(request.path_info, request.is_secure())


def sse_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    """The headers of an event stream answering this request."""
    return [*_STREAM_HEADERS, *security_headers(scope)]


class _Seen(HttpRequest):
    """A request as the security middleware looks at it: its path and scheme."""

    def __init__(self, path_info: str, secure: bool) -> None:
        super().__init__()
        self.method = "GET"
        self.path = self.path_info = path_info
        self._secure_scheme = "https" if secure else "http"

    @property
    def scheme(self) -> str:
        return self._secure_scheme


@functools.cache
def _security_headers(path_info: str, secure: bool) -> tuple[tuple[bytes, bytes], ...]:
    request, response = _Seen(path_info, secure), HttpResponse()
    before = set(response.headers)
    for dotted in reversed(settings.MIDDLEWARE):  # answers pass the middleware in reverse
        if dotted in SECURITY_MIDDLEWARE:
            middleware = import_string(dotted)(lambda _request: response)
            # The answer only: a request's side (the HTTPS redirect) is Django's to give
            # (`_redirected`).
            middleware.process_response(request, response)
    return tuple(
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in response.items()
        if name not in before
    )


@receiver(setting_changed)
def _settings_changed(**_kwargs: Any) -> None:
    _security_headers.cache_clear()


async def send_answer(
    scope: Scope,
    send: Send,
    status: int,
    body: bytes = b"",
    content_type: str = "application/json",
    headers: Iterable[tuple[str, str]] = (),
) -> None:
    """A whole answer other than the stream (a refusal, 204 for nothing to stream), with its
    own `headers` (else the content type of a body) and the security headers Django would give
    it."""
    own = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    if body and not own:
        own.append((b"content-type", content_type.encode()))
    headers_sent = [*own, *security_headers(scope)]
    await send({"type": "http.response.start", "status": status, "headers": headers_sent})
    await send({"type": "http.response.body", "body": body})


def _pattern(path: str) -> re.Pattern[str] | None:
    """A path with `<int:name>` parts as a pattern; None for a plain path."""
    if "<" not in path:
        return None
    parts = re.split(r"<int:(\w+)>", path)
    pattern = "".join(
        re.escape(part) if n % 2 == 0 else f"(?P<{part}>[0-9]+)" for n, part in enumerate(parts)
    )
    return re.compile(pattern + "/?")


def with_event_streams(app: ASGIApp, streams: Mapping[str, StreamChooser]) -> ASGIApp:
    """`app` (Django's handler) with the `streams` paths (with or without a trailing slash)
    answered by their choosers' apps when they take the request."""
    routes: dict[str, StreamChooser] = {}
    patterns: list[tuple[re.Pattern[str], StreamChooser]] = []
    for path, chooser in streams.items():
        pattern = _pattern(path.rstrip("/"))
        if pattern is None:
            routes[path.rstrip("/")] = chooser
        else:
            patterns.append((pattern, chooser))
    if not routes and not patterns:
        return app

    def chosen(scope: Scope) -> ASGIApp | None:
        path = scope["path"]
        chooser = routes.get(path.rstrip("/"))
        if chooser is not None:
            return chooser(scope)
        for pattern, chooser in patterns:
            match = pattern.fullmatch(path)
            if match is not None:
                params = {name: int(value) for name, value in match.groupdict().items()}
                return chooser({**scope, "path_params": params})
        return None

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") == "GET":
            stream = chosen(scope)
            # Only a stream's request is asked about HTTPS here: every other one is Django's.
            if stream is not None and not _redirected(scope):
                await stream(scope, receive, send)
                return
        await app(scope, receive, send)

    return application


def _redirected(scope: Scope) -> bool:
    """Whether Django's security middleware sends this request to HTTPS (SECURE_SSL_REDIRECT):
    such a request is left to Django, which answers with the redirect, as for any page; a Host
    Django refuses is left to it too."""
    if not settings.SECURE_SSL_REDIRECT or _SECURITY not in settings.MIDDLEWARE:
        return False
    try:
        answer = SecurityMiddleware(lambda _request: HttpResponse()).process_request(
            ASGIRequest(scope, io.BytesIO())
        )
    except DisallowedHost:
        return True
    return answer is not None


def module_streams() -> dict[str, StreamChooser]:
    """The `asgi_streams` of every module's manifest."""
    found: dict[str, StreamChooser] = {}
    for _config, manifest in modules():
        for path, dotted in manifest.asgi_streams.items():
            found[path] = import_string(dotted.replace(":", "."))
    return found
