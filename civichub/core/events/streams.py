"""What the event streams share: their timings, database reads that give their connection back,
renders shared by every stream of a process, and the server-sent event format."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import OperationalError, connection

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


# Streams opening at once check their tokens and sessions side by side in these few threads of
# the process (each check waits on the database), not one after another, nor a thread each.
OPENING_THREADS = 2
_opening: list[ThreadPoolExecutor] = []
_opening_lock = threading.Lock()


def _opening_executor() -> ThreadPoolExecutor:
    with _opening_lock:
        if not _opening:
            _opening.append(
                ThreadPoolExecutor(OPENING_THREADS, thread_name_prefix="civichub-stream-open")
            )
        return _opening[0]


def db(function: Callable[..., T], *, opening: bool = False) -> Callable[..., Awaitable[T]]:
    """Runs a database read from a stream, giving the connection back afterwards: a stream lives
    for an hour and must not hold one of the process's pooled connections meanwhile. `opening`:
    the checks of a stream as it opens, run beside other streams' (OPENING_THREADS)."""

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

    if opening:
        return sync_to_async(run, thread_sensitive=False, executor=_opening_executor())
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


def sse_event(name: str, data: str) -> bytes:
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"event: {name}\n{lines}\n".encode()
