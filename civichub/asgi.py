"""The application `civichub serve` runs under uvicorn.

Two ways in, chosen per request by the view its path resolves to:

- a view that is a coroutine (the event streams of the broadcast, Mastodon and donors modules)
  runs in Django's ASGI handler: a subscriber holds its connection open for the price of a
  coroutine, not a thread;
- every other request, the ordinary pages and API calls, runs Django's WSGI handler in a thread
  of a fixed pool (a2wsgi), one hop from the event loop and back. Django's ASGI handler runs a
  synchronous view through several hops between the loop and a thread made for the request
  (request started, the middleware and view, request finished); measured on the load test's
  pages that cost about 1 ms of CPU per request more, a fifth of a typical API call.

The pool has CIVICHUB_WEB_THREADS threads per process (default: the database pool's size, so
that a thread does not wait for a connection); requests beyond it wait for a free thread.
"""

import os
from functools import lru_cache

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civichub.settings")

from a2wsgi import WSGIMiddleware  # noqa: E402
from asgiref.sync import iscoroutinefunction  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.urls import Resolver404, resolve  # noqa: E402

django_asgi = get_asgi_application()  # sets Django up
django_wsgi = get_wsgi_application()


def _threads() -> int:
    pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool")
    default = pool.get("max_size", 8) if isinstance(pool, dict) else 8
    return max(1, int(os.environ.get("CIVICHUB_WEB_THREADS") or default))


# Django's handler returns its response, which is the iterable of bytes WSGI asks for.
threaded_wsgi = WSGIMiddleware(django_wsgi, workers=_threads())  # type: ignore[arg-type]


@lru_cache(maxsize=4096)
def is_streaming_path(path: str) -> bool:
    """Whether the path's view is a coroutine (an event stream)."""
    try:
        return iscoroutinefunction(resolve(path).func)
    except Resolver404:
        return False


async def application(scope: dict, receive: object, send: object) -> None:
    if scope["type"] == "http" and not is_streaming_path(scope["path"]):
        await threaded_wsgi(scope, receive, send)  # type: ignore[arg-type]
    else:
        await django_asgi(scope, receive, send)  # type: ignore[arg-type]
