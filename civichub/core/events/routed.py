"""Streams whose readers each get their own events (a person's home timeline and notifications,
a page only its viewer may see), served as `shared` serves the public stream: one subscription
and one task per event loop and kind of stream, no task, queue or timer per connection.

Each reader names its channels when it opens (a person's followed accounts, their areas, their
own channel) and the module keeps what it needs about the reader in its `context` (ids, host,
language — checked once, as the stream opened). An event reaches the readers of the channels it
was published to, and the module's `Audience` renders it for all of them at once: what is the
same for many (a status for one host, a page fragment in one language) once, what is a person's
own (their notification, whether they may still see a request) in one database call for every
person concerned. A reader's channels may change while it reads (the person followed someone).

An event of the kind STREAM_END closes the streams of the channel it is published to: a revoked
token's, as Mastodon's streaming server closes them."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, OrderedDict
from collections.abc import Collection, Hashable, Iterable
from typing import Any

from civichub.core.events.asgi import ASGIApp, Receive, Scope, Send, sse_headers
from civichub.core.events.bus import STREAM_END, Event, Subscription
from civichub.core.events.publishing import bus
from civichub.core.events.shared import Message, Reader, Readers

logger = logging.getLogger(__name__)

# Events remembered, with the channels they came through, so that an event that comes again
# through another channel (Redis sends one message per channel) reaches nobody twice.
_EVENTS_REMEMBERED = 256

Chunks = Iterable[tuple[Reader, bytes]]


class Audience:
    """What a module's routed streams send: `render` an event for the readers it reaches, and
    `flush` what was held back to be sent at most every REFRESH_SECONDS."""

    async def render(self, streams: RoutedStreams, event: Event, readers: list[Reader]) -> Chunks:
        raise NotImplementedError

    async def flush(self, streams: RoutedStreams) -> Chunks:
        return ()


class RoutedStreams(Readers):
    """The readers of one event loop served by one audience, each on its own channels."""

    def __init__(self, key: Hashable, audience: Audience) -> None:
        super().__init__(key)
        self.audience = audience
        self.by_channel: dict[str, dict[int, Reader]] = {}
        # The readers (open or opening) wanting each channel; the subscription holds these.
        self.wanted: Counter[str] = Counter()
        self.unwanted: set[str] = set()
        self.subscription: Subscription | None = None
        self.came_through: OrderedDict[str, frozenset[str]] = OrderedDict()
        self.task = self.loop.create_task(self._run())

    async def join(
        self,
        send: Send,
        channels: Iterable[str],
        context: Any,
        headers: list[tuple[bytes, bytes]],
    ) -> Reader:
        """Subscribes to the reader's channels, then opens the response (with `headers`): the
        reader gets every event its channels carry after the first line."""
        wanted = frozenset(channels)
        self.joining += 1  # the streams are not ended meanwhile
        try:
            await asyncio.shield(self.ready)
            try:
                await self._want(wanted)
                await self._open(send, headers)
            except BaseException:
                self._unwant(wanted)
                raise
        finally:
            self.joining -= 1
        reader = Reader(send, self.loop.time(), wanted, context)
        self.readers[id(reader)] = reader
        for channel in wanted:
            self.by_channel.setdefault(channel, {})[id(reader)] = reader
        if self.closing:
            self._end(reader)  # the client reconnects
        return reader

    async def move(self, reader: Reader, channels: Iterable[str]) -> None:
        """Changes the channels of an open reader (the person followed or unfollowed)."""
        wanted = frozenset(channels)
        if wanted == reader.channels or id(reader) not in self.readers:
            return
        before = reader.channels
        await self._want(wanted - before)
        if id(reader) not in self.readers:  # gone meanwhile
            self._unwant(wanted - before)
            return
        self._unindex(reader, before - wanted)
        for channel in wanted - before:
            self.by_channel.setdefault(channel, {})[id(reader)] = reader
        reader.channels = wanted
        self._unwant(before - wanted)
        await self._unsubscribe()  # at once: what the person left should stop at once

    def _forget(self, reader: Reader) -> bool:
        if not super()._forget(reader):
            return False
        self._unindex(reader, reader.channels)
        self._unwant(reader.channels)
        return True

    def _unindex(self, reader: Reader, channels: Iterable[str]) -> None:
        for channel in channels:
            readers = self.by_channel.get(channel)
            if readers is not None:
                readers.pop(id(reader), None)
                if not readers:
                    del self.by_channel[channel]

    async def _want(self, channels: Collection[str]) -> None:
        added = [c for c in channels if not self.wanted[c]]
        self.wanted.update(channels)
        if added:
            assert self.subscription is not None
            await bus().extend(self.subscription, added)

    def _unwant(self, channels: Iterable[str]) -> None:
        """The subscription keeps the channels nobody wants any more until the next tick: many
        readers leaving cost one change of the subscription."""
        for channel in channels:
            self.wanted[channel] -= 1
            if self.wanted[channel] <= 0:
                del self.wanted[channel]
                self.unwanted.add(channel)

    async def _unsubscribe(self) -> None:
        gone = [c for c in self.unwanted if not self.wanted[c]]
        self.unwanted.clear()
        if gone and self.subscription is not None:
            await bus().reduce(self.subscription, gone)

    async def _run(self) -> None:
        await self._serve(bus().subscribe([]), _routed, "routed event streams")

    def _subscribed(self, subscription: Subscription) -> None:
        self.subscription = subscription

    async def _timed(self) -> None:
        self._tick()
        await self._flush()
        await self._unsubscribe()

    def _targets(self, event: Event, channels: Collection[str]) -> list[Reader]:
        """The open readers of `channels` that have not had the event through another."""
        earlier = self.came_through.get(event.id, frozenset())
        self.came_through[event.id] = earlier | frozenset(channels)
        while len(self.came_through) > _EVENTS_REMEMBERED:
            self.came_through.popitem(last=False)
        found: dict[int, Reader] = {}
        for channel in channels:
            found.update(self.by_channel.get(channel, {}))
        readers = found.values()
        if earlier:
            return [r for r in readers if r.channels.isdisjoint(earlier)]
        return list(readers)

    async def _deliver(self, event: Event, channels: Collection[str]) -> None:
        readers = self._targets(event, channels)
        if not readers:
            return
        if event.kind == STREAM_END:
            for reader in readers:
                self._end(reader)
            return
        try:
            chunks = list(await self.audience.render(self, event, readers))
        except Exception:
            logger.exception("could not render the stream event %s", event.kind)
            return
        self._send(chunks)

    async def _flush(self) -> None:
        try:
            chunks = list(await self.audience.flush(self))
        except Exception:
            logger.exception("could not render what the streams held back")
            return
        self._send(chunks)

    def _send(self, chunks: list[tuple[Reader, bytes]]) -> None:
        # Readers given the same bytes share one message: the server only reads it.
        messages: dict[int, Message] = {}
        now = self.loop.time()
        for reader, chunk in chunks:
            if not chunk or id(reader) not in self.readers:
                continue
            message = messages.get(id(chunk))
            if message is None:
                message = {"type": "http.response.body", "body": chunk, "more_body": True}
                messages[id(chunk)] = message
            self._write(reader, message, now)


_routed: dict[tuple[asyncio.AbstractEventLoop, Hashable], RoutedStreams] = {}


def routed_streams(key: Hashable, audience: type[Audience] | Any) -> RoutedStreams:
    """The running loop's streams of `key`, made (with `audience()`) for the first reader."""
    loop = asyncio.get_running_loop()
    found = _routed.get((loop, key))
    if found is None or found.closing or found.task.done():
        for gone in [k for k in _routed if k[0].is_closed()]:
            del _routed[gone]
        found = _routed[(loop, key)] = RoutedStreams(key, audience())
    return found


def routed_sse_app(
    key: Hashable, audience: type[Audience] | Any, channels: Iterable[str], context: Any
) -> ASGIApp:
    """An ASGI app serving one reader (with its `channels` and `context`) among the streams of
    `key` in the process, rendered by the `Audience` that `audience()` makes for the first."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        routed = routed_streams(key, audience)
        reader = await routed.join(send, channels, context, sse_headers(scope))
        try:
            # After the response ends (the stream's age, a revoked token, a reader too far
            # behind) the server answers `http.disconnect` as well.
            while (await receive())["type"] != "http.disconnect":
                pass
        finally:
            routed.leave(reader)

    return app
