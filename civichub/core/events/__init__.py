"""The event bus: live updates that services publish after commit and streams subscribe to.

A channel is a name (`timeline:public`, `area:17`, …) chosen by the module that publishes; an
event carries its kind and ids, never rendered content, and a module subclasses `Event` with
the fields of its own events (see `Event`). Each subscribing process renders what it sends.

Backends: Redis pub/sub when `settings.REDIS_URL` is set, so an event published by one web
process or the task worker reaches the streams held open by every other process, on any
machine; otherwise the processes of one machine that share the database reach each other
through Unix datagram sockets (an embedded install: the web server beside its task worker).
Within a process the events fan out to its subscriptions' queues. The streams of a process are
served beside Django's request cycle (`asgi`), all those of a kind by one task and one
subscription: `shared` when every reader gets the same bytes (a public timeline), `routed` when
each reader has its own channels and events (a person's timeline, a page's permissions)."""

from civichub.core.events.bus import (
    QUEUE_SIZE,
    STREAM_END,
    Event,
    Fanout,
    LocalBus,
    Subscription,
    credential_channel,
)
from civichub.core.events.machine import MachineBus, machine_directory
from civichub.core.events.publishing import bus, publish, publish_now
from civichub.core.events.redis_bus import RedisBus, redis_prefix
from civichub.core.events.streams import (
    HEARTBEAT_SECONDS,
    REFRESH_SECONDS,
    STREAM_MAX_SECONDS,
    SharedRenders,
    db,
    sse_event,
)

__all__ = [
    "HEARTBEAT_SECONDS",
    "QUEUE_SIZE",
    "REFRESH_SECONDS",
    "STREAM_END",
    "STREAM_MAX_SECONDS",
    "Event",
    "Fanout",
    "LocalBus",
    "MachineBus",
    "RedisBus",
    "SharedRenders",
    "Subscription",
    "bus",
    "credential_channel",
    "db",
    "machine_directory",
    "publish",
    "publish_now",
    "redis_prefix",
    "sse_event",
]
