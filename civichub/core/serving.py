"""The application `civichub serve` runs: the modules' event streams on the event loop, and
every other request (pages, the API, Open311, static files) through Django's WSGI handler on a
fixed pool of threads (a2wsgi).

Django's own ASGI handler would run the same synchronous views at a higher price: a new thread
for every request (its thread-sensitive context), so a new database wrapper, cache client and
pooled-connection checkout each time, and, because Django's middleware runs synchronously, a
request that crosses from the event loop to that thread, back to the loop and into the thread
again, plus two more crossings for the request signals. A pool of threads kept for the
process's life runs each request in one of them from the first middleware to the response.
The number of threads bounds the requests one process serves at once (`CIVICHUB_WEB_THREADS`);
open event streams do not count against it."""

from __future__ import annotations

from typing import Any, cast

from a2wsgi import WSGIMiddleware
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

from civichub.core.events.asgi import ASGIApp, module_streams, with_event_streams


def web_application(django_application: WSGIHandler) -> ASGIApp:
    """`django_application` (Django's WSGI handler, set up) on `WEB_THREADS` threads, with every
    module's event streams beside it."""
    # The stubs on both sides name the same protocols differently (a response is an iterable of
    # bytes; a2wsgi's scope and events are typed dictionaries).
    pooled = WSGIMiddleware(cast(Any, django_application), workers=int(settings.WEB_THREADS))
    return with_event_streams(cast(ASGIApp, pooled), module_streams())
