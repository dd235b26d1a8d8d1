"""Streams whose every reader gets the same bytes (a public timeline for one host), served with
no task, queue or timer per connection.

Were each open stream to have its own tasks and subscription, an event reaching ten thousand
readers of a process would wake ten thousand tasks, each stepping through its generators to
`send`, about a hundred microseconds of the one event loop each: a second per event and more on
a busy machine. Here the streams of one event loop that share a key share one subscription and
one task (`routed` serves readers of different channels the same way): it renders each event
once and writes the same message to every reader's `send` in one pass, and one timer a second
sends the heartbeats that are due and closes the streams that have been open for
STREAM_MAX_SECONDS. Per connection there is only the server's own request task, waiting for the
client to go away.

A `send` is stepped in place rather than awaited in a task of its own: uvicorn's writes to the
socket at once and returns without suspending unless the client stopped reading (the transport
is paused). Only then does a task take over that send and the reader's later messages, in order,
and a reader that falls QUEUE_SIZE messages behind is closed (the client reconnects)."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import (
    Awaitable,
    Callable,
    Collection,
    Coroutine,
    Hashable,
    Iterable,
    Mapping,
)
from contextlib import AbstractAsyncContextManager
from typing import Any

from civichub.core.events import streams
from civichub.core.events.asgi import ASGIApp, Receive, Scope, Send, sse_headers
from civichub.core.events.bus import QUEUE_SIZE, Event, Subscription
from civichub.core.events.publishing import bus

logger = logging.getLogger(__name__)

Render = Callable[[Event], Awaitable[bytes | None]]
Message = Mapping[str, Any]

OPENED = b":)\n\n"
_HEARTBEAT = {"type": "http.response.body", "body": b":thump\n\n", "more_body": True}
_END = {"type": "http.response.body", "body": b"", "more_body": False}
# How often the heartbeats due and the streams past their age are looked for, at most.
_TICK_SECONDS = 1.0


class Reader:
    """One open connection of a shared stream."""

    __slots__ = (
        "backlog",
        "channels",
        "context",
        "ended",
        "last_sent",
        "opened_at",
        "send",
        "sending",
    )

    def __init__(
        self, send: Send, now: float, channels: frozenset[str] = frozenset(), context: Any = None
    ) -> None:
        self.send = send
        # A routed stream's reader: its channels, and what its module keeps about it.
        self.channels = channels
        self.context = context
        self.opened_at = self.last_sent = now
        # While a send waits for the client to read, the messages after it, in order.
        self.sending: asyncio.Task[None] | None = None
        self.backlog: deque[Message] = deque()
        self.ended = False


def _step(send: Send, message: Message) -> tuple[Coroutine[Any, Any, None], Any] | None:
    """Runs `send(message)` until it finishes (None) or waits: then the coroutine and what it
    waits for."""
    sent = send(message)
    coroutine = sent if isinstance(sent, Coroutine) else _awaited(sent)
    try:
        waiting = coroutine.send(None)
    except StopIteration:
        return None
    return coroutine, waiting


async def _awaited(awaitable: Awaitable[None]) -> None:
    await awaitable


async def _finish(coroutine: Coroutine[Any, Any, None], waiting: Any) -> None:
    """Carries a stepped coroutine on to its end in the current task, as a task would have."""
    while True:
        try:
            if waiting is None:
                await asyncio.sleep(0)  # a bare yield: it only gave the loop a turn
            else:
                # Taken over as a task takes a future its coroutine yields (the flag says
                # the future was yielded by `await`; awaiting it again needs it cleared).
                waiting._asyncio_future_blocking = False
                await waiting
        except BaseException as exc:  # noqa: BLE001 (handed to the coroutine, as a task would)
            try:
                waiting = coroutine.throw(exc)
            except StopIteration:
                return
            continue
        try:
            waiting = coroutine.send(None)
        except StopIteration:
            return


class Readers:
    """Open connections of one event loop served by one task: the heartbeats due, the streams
    past their age, and a send that waits for its client taken over by a task of its own."""

    def __init__(self, key: Hashable) -> None:
        self.key = key
        self.loop = asyncio.get_running_loop()
        self.readers: dict[int, Reader] = {}
        self.joining = 0
        self.ready: asyncio.Future[None] = self.loop.create_future()
        self.last_tick = self.loop.time()
        # Set as the task decides to end: a reader opening then goes to a new one.
        self.closing = False

    async def _serve(
        self,
        subscribing: AbstractAsyncContextManager[Subscription],
        registry: dict[tuple[asyncio.AbstractEventLoop, Hashable], Any],
        what: str,
    ) -> None:
        """The one task's loop: each event delivered as it comes (`_deliver`), the timed work
        (`_timed`) every tick; it ends when the subscription ends or nobody has read for a tick,
        and then ends every open reader and leaves `registry`, so the next reader starts anew."""
        try:
            async with subscribing as subscription:
                self._subscribed(subscription)
                self.ready.set_result(None)
                idle = False
                while True:
                    tick = min(_TICK_SECONDS, streams.HEARTBEAT_SECONDS / 2)
                    try:
                        event = await subscription.get(tick)
                    except EOFError:
                        self.closing = True
                        return
                    if event is not None:
                        await self._deliver(event, subscription.arrived_on)
                    if self.loop.time() - self.last_tick >= tick:
                        await self._timed()
                    if self.readers or self.joining:
                        idle = False
                    elif idle:
                        self.closing = True
                        return  # nobody has read them for a while: unsubscribed
                    else:
                        idle = True
        except Exception as exc:
            self.closing = True
            if not self.ready.done():
                self.ready.set_exception(exc)
            logger.exception("%s failed", what)
        finally:
            if registry.get((self.loop, self.key)) is self:
                del registry[(self.loop, self.key)]
            for reader in list(self.readers.values()):
                self._end(reader)
            if not self.ready.done():
                self.ready.cancel()

    def _subscribed(self, subscription: Subscription) -> None:
        """The subscription is in place (before any reader is let in)."""

    async def _deliver(self, event: Event, channels: Collection[str]) -> None:
        raise NotImplementedError

    async def _timed(self) -> None:
        """Every tick: heartbeats and streams past their age."""
        self._tick()

    @staticmethod
    async def _open(send: Send, headers: list[tuple[bytes, bytes]]) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": OPENED, "more_body": True})

    def _forget(self, reader: Reader) -> bool:
        """Takes the reader off the streams; False when it was already gone."""
        return self.readers.pop(id(reader), None) is not None

    def leave(self, reader: Reader) -> None:
        reader.ended = True
        self._forget(reader)
        if reader.sending is not None:
            reader.sending.cancel()

    def _tick(self) -> None:
        now = self.last_tick = self.loop.time()
        beat_before = now - streams.HEARTBEAT_SECONDS
        end_before = now - streams.STREAM_MAX_SECONDS
        for reader in list(self.readers.values()):
            if reader.opened_at <= end_before:
                self._end(reader)
            elif reader.last_sent <= beat_before:
                self._write(reader, _HEARTBEAT, now)

    def close(self, reader: Reader) -> None:
        """Ends a reader's stream (it may no longer see what the stream shows)."""
        self._end(reader)

    def _end(self, reader: Reader) -> None:
        """Ends the response: the server then tells the request's task the client has gone."""
        self._forget(reader)
        if not reader.ended:
            self._write(reader, _END, self.loop.time())
            reader.ended = True

    def _write(self, reader: Reader, message: Message, now: float) -> None:
        reader.last_sent = now
        if reader.sending is not None:
            if len(reader.backlog) >= QUEUE_SIZE:
                logger.warning("closing a stream that fell %d events behind", QUEUE_SIZE)
                reader.backlog.clear()
                reader.backlog.append(_END)
                reader.ended = True
                self._forget(reader)
            elif not reader.ended:
                reader.backlog.append(message)
            return
        try:
            waiting = _step(reader.send, message)
        except Exception:  # the connection failed: the server ends its request
            self.leave(reader)
            return
        if waiting is not None:
            reader.sending = self.loop.create_task(self._catch_up(reader, *waiting))

    async def _catch_up(
        self, reader: Reader, coroutine: Coroutine[Any, Any, None], waiting: Any
    ) -> None:
        """A reader's send waited for the client: finishes it, then sends what came meanwhile."""
        try:
            await _finish(coroutine, waiting)
            while reader.backlog:
                await reader.send(reader.backlog.popleft())
        except Exception:
            self.leave(reader)
        finally:
            reader.sending = None


class SharedStream(Readers):
    """The readers of one event loop that get the same bytes (same `key`), one subscription."""

    def __init__(self, key: Hashable, channels: Iterable[str], render: Render) -> None:
        super().__init__(key)
        self.channels = list(channels)
        self.render = render
        self.task = self.loop.create_task(self._run())

    async def join(self, send: Send, headers: list[tuple[bytes, bytes]]) -> Reader:
        """Opens the response (with `headers`) once the subscription is in place; the reader
        then gets every event that comes after the first line."""
        self.joining += 1  # the stream is not ended meanwhile
        try:
            await asyncio.shield(self.ready)
            await self._open(send, headers)
        finally:
            self.joining -= 1
        reader = Reader(send, self.loop.time())
        self.readers[id(reader)] = reader
        if self.closing:
            self._end(reader)  # the client reconnects
        return reader

    async def _run(self) -> None:
        await self._serve(bus().subscribe(self.channels), _shared, "a shared event stream")

    async def _deliver(self, event: Event, channels: Collection[str] = ()) -> None:
        try:
            chunk = await self.render(event)
        except Exception:
            logger.exception("could not render the stream event %s", event.kind)
            return
        if not chunk:
            return
        # One message for every reader: the server only reads it.
        message = {"type": "http.response.body", "body": chunk, "more_body": True}
        now = self.loop.time()
        for reader in list(self.readers.values()):
            self._write(reader, message, now)


_shared: dict[tuple[asyncio.AbstractEventLoop, Hashable], SharedStream] = {}


def shared_sse_app(
    key: Hashable, channels: Iterable[str], renderer: Callable[[], Render]
) -> ASGIApp:
    """An ASGI app serving the event stream of `channels`, shared with every open stream of the
    same `key` in the process, each event as the render function that `renderer()` makes turns
    it into bytes: streams of one key must get the same bytes (the key names what the rendering
    depends on, such as the host). `renderer` is called for the first stream of a key only."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        stream = _shared.get((loop, key))
        if stream is None or stream.closing or stream.task.done():
            for gone in [k for k in _shared if k[0].is_closed()]:
                del _shared[gone]
            stream = _shared[(loop, key)] = SharedStream(key, channels, renderer())
        reader = await stream.join(send, sse_headers(scope))
        try:
            # After the response ends (the stream's age, a reader too far behind) the server
            # answers `http.disconnect` as well.
            while (await receive())["type"] != "http.disconnect":
                pass
        finally:
            stream.leave(reader)

    return app
