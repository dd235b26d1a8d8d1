"""civichub's ASGI application served by uvicorn in a thread of the test's process, as `civichub
serve` serves it: for tests that need a real HTTP server (event streams, proxy headers)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn
from django.core.wsgi import get_wsgi_application

from civichub.core.events.asgi import ASGIApp
from civichub.core.serving import web_application


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def civichub_asgi() -> ASGIApp:
    """Django's handler with every module's event streams beside it (as `civichub.asgi`)."""
    return web_application(get_wsgi_application())


@contextlib.contextmanager
def uvicorn_in_thread(app: ASGIApp | None = None, **options: Any) -> Iterator[str]:
    """Serves `app` (default: `civichub_asgi()`) on a free port until the block ends; yields its
    base URL. Streams still open at the end are cut after 2 s, not waited for."""
    config = uvicorn.Config(
        app if app is not None else civichub_asgi(),
        host="127.0.0.1",
        port=free_port(),
        lifespan="off",
        log_level="warning",
        timeout_graceful_shutdown=2,
        **options,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(15)
