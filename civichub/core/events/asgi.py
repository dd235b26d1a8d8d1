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

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from django.utils.module_loading import import_string

from civichub.core.registry import modules

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
StreamChooser = Callable[[Scope], "ASGIApp | None"]

# The headers of an event stream, those Django's security middleware gives every answer too.
SSE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # nginx: pass each event on at once
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
# The security headers Django's middleware gives an answer, for one sent from here.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = tuple(
    header
    for header in SSE_HEADERS
    if header[0] not in (b"content-type", b"cache-control", b"x-accel-buffering")
)


async def send_answer(
    send: Send, status: int, body: bytes = b"", content_type: str = "application/json"
) -> None:
    """A whole answer other than the stream (a refusal, 204 for nothing to stream)."""
    headers = list(SECURITY_HEADERS)
    if body:
        headers.append((b"content-type", content_type.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
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
            if stream is not None:
                await stream(scope, receive, send)
                return
        await app(scope, receive, send)

    return application


def module_streams() -> dict[str, StreamChooser]:
    """The `asgi_streams` of every module's manifest."""
    found: dict[str, StreamChooser] = {}
    for _config, manifest in modules():
        for path, dotted in manifest.asgi_streams.items():
            found[path] = import_string(dotted.replace(":", "."))
    return found
