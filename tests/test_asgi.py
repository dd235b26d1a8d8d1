"""The application `civichub serve` runs (`civichub/asgi.py`): ordinary pages and API calls go
through Django's WSGI handler in a pool of threads, event streams (coroutine views) through
Django's ASGI handler."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from civichub import asgi


def call(path: str) -> tuple[int, bytes]:
    """One GET of `path` through the application, as uvicorn makes it."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    messages: list[dict[str, Any]] = []

    requests = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        if requests:
            return requests.pop()
        await asyncio.Event().wait()  # the client stays connected until the answer
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    asyncio.run(asgi.application(scope, receive, send))
    status = next(m["status"] for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return status, body


def test_stream_views_are_told_apart_from_the_others() -> None:
    assert asgi.is_streaming_path("/broadcast/stream/")
    assert asgi.is_streaming_path("/api/v1/streaming/user")
    assert asgi.is_streaming_path("/donors/stream/")
    assert not asgi.is_streaming_path("/messages/board/")
    assert not asgi.is_streaming_path("/api/casework/board")
    assert not asgi.is_streaming_path("/no/such/page/")


@pytest.mark.django_db
def test_an_ordinary_request_runs_in_the_wsgi_thread_pool(monkeypatch: Any) -> None:
    handled: list[str] = []
    wsgi = asgi.threaded_wsgi.app

    def recording(environ: dict[str, Any], start_response: Any) -> Any:
        handled.append(environ["PATH_INFO"])
        return wsgi(environ, start_response)

    monkeypatch.setattr(asgi.threaded_wsgi, "app", recording)
    assert call("/healthz") == (200, b'{"status": "ok"}')
    assert call("/api/v1/streaming/health") == (200, b"OK")  # a coroutine view: ASGI
    assert handled == ["/healthz"]
