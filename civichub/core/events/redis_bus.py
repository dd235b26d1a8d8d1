"""Redis pub/sub: every process's streams receive every process's events, on any machine."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import redis
import redis.asyncio
from django.db import DEFAULT_DB_ALIAS, connections

from civichub.core.events.bus import Event, Fanout, LocalBus, Subscription

logger = logging.getLogger(__name__)


class _RedisHub:
    """One event loop's Redis subscription: a single connection for all the loop's streams."""

    def __init__(self, url: str, prefix: str) -> None:
        self.prefix = prefix
        self.fanout = Fanout()
        self.lock = asyncio.Lock()
        self.pubsub: Any = redis.asyncio.Redis.from_url(url).pubsub()
        # Channels Redis has confirmed: from then on no event published to them is missed.
        self.confirmed: set[str] = set()
        self.reader: asyncio.Task[None] | None = None
        self.failed = False

    async def attach(self, channels: list[str]) -> None:
        if not channels:
            return
        async with self.lock:
            await self.pubsub.subscribe(*(self.prefix + c for c in channels))
        if self.reader is None or self.reader.done():
            self.reader = asyncio.get_running_loop().create_task(self._read())

    async def detach(self, channels: list[str]) -> None:
        # A stream may have wanted a channel again meanwhile.
        wanted = self.fanout.channels()
        leaving = [c for c in channels if c not in wanted]
        if leaving and not self.failed:
            async with self.lock:
                await self.pubsub.unsubscribe(*(self.prefix + c for c in leaving))

    async def _read(self) -> None:
        try:
            while True:
                if not self.pubsub.subscribed:
                    await asyncio.sleep(0.05)
                    continue
                message = await self.pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                channel = message["channel"]
                if isinstance(channel, bytes):
                    channel = channel.decode()
                if message["type"] == "subscribe":
                    self.confirmed.add(channel.removeprefix(self.prefix))
                elif message["type"] == "unsubscribe":
                    self.confirmed.discard(channel.removeprefix(self.prefix))
                if message["type"] != "message":
                    continue
                try:
                    event = Event.decode(message["data"])
                except (ValueError, TypeError):
                    logger.warning("ignoring a malformed stream event on %s", channel)
                    continue
                self.fanout.deliver([channel.removeprefix(self.prefix)], event)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Redis went away: end this loop's streams; their clients reconnect.
            logger.exception("the Redis stream subscription failed")
            self.failed = True
            self.fanout.end_all()


class RedisBus(LocalBus):
    """Redis pub/sub: every process's streams receive every process's events. Each process (each
    event loop) holds one Redis subscription connection for all its streams and fans events out
    to them; it subscribes in Redis to a channel while at least one of its streams wants it."""

    name = "redis"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.prefix = redis_prefix()
        self._client: Any = None
        self._lock = threading.Lock()
        self._hubs: dict[asyncio.AbstractEventLoop, _RedisHub] = {}

    def _sync_client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = redis.Redis.from_url(self.url, socket_timeout=5)
            return self._client

    def publish(self, channels: Sequence[str], event: Event) -> None:
        message = event.encode()
        pipe = self._sync_client().pipeline(transaction=False)
        for channel in channels:
            pipe.publish(self.prefix + channel, message)
        pipe.execute()

    def _hub(self) -> _RedisHub:
        loop = asyncio.get_running_loop()
        with self._lock:
            for gone in [other for other in self._hubs if other.is_closed()]:
                del self._hubs[gone]
            hub = self._hubs.get(loop)
            if hub is None or hub.failed:
                hub = self._hubs[loop] = _RedisHub(self.url, self.prefix)
            return hub

    def channels(self) -> set[str]:
        with self._lock:
            hubs = list(self._hubs.values())
        return set().union(*(hub.fanout.channels() & hub.confirmed for hub in hubs))

    @asynccontextmanager
    async def subscribe(self, channels: Iterable[str]) -> AsyncIterator[Subscription]:
        hub = self._hub()
        subscription = Subscription(channels, asyncio.get_running_loop())
        await hub.attach(hub.fanout.add(subscription, subscription.channels))
        try:
            yield subscription
        finally:
            await hub.detach(hub.fanout.remove(subscription, subscription.channels))

    async def extend(self, subscription: Subscription, channels: Iterable[str]) -> None:
        hub = self._hub()
        added = [c for c in channels if c not in subscription.channels]
        subscription.channels.update(added)
        await hub.attach(hub.fanout.add(subscription, added))

    async def reduce(self, subscription: Subscription, channels: Iterable[str]) -> None:
        hub = self._hub()
        gone = [c for c in channels if c in subscription.channels]
        subscription.channels.difference_update(gone)
        await hub.detach(hub.fanout.remove(subscription, gone))


def redis_prefix() -> str:
    """Redis channels are shared by every database number, so the names carry the database the
    processes share: deployments (and test runs) on one Redis server never hear each other."""
    # The settings, not `connection`: that would make a database connection object for each
    # asynchronous context asking, every stream's.
    db = connections.settings[DEFAULT_DB_ALIAS]
    name = str(db.get("NAME") or "")
    if "sqlite" in str(db.get("ENGINE", "")) and (
        not name or "mode=memory" in name or name == ":memory:"
    ):
        name = f"memory-{os.getpid()}"  # nobody else can share an in-memory database
    where = f"{db.get('HOST') or ''}:{db.get('PORT') or ''}/{name}"
    return f"civichub:{where}:events:"
