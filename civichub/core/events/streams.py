"""Server-sent event streams over the bus: the stream body with its heartbeat, database reads
that give their connection back, and renders shared by every stream of a process."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Hashable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db import OperationalError, connection
from django.http import HttpRequest, StreamingHttpResponse

from civichub.core.events.bus import Event
from civichub.core.events.publishing import bus

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Seconds between `:thump` comments: well inside Mastodon.py's 300-second read timeout and the
# idle timeouts of proxies in front.
HEARTBEAT_SECONDS = 15.0
# A stream is closed after this long; the client reconnects (and re-authenticates).
STREAM_MAX_SECONDS = 3600.0
# Counter changes of one post (a hot post's reposts) reach a page at most this often.
REFRESH_SECONDS = 1.0
_RENDERS_KEPT = 512
_DB_ATTEMPTS = 5


def db(function: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """Runs a database read from a stream, giving the connection back afterwards: a stream lives
    for an hour and must not hold one of the process's pooled connections meanwhile."""

    def run(*args: Any, **kwargs: Any) -> T:
        try:
            for attempt in range(_DB_ATTEMPTS):
                try:
                    return function(*args, **kwargs)
                except OperationalError as exc:
                    # SQLite answers "locked" at once to a reader that meets a writer's table
                    # lock in a shared in-memory database; a moment later the read succeeds.
                    if "locked" not in str(exc) or attempt == _DB_ATTEMPTS - 1:
                        raise
                    time.sleep(0.05 * (attempt + 1))
            raise AssertionError("unreachable")
        finally:
            connection.close()

    return sync_to_async(run)


class SharedRenders:
    """What one event renders to, computed once per process and key (event, host, language) and
    shared by every stream that sends it."""

    def __init__(self) -> None:
        self._done: OrderedDict[Hashable, asyncio.Task[Any]] = OrderedDict()

    async def get(self, key: Hashable, make: Callable[[], Awaitable[Any]]) -> Any:
        loop = asyncio.get_running_loop()
        task = self._done.get(key)
        if task is not None and task.done() and task.get_loop() is loop:
            # Every stream after the first takes the result as it is: no shield, no wait (a
            # future and a wakeup each, ten thousand times over for one event).
            if task.cancelled() or task.exception() is not None:
                return None
            return task.result()
        if task is None or task.get_loop() is not loop:
            task = loop.create_task(make())  # type: ignore[arg-type]
            self._done[key] = task
            while len(self._done) > _RENDERS_KEPT:
                self._done.popitem(last=False)
        try:
            return await asyncio.shield(task)
        except Exception:
            logger.exception("could not render the stream event %r", key)
            return None


def is_asgi(request: HttpRequest) -> bool:
    """Streams need the ASGI server (`civichub serve`); a WSGI server would buffer them."""
    return isinstance(request, ASGIRequest)


def event_stream(events: AsyncIterator[bytes]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


async def sse(
    channels: Callable[[], Awaitable[list[str]]],
    handle: Callable[[Event], Awaitable[bytes | None]],
    *,
    flush: Callable[[], Awaitable[bytes | None]] | None = None,
    resubscribe_on: Collection[str] = (),
) -> AsyncIterator[bytes]:
    """The body of an event stream: subscribes to `channels()`, sends what `handle` makes of each
    event and a heartbeat when nothing else was sent for HEARTBEAT_SECONDS. An event of a kind in
    `resubscribe_on` makes the stream subscribe afresh to `channels()`. `flush` is called at
    least every REFRESH_SECONDS for what was held back to coalesce."""
    the_bus = bus()
    loop = asyncio.get_running_loop()
    async with the_bus.subscribe(await channels()) as subscription:
        yield b":)\n\n"
        started = last_sent = loop.time()
        while loop.time() - started < STREAM_MAX_SECONDS:
            wait = HEARTBEAT_SECONDS - (loop.time() - last_sent)
            if flush is not None:
                wait = min(wait, REFRESH_SECONDS)
            try:
                event = await subscription.get(max(0.0, wait))
            except EOFError:
                return
            chunk: bytes | None = None
            if event is not None and event.kind in resubscribe_on:
                await the_bus.resubscribe(subscription, await channels())
            elif event is not None:
                chunk = await handle(event)
            if flush is not None:
                held = await flush()
                chunk = (chunk or b"") + held if held else chunk
            if chunk:
                yield chunk
                last_sent = loop.time()
            elif loop.time() - last_sent >= HEARTBEAT_SECONDS:
                yield b":thump\n\n"
                last_sent = loop.time()


def sse_event(name: str, data: str) -> bytes:
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"event: {name}\n{lines}\n".encode()
