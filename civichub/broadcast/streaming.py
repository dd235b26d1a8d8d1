"""Live updates for broadcast: an event bus that the services publish to after commit and the
streaming endpoints (Mastodon's SSE streams, the pages' live feed) subscribe to.

Channels:

- `timeline:public`: every post that goes live, is edited or retracted;
- `timeline:account:<id>`: the same events for one account's posts, plus its reposts. A follower's
  stream subscribes to the channels of the accounts it follows, so publishing costs one message
  per channel whatever the follower count (nothing is written per follower);
- `area:<organisation id>`: alert notifications for the residents of an area. A resident's stream
  subscribes to its community and the areas above it, so an alert to a million residents is one
  message per target area;
- `user:<id>`: events for one person's own streams (their follows changed).

An event carries ids, never rendered content: each subscribing process renders what it sends,
in its client's language and for its host, once per process (the renders are shared by every
stream in the process).

Backends: Redis pub/sub when `settings.REDIS_URL` is set, so a post published through one web
process or the task worker reaches the streams held open by every other process, on any machine;
otherwise the processes of one machine that share the database reach each other through Unix
datagram sockets (an embedded install: the web server beside its task worker). Within a process
the events fan out to its streams' queues."""

from __future__ import annotations

import asyncio
import atexit
import dataclasses
import functools
import hashlib
import json
import logging
import os
import socket
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import OperationalError, connection, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.template.loader import render_to_string
from django.utils import timezone, translation

logger = logging.getLogger(__name__)
T = TypeVar("T")

PUBLIC = "timeline:public"
# Events a stream may fall behind by before it is closed (the client reconnects and reloads).
QUEUE_SIZE = 1000

# Event kinds, named as Mastodon's streaming events where there is one.
UPDATE = "update"  # a post went live
STATUS_UPDATE = "status.update"  # a post's text changed
DELETE = "delete"  # a post was retracted
REPOST = "repost"  # a post was reposted (its counts changed)
NOTIFICATION = "notification"  # an alert was sent to an area's residents
FOLLOWS = "follows"  # the person's follows changed


def account_channel(account_id: int) -> str:
    return f"timeline:account:{account_id}"


def area_channel(organisation_id: int) -> str:
    return f"area:{organisation_id}"


def user_channel(user_id: int) -> str:
    return f"user:{user_id}"


@dataclasses.dataclass(frozen=True)
class Event:
    kind: str
    post_id: int | None = None
    account_id: int | None = None
    dispatch_id: int | None = None
    # Unique per publication: a process renders each event once for all its streams.
    id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)

    def encode(self) -> str:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str | bytes) -> Event:
        fields = {f.name for f in dataclasses.fields(cls)}
        data = json.loads(raw)
        return cls(**{k: v for k, v in data.items() if k in fields})


# Subscriptions and the in-process fan-out --------------------------------------------------


class Subscription:
    """One stream's queue of events, on the event loop that reads it. Fed from any thread."""

    def __init__(self, channels: Iterable[str], loop: asyncio.AbstractEventLoop) -> None:
        self.channels = set(channels)
        self.loop = loop
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(QUEUE_SIZE)
        self.closed = False

    def deliver(self, event: Event) -> None:
        try:
            self.loop.call_soon_threadsafe(self._put, event)
        except RuntimeError:  # the loop has closed: the stream is gone
            self.closed = True

    def _put(self, event: Event | None) -> None:
        if self.closed:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            # A stream this far behind is ended rather than left to grow without bound.
            logger.warning("closing a stream that fell %d events behind", QUEUE_SIZE)
            self.closed = True
            self.queue.get_nowait()
            self.queue.put_nowait(None)

    def end(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self._put, None)
        except RuntimeError:
            self.closed = True

    async def get(self, timeout: float) -> Event | None:
        """The next event, or None when `timeout` passes first. Raises EOFError once ended."""
        if self.closed and self.queue.empty():
            raise EOFError
        try:
            event = await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None
        if event is None:
            self.closed = True
            raise EOFError
        return event


class _Fanout:
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
        with self._lock:
            targets: set[Subscription] = set()
            for channel in channels:
                targets.update(self._by_channel.get(channel, ()))
        for subscription in targets:
            subscription.deliver(event)
        return len(targets)

    def end_all(self) -> None:
        with self._lock:
            everyone = {s for subs in self._by_channel.values() for s in subs}
        for subscription in everyone:
            subscription.end()

    def channels(self) -> set[str]:
        with self._lock:
            return set(self._by_channel)


# Backends -----------------------------------------------------------------------------------


class LocalBus:
    """Events reach the streams of this process only (one process, no Redis)."""

    name = "local"

    def __init__(self) -> None:
        self.fanout = _Fanout()

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

    async def resubscribe(self, subscription: Subscription, channels: Iterable[str]) -> None:
        """Changes what an open stream listens to (the person followed or unfollowed)."""
        self.fanout.remove(subscription, subscription.channels - set(channels))
        subscription.channels = set(channels)
        self.fanout.add(subscription, subscription.channels)


class _RedisHub:
    """One event loop's Redis subscription: a single connection for all the loop's streams."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis.asyncio

        self.prefix = prefix
        self.fanout = _Fanout()
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
                import redis

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

    async def resubscribe(self, subscription: Subscription, channels: Iterable[str]) -> None:
        hub = self._hub()
        wanted = set(channels)
        gone = subscription.channels - wanted
        added = wanted - subscription.channels
        subscription.channels = wanted
        await hub.attach(hub.fanout.add(subscription, added))
        await hub.detach(hub.fanout.remove(subscription, gone))


def redis_prefix() -> str:
    """Redis channels are shared by every database number, so the names carry the database the
    processes share: deployments (and test runs) on one Redis server never hear each other."""
    db = connection.settings_dict
    name = str(db.get("NAME") or "")
    if connection.vendor == "sqlite" and (not name or "mode=memory" in name or name == ":memory:"):
        name = f"memory-{os.getpid()}"  # nobody else can share an in-memory database
    where = f"{db.get('HOST') or ''}:{db.get('PORT') or ''}/{name}"
    return f"civichub:{where}:broadcast:"


class MachineBus(LocalBus):
    """Without Redis: the processes of one machine that share the database (the web server's
    workers and the task worker of an embedded install) reach each other through Unix datagram
    sockets, one per process that holds streams, in a directory named after the database. Each
    event goes to every socket there, its own process's included; a socket left by a process
    that died is removed by the first publisher that finds it refusing."""

    name = "machine"

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory
        self._lock = threading.Lock()
        self._sender: socket.socket | None = None
        self._receiver_pid = 0

    def publish(self, channels: Sequence[str], event: Event) -> None:
        message = json.dumps({"channels": list(channels), "event": event.encode()}).encode()
        with self._lock:
            if self._sender is None:
                self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sender = self._sender
            try:
                listeners = [p for p in self.directory.iterdir() if p.suffix == ".sock"]
            except FileNotFoundError:
                return  # nobody has ever listened
            for path in listeners:
                try:
                    sender.sendto(message, socket.MSG_DONTWAIT, str(path))
                except (ConnectionRefusedError, FileNotFoundError):
                    path.unlink(missing_ok=True)  # its process has gone
                except BlockingIOError:
                    logger.warning("a stream process is not keeping up; an event was dropped")

    def _listen(self) -> None:
        """Starts this process's receiver once (again in a forked child)."""
        with self._lock:
            if self._receiver_pid == os.getpid():
                return
            self._receiver_pid = os.getpid()
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            path = self.directory / f"{os.getpid()}.sock"
            path.unlink(missing_ok=True)
            receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            receiver.bind(str(path))
            atexit.register(path.unlink, missing_ok=True)
        threading.Thread(
            target=self._receive, args=(receiver,), name="civichub-streams", daemon=True
        ).start()

    def _receive(self, receiver: socket.socket) -> None:
        while True:
            raw = receiver.recv(65536)
            try:
                message = json.loads(raw)
                event = Event.decode(message["event"])
                channels = [str(c) for c in message["channels"]]
            except (ValueError, KeyError, TypeError):
                logger.warning("ignoring a malformed stream event")
                continue
            self.fanout.deliver(channels, event)

    @asynccontextmanager
    async def subscribe(self, channels: Iterable[str]) -> AsyncIterator[Subscription]:
        self._listen()
        async with super().subscribe(channels) as subscription:
            yield subscription


def machine_directory() -> Path:
    """Short (a socket's path is limited to about 100 bytes) and the same for every process of
    this installation and database."""
    return _machine_directory(str(settings.DATA_DIR), redis_prefix())


@functools.lru_cache(maxsize=8)
def _machine_directory(data_dir: str, prefix: str) -> Path:
    # Hashed once per installation and database, not on every publication.
    key = f"{data_dir}|{prefix}".encode()
    return Path(tempfile.gettempdir()) / f"civichub-streams-{hashlib.sha256(key).hexdigest()[:16]}"


_bus: LocalBus | None = None
_bus_lock = threading.Lock()


def bus() -> LocalBus:
    """The process's bus: Redis when settings.REDIS_URL is set, else this machine's sockets."""
    global _bus
    with _bus_lock:
        url = getattr(settings, "REDIS_URL", "")
        current = _bus
        if url and not (isinstance(current, RedisBus) and current.url == url):
            current = _bus = RedisBus(url)
        elif not url:
            directory = machine_directory()
            if not (isinstance(current, MachineBus) and current.directory == directory):
                current = _bus = MachineBus(directory)
        assert current is not None
        return current


def publish_now(channels: Sequence[str], event: Event) -> None:
    """Publishes at once; a failure is logged, never raised (the change itself has committed)."""
    try:
        bus().publish(channels, event)
    except Exception:
        logger.exception("could not publish the %s stream event", event.kind)


def publish(channels: Sequence[str], event: Event) -> None:
    """Publishes once the current transaction commits (at once outside a transaction)."""
    transaction.on_commit(lambda: publish_now(channels, event), robust=True)


# What the services call ---------------------------------------------------------------------


def _post_channels(account_id: int) -> list[str]:
    return [PUBLIC, account_channel(account_id)]


def post_published(post: Any) -> None:
    """A post was published: announced now, or when it goes live if it is scheduled."""
    if post.published_at <= timezone.now():
        publish(
            _post_channels(post.account_id),
            Event(UPDATE, post_id=post.pk, account_id=post.account_id),
        )
        return
    post_id, when = post.pk, post.published_at
    transaction.on_commit(lambda: _announce_later(post_id, when), robust=True)


def _announce_later(post_id: int, when: Any) -> None:
    from django_tasks import task_backends

    from civichub.broadcast.tasks import announce_scheduled_post

    backend = task_backends[announce_scheduled_post.backend]
    if not backend.supports_defer:
        logger.warning("the task backend cannot defer: post %s will not be streamed", post_id)
        return
    announce_scheduled_post.using(run_after=when).enqueue(post_id)


def scheduled_post_live(post_id: int) -> bool:
    """Run when a scheduled post's time has come: announces it unless it was retracted."""
    from civichub.broadcast.models import Post, PostState

    post = Post.objects.filter(pk=post_id, state=PostState.PUBLISHED).first()
    if post is None or post.published_at > timezone.now():
        return False
    publish_now(
        _post_channels(post.account_id),
        Event(UPDATE, post_id=post.pk, account_id=post.account_id),
    )
    return True


def post_edited(post: Any) -> None:
    publish(
        _post_channels(post.account_id),
        Event(STATUS_UPDATE, post_id=post.pk, account_id=post.account_id),
    )


def post_retracted(post: Any) -> None:
    publish(
        _post_channels(post.account_id), Event(DELETE, post_id=post.pk, account_id=post.account_id)
    )


def post_reposted(post: Any) -> None:
    publish(
        [account_channel(post.account_id)],
        Event(REPOST, post_id=post.pk, account_id=post.account_id),
    )


def alert_sent(post: Any, dispatch_id: int) -> None:
    """An alert's notifications were created: one event per target area."""
    areas = [area_channel(pk) for pk in post.target_areas.values_list("pk", flat=True)]
    if areas:
        publish(areas, Event(NOTIFICATION, post_id=post.pk, dispatch_id=dispatch_id))


def follows_changed(user_id: int) -> None:
    publish([user_channel(user_id)], Event(FOLLOWS))


# Server-sent events ------------------------------------------------------------------------

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
) -> AsyncIterator[bytes]:
    """The body of an event stream: subscribes to `channels()`, sends what `handle` makes of each
    event and a heartbeat when nothing else was sent for HEARTBEAT_SECONDS. A FOLLOWS event makes
    the stream subscribe afresh. `flush` is called at least every REFRESH_SECONDS for what was
    held back to coalesce."""
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
            if event is not None and event.kind == FOLLOWS:
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


def channels_for(user: Any) -> list[str]:
    """A signed-in person's channels: the followed accounts, the areas they live in, their own."""
    from civichub.broadcast.models import Follow

    channels = [user_channel(user.pk)]
    channels += [
        account_channel(pk)
        for pk in Follow.objects.filter(user=user).values_list("account_id", flat=True)
    ]
    resident = getattr(user, "resident", None)
    if resident is not None:
        path = resident.community.path
        channels += [area_channel(int(pk)) for pk in path.strip("/").split("/") if pk]
    return channels


# The pages' live feed ----------------------------------------------------------------------

_page_renders = SharedRenders()


def _post_fragment(post_id: int, language: str) -> str | None:
    from civichub.broadcast.models import Post, PostState

    post = (
        Post.objects.select_related("account")
        .filter(pk=post_id, published_at__lte=timezone.now())
        .first()
    )
    if post is None:
        return None
    with translation.override(language):
        html = render_to_string("broadcast/_post.html", {"p": post})
    data = {"id": post.pk, "html": html, "live": post.state == PostState.PUBLISHED}
    return json.dumps(data, ensure_ascii=False)


async def page_stream(request: HttpRequest) -> HttpResponseBase:
    """Server-sent events for the home feed (signed in) or one account's page (`?account=`):
    `post` for a new post, `replace` for an edited or retracted post or changed counts, each
    with the post rendered as on the page. Answers 204 where there is nothing to stream, which
    tells the browser not to reconnect."""
    if not is_asgi(request):
        return HttpResponse(status=204)
    from civichub.broadcast.models import BroadcastAccount

    handle = request.GET.get("account", "")
    language = translation.get_language() or settings.LANGUAGE_CODE

    def reader_and_account() -> tuple[Any, int | None]:
        user = (
            request.user
        )  # the session is read here, through `db`, which gives back the connection
        signed_in = user if user.is_authenticated else None
        found = BroadcastAccount.objects.filter(handle=handle).values_list("pk", flat=True)
        return signed_in, (found.first() if handle else None)

    signed_in, account_id = await db(reader_and_account)()
    if handle and account_id is None:
        return HttpResponse(status=204)
    if not handle and signed_in is None:
        return HttpResponse(status=204)

    async def channels() -> list[str]:
        if account_id is not None:
            own = [user_channel(signed_in.pk)] if signed_in else []
            return [account_channel(account_id), *own]
        return [c for c in await db(channels_for)(signed_in) if not c.startswith("area:")]

    refresh: set[int] = set()

    async def render(post_id: int, key: Hashable) -> str | None:
        data: str | None = await _page_renders.get(
            key, lambda: db(_post_fragment)(post_id, language)
        )
        return data

    async def handle_event(event: Event) -> bytes | None:
        if event.post_id is None:
            return None
        if event.kind == UPDATE:
            data = await render(event.post_id, (event.id, language))
            return sse_event("post", data) if data else None
        if event.kind in (STATUS_UPDATE, DELETE, REPOST):
            refresh.add(event.post_id)
        return None

    last_flush = 0.0

    async def flush() -> bytes | None:
        nonlocal last_flush
        loop = asyncio.get_running_loop()
        if not refresh or loop.time() - last_flush < REFRESH_SECONDS:
            return None
        last_flush = loop.time()
        chunks = []
        tick = int(loop.time() / REFRESH_SECONDS)
        for post_id in sorted(refresh):
            data = await render(post_id, ("refresh", post_id, tick, language))
            if data:
                chunks.append(sse_event("replace", data))
        refresh.clear()
        return b"".join(chunks)

    return event_stream(sse(channels, handle_event, flush=flush))
