"""Events, subscriptions and the fan-out within one process, and the in-process bus."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import logging
import threading
import uuid
from collections import deque
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, ClassVar

logger = logging.getLogger(__name__)

# Events a stream may fall behind by before it is closed (the client reconnects and reloads).
QUEUE_SIZE = 1000

# The kind of event that ends every routed stream (`routed`) of the channel it is published to.
STREAM_END = "stream.end"

_event_types: dict[str, type[Event]] = {}


def credential_channel(secret_hash: str) -> str:
    """The channel of one token, named by its stored hash: revoking the token publishes
    STREAM_END there, which ends the streams it opened."""
    return f"credential:{secret_hash[:32]}"


@dataclasses.dataclass(frozen=True)
class Event:
    """Something that happened, named by `kind`, carrying ids, never rendered content: each
    subscribing process renders what it sends. A module subclasses it with the fields of its
    own events, naming the subclass's `topic` (`class PostEvent(Event, topic="broadcast")`),
    so that a receiving process decodes an event into the same class."""

    topic: ClassVar[str] = ""

    kind: str
    # Unique per publication: a process renders each event once for all its streams.
    id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex, kw_only=True)

    def __init_subclass__(cls, *, topic: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if topic:
            if topic in _event_types:
                raise ValueError(f"the event topic {topic!r} is taken")
            cls.topic = topic
            _event_types[topic] = cls

    def encode(self) -> str:
        # An event's fields are plain values (ids, names): its own attributes as they are, not
        # `dataclasses.asdict`'s deep copy, which cost more than the rest of publishing.
        data = {"type": self.topic, **vars(self)}
        return json.dumps(data, separators=(",", ":"))

    @staticmethod
    def decode(raw: str | bytes) -> Event:
        """The event `encode` gave; ValueError for a message of no known topic."""
        data = json.loads(raw)
        topic = data.pop("type", "")
        cls = _event_types.get(topic, Event) if topic else Event
        if topic and cls is Event:
            raise ValueError(f"no event type for the topic {topic!r}")
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in fields})


class Subscription:
    """One stream's queue of events, on the event loop that reads it. Fed from any thread.

    A deque and one waiting future rather than `asyncio.Queue` and `asyncio.wait_for`: an event
    reaching ten thousand streams of a process wakes each without a task or a queue getter
    made per stream, which is most of what delivering it costs."""

    def __init__(self, channels: Iterable[str], loop: asyncio.AbstractEventLoop) -> None:
        self.channels = set(channels)
        self.loop = loop
        # Each event with the channels it was published to (a stream serving many readers
        # passes it on to the readers of those channels only).
        self.pending: deque[tuple[Event | None, Collection[str]]] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.closed = False
        # The channels the event `get` last returned was published to.
        self.arrived_on: Collection[str] = ()

    def deliver(self, event: Event, channels: Collection[str] = ()) -> None:
        try:
            self.loop.call_soon_threadsafe(self.put, event, channels)
        except RuntimeError:  # the loop has closed: the stream is gone
            self.closed = True

    def put(self, event: Event | None, channels: Collection[str] = ()) -> None:
        """Queues an event; called on the stream's own loop."""
        if self.closed:
            return
        if event is not None and len(self.pending) >= QUEUE_SIZE:
            # A stream this far behind is ended rather than left to grow without bound.
            logger.warning("closing a stream that fell %d events behind", QUEUE_SIZE)
            self.closed = True
            self.pending.clear()
            event = None
        self.pending.append((event, channels))
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def end(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self.put, None)
        except RuntimeError:
            self.closed = True

    async def get(self, timeout: float) -> Event | None:
        """The next event, or None when `timeout` passes first. Raises EOFError once ended."""
        if not self.pending:
            if self.closed:
                raise EOFError
            waiter = self.waiter = self.loop.create_future()
            timer = self.loop.call_later(timeout, _wake, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self.waiter = None
            if not self.pending:
                return None
        event, self.arrived_on = self.pending.popleft()
        if event is None:
            self.closed = True
            raise EOFError
        return event


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


# A fan-out this wide holds the cyclic garbage collector off while its streams send: each
# stream's step leaves short-lived objects that would otherwise set off, mid-delivery, full
# collections of everything the open streams keep (seconds, at ten thousand streams).
HOLD_COLLECTOR_FROM = 1000
_HOLD_SECONDS_PER_STREAM = 0.0002


def _put_all(
    subscriptions: list[Subscription], event: Event, channels: Collection[str] = ()
) -> None:
    if len(subscriptions) >= HOLD_COLLECTOR_FROM and gc.isenabled():
        gc.disable()
        hold = len(subscriptions) * _HOLD_SECONDS_PER_STREAM
        asyncio.get_running_loop().call_later(hold, gc.enable)
    for subscription in subscriptions:
        subscription.put(event, channels)


class Fanout:
    """The subscriptions of this process by channel."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_channel: dict[str, set[Subscription]] = {}

    def add(self, subscription: Subscription, channels: Iterable[str]) -> list[str]:
        """Registers; returns the channels that had no subscriber in this process before."""
        fresh = []
        with self._lock:
            for channel in channels:
                subscribers = self._by_channel.setdefault(channel, set())
                if not subscribers:
                    fresh.append(channel)
                subscribers.add(subscription)
        return fresh

    def remove(self, subscription: Subscription, channels: Iterable[str]) -> list[str]:
        """Unregisters; returns the channels left without a subscriber in this process."""
        emptied = []
        with self._lock:
            for channel in channels:
                subscribers = self._by_channel.get(channel)
                if subscribers is None:
                    continue
                subscribers.discard(subscription)
                if not subscribers:
                    del self._by_channel[channel]
                    emptied.append(channel)
        return emptied

    def deliver(self, channels: Iterable[str], event: Event) -> int:
        """Queues `event` for every subscription of `channels`: one call per event loop (not
        one per subscription), made at once when the caller runs on that loop."""
        channels = tuple(channels)
        with self._lock:
            targets: set[Subscription] = set()
            for channel in channels:
                targets.update(self._by_channel.get(channel, ()))
        by_loop: dict[asyncio.AbstractEventLoop, list[Subscription]] = {}
        for subscription in targets:
            by_loop.setdefault(subscription.loop, []).append(subscription)
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for loop, subscriptions in by_loop.items():
            if loop is running:
                _put_all(subscriptions, event, channels)
                continue
            try:
                loop.call_soon_threadsafe(_put_all, subscriptions, event, channels)
            except RuntimeError:  # the loop has closed: its streams are gone
                for subscription in subscriptions:
                    subscription.closed = True
        return len(targets)

    def end_all(self) -> None:
        with self._lock:
            everyone = {s for subs in self._by_channel.values() for s in subs}
        for subscription in everyone:
            subscription.end()

    def channels(self) -> set[str]:
        with self._lock:
            return set(self._by_channel)


class LocalBus:
    """Events reach the streams of this process only (one process, no Redis)."""

    name = "local"

    def __init__(self) -> None:
        self.fanout = Fanout()

    def publish(self, channels: Sequence[str], event: Event) -> None:
        self.fanout.deliver(channels, event)

    def channels(self) -> set[str]:
        """The channels some stream of this process listens to."""
        return self.fanout.channels()

    @asynccontextmanager
    async def subscribe(self, channels: Iterable[str]) -> AsyncIterator[Subscription]:
        subscription = Subscription(channels, asyncio.get_running_loop())
        self.fanout.add(subscription, subscription.channels)
        try:
            yield subscription
        finally:
            self.fanout.remove(subscription, subscription.channels)

    async def extend(self, subscription: Subscription, channels: Iterable[str]) -> None:
        """Adds channels to an open subscription (a reader joined a stream shared by many):
        costs what the channels added cost, however many the subscription holds."""
        added = [c for c in channels if c not in subscription.channels]
        subscription.channels.update(added)
        self.fanout.add(subscription, added)

    async def reduce(self, subscription: Subscription, channels: Iterable[str]) -> None:
        """Takes channels off an open subscription."""
        gone = [c for c in channels if c in subscription.channels]
        subscription.channels.difference_update(gone)
        self.fanout.remove(subscription, gone)
