"""Live updates: the event bus publishes after commit to the channels of the post's account,
and the Mastodon streaming API and the pages' live feed deliver the events, served by uvicorn
(the ASGI server `civichub serve` runs) in a thread of the test process. Mastodon.py's own
`stream_user` and `stream_public` are the clients."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.db import OperationalError, transaction
from django.test import Client
from django.utils import timezone
from mastodon import Mastodon, StreamListener

from civichub.broadcast import services, streaming
from civichub.broadcast.mastodon.endpoint import OUTSIDE_SCOPES
from civichub.broadcast.tests.conftest import Broadcast
from civichub.broadcast.tests.test_mastodon import PASSWORD, client_for
from civichub.core import events
from civichub.core.http import session_channel
from civichub.testing.servers import uvicorn_in_thread

pytestmark = pytest.mark.django_db(transaction=True)

# Threads a process may start for its streams, however many: the one for database reads and
# those checking the streams as they open.
THREADS_BESIDE_STREAMS = 1 + events.streams.OPENING_THREADS


class Collector:
    """A subscriber on an event loop of its own thread, as a stream in the server would be."""

    def __init__(self, channels: list[str]) -> None:
        self.events: list[Any] = []
        self.arrived = threading.Condition()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._run(channels),))
        self._thread.start()
        assert self._ready.wait(10)
        deadline = time.monotonic() + 10
        while not set(channels) <= streaming.bus().channels():  # Redis confirms a moment later
            assert time.monotonic() < deadline, f"not subscribed to {channels}"
            time.sleep(0.02)

    async def _run(self, channels: list[str]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with streaming.bus().subscribe(channels) as subscription:
            self._ready.set()
            while not self._stop.is_set():
                event = await subscription.get(0.05)
                if event is not None:
                    with self.arrived:
                        self.events.append(event)
                        self.arrived.notify_all()

    def wait_for(self, count: int, timeout: float = 5) -> list[Any]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.events) >= count, timeout)
            return list(self.events)

    def close(self) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@pytest.fixture
def collector() -> Iterator[Any]:
    made: list[Collector] = []

    def make(channels: list[str]) -> Collector:
        made.append(Collector(channels))
        return made[-1]

    yield make
    for c in made:
        c.close()


@pytest.fixture
def asgi_server(bc: Broadcast, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """civichub's ASGI application under uvicorn, with a heartbeat every 0.2 s."""
    monkeypatch.setattr(events.streams, "HEARTBEAT_SECONDS", 0.2)
    with uvicorn_in_thread() as base:
        yield base


def written(service: Any, /, **kwargs: Any) -> Any:
    """Calls a service from the test's thread while a stream in the server's thread may be
    reading: in the shared in-memory SQLite database of the tests a writer that meets a
    reader's table lock is told "locked" at once (no busy wait), and the service's transaction
    rolled back whole, so it is tried again a moment later."""
    for attempt in range(50):
        try:
            return service(**kwargs)
        except OperationalError as exc:
            if "locked" not in str(exc) or attempt == 49:
                raise
            time.sleep(0.02)
    raise AssertionError("unreachable")


def publish(bc: Broadcast, text: str, **extra: Any) -> Any:
    return written(
        services.post_publish,
        actor=bc.police_publisher,
        account=bc.police,
        text=text,
        category="traffic",
        **extra,
    )


# The bus --------------------------------------------------------------------------------------


def test_a_post_is_published_to_its_account_and_the_public_timeline_after_commit(
    bc: Broadcast, collector: Any
) -> None:
    police = collector([streaming.account_channel(bc.police.pk)])
    public = collector([streaming.PUBLIC])
    health = collector([streaming.account_channel(bc.health.pk)])

    with transaction.atomic():
        post = publish(bc, "青山隧道封闭")
        time.sleep(0.2)
        assert police.events == [], "nothing is announced before the post commits"

    for c in (police, public):
        assert [(e.kind, e.post_id) for e in c.wait_for(1)] == [(streaming.UPDATE, post.pk)]
    assert health.events == []


def test_a_rolled_back_post_is_never_announced(bc: Broadcast, collector: Any) -> None:
    police = collector([streaming.account_channel(bc.police.pk)])

    def publish_then_fail() -> None:
        with transaction.atomic():
            publish(bc, "不会发布")
            raise RuntimeError("the request failed after the post was written")

    with pytest.raises(RuntimeError):
        publish_then_fail()
    kept = publish(bc, "会发布")
    assert [e.post_id for e in police.wait_for(1)] == [kept.pk]


def test_edits_retractions_and_reposts_reach_the_account_channel(
    bc: Broadcast, collector: Any
) -> None:
    police = collector([streaming.account_channel(bc.police.pk)])
    public = collector([streaming.PUBLIC])
    post = publish(bc, "路况")

    services.post_edit(actor=bc.police_publisher, post_id=post.pk, text="路况（更新）")
    services.repost_create(actor=bc.resident_a, post_id=post.pk)
    services.post_retract(actor=bc.police_publisher, post_id=post.pk)

    kinds = [e.kind for e in police.wait_for(4)]
    assert kinds == [streaming.UPDATE, streaming.STATUS_UPDATE, streaming.REPOST, streaming.DELETE]
    # Counter changes stay on the account's channel; the public timeline gets the post's own.
    assert [e.kind for e in public.wait_for(3)] == [
        streaming.UPDATE,
        streaming.STATUS_UPDATE,
        streaming.DELETE,
    ]


def test_an_alert_is_one_event_per_target_area_not_per_resident(
    bc: Broadcast, collector: Any
) -> None:
    district_a = collector([streaming.area_channel(bc.city.district_a.pk)])
    district_b = collector([streaming.area_channel(bc.city.district_b.pk)])
    publish(
        bc,
        "东湖区暴雨预警",
        target_area_ids=[bc.city.district_a.pk],
        alert=services.AlertFields(
            category="Met",
            event="暴雨",
            urgency="Immediate",
            severity="Severe",
            certainty="Likely",
            expires=timezone.now() + dt.timedelta(hours=2),
        ),
    )
    events = district_a.wait_for(1)
    assert [e.kind for e in events] == [streaming.NOTIFICATION]
    assert events[0].dispatch_id is not None
    time.sleep(0.2)
    assert district_b.events == []
    # Residents of district A listen on it; a resident of district B does not.
    assert streaming.area_channel(bc.city.district_a.pk) in streaming.channels_for(bc.resident_a)
    assert streaming.area_channel(bc.city.district_a.pk) not in streaming.channels_for(
        bc.resident_b
    )


def test_a_scheduled_post_is_announced_when_it_goes_live(
    bc: Broadcast, collector: Any, settings: Any
) -> None:
    from django_tasks import default_task_backend

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    police = collector([streaming.account_channel(bc.police.pk)])
    at = timezone.now() + dt.timedelta(seconds=1)
    post = publish(bc, "明早八点起封路", publish_at=at)

    # The post's delivery to other servers is queued for the same time, beside its announcement.
    results = default_task_backend.results  # type: ignore[attr-defined]
    # Broadcast's own tasks (other modules may hear of the post too: the portal's search).
    mine = sorted(
        r.task.name for r in results if r.task.func.__module__.startswith("civichub.broadcast")
    )
    assert mine == ["announce_scheduled_post", "federate_post"]
    [queued] = [r for r in results if r.task.name == "announce_scheduled_post"]
    assert queued.task.run_after == at and queued.args == [post.pk]
    from civichub.broadcast.tasks import announce_scheduled_post

    assert announce_scheduled_post.call(post.pk) is False, "too early: not live yet"
    time.sleep(max(0.0, (at - timezone.now()).total_seconds()) + 0.05)
    assert announce_scheduled_post.call(post.pk) is True
    assert [(e.kind, e.post_id) for e in police.wait_for(1)] == [(streaming.UPDATE, post.pk)]


# The Mastodon streaming API -------------------------------------------------------------------


class Listener(StreamListener):
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.arrived = threading.Condition()

    def _add(self, name: str, payload: Any) -> None:
        with self.arrived:
            self.events.append((name, payload))
            self.arrived.notify_all()

    def on_update(self, status: Any) -> None:
        self._add("update", status)

    def on_status_update(self, status: Any) -> None:
        self._add("status.update", status)

    def on_delete(self, status_id: Any) -> None:
        self._add("delete", status_id)

    def on_notification(self, notification: Any) -> None:
        self._add("notification", notification)

    def wait_for(self, name: str, timeout: float = 5) -> list[Any]:
        with self.arrived:
            self.arrived.wait_for(lambda: any(n == name for n, _ in self.events), timeout)
            return [p for n, p in self.events if n == name]


def _connected(base: str, token: str, path: str = "user") -> None:
    """Waits until the server holds the stream, so that nothing published next is missed."""
    with httpx.stream(
        "GET", f"{base}/api/v1/streaming/{path}", params={"access_token": token}, timeout=5
    ) as response:
        assert response.status_code == 200


def test_mastodon_py_stream_user_receives_updates_edits_retractions_and_alerts(
    asgi_server: str, bc: Broadcast
) -> None:
    base = f"{asgi_server}/broadcast/mastodon"
    resident = client_for(base, bc.resident_a.username)
    resident.account_follow(f"a{bc.police.pk}")
    listener = Listener()
    handle = resident.stream_user(listener, run_async=True, reconnect_async=False)
    try:
        _until_subscribed(bc, streaming.user_channel(bc.resident_a.pk))
        post = publish(bc, "实时：青山隧道恢复通行")
        written(
            services.post_publish,
            actor=bc.health_publisher,
            account=bc.health,
            text="未关注的账号",
            category="news",
        )
        [update] = listener.wait_for("update")
        assert update.id == str(post.pk)
        assert update.account.acct == "safe-qingshan"
        assert update.content == "<p>实时：青山隧道恢复通行</p>"

        written(
            services.post_edit, actor=bc.police_publisher, post_id=post.pk, text="隧道已恢复通行"
        )
        [edited] = listener.wait_for("status.update")
        assert edited.id == str(post.pk) and edited.content == "<p>隧道已恢复通行</p>"

        written(services.post_retract, actor=bc.police_publisher, post_id=post.pk)
        assert [str(i) for i in listener.wait_for("delete")] == [str(post.pk)]

        publish(
            bc,
            "东湖区大风预警",
            target_area_ids=[bc.city.district_a.pk],
            alert=services.AlertFields(
                category="Met",
                event="大风",
                urgency="Expected",
                severity="Moderate",
                certainty="Likely",
                expires=timezone.now() + dt.timedelta(hours=3),
            ),
        )
        [note] = listener.wait_for("notification")
        assert note.type == "status" and note.status.content == "<p>东湖区大风预警</p>"
        # The unfollowed account's post never came.
        assert [p.id for p in listener.wait_for("update")] == [str(post.pk), note.status.id]
    finally:
        handle.close()


def _until_subscribed(bc: Broadcast, channel: str, timeout: float = 10) -> None:
    """The client connects in the background: wait until a stream listens on `channel`."""
    deadline = time.monotonic() + timeout
    while channel not in streaming.bus().channels():
        assert time.monotonic() < deadline, f"no stream subscribed to {channel}"
        time.sleep(0.02)


def test_mastodon_py_stream_public_receives_every_accounts_posts(
    asgi_server: str, bc: Broadcast
) -> None:
    base = f"{asgi_server}/broadcast/mastodon"
    reader = client_for(base, bc.resident_b.username)
    listener = Listener()
    handle = reader.stream_public(listener, run_async=True, reconnect_async=False)
    try:
        _until_subscribed(bc, streaming.PUBLIC)
        first = publish(bc, "全市路况")
        second = written(
            services.post_publish,
            actor=bc.health_publisher,
            account=bc.health,
            text="接种通知",
            category="notice",
        )
        deadline = time.monotonic() + 5
        while len(listener.wait_for("update")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [s.id for s in listener.wait_for("update")] == [str(first.pk), str(second.pk)]
    finally:
        handle.close()


def test_public_streams_without_a_token_keep_no_thread_each_and_all_get_the_post(
    asgi_server: str, bc: Broadcast
) -> None:
    """Served beside Django's request cycle: under it each open stream kept a thread of its own
    for synchronous code, ten thousand threads for ten thousand readers."""
    _readers_keep_no_thread_and_get_the_post(bc, f"{asgi_server}/api/v1/streaming/public/local")


def test_a_token_on_the_public_stream_is_checked_as_it_opens_and_keeps_no_thread(
    asgi_server: str, bc: Broadcast
) -> None:
    """Mastodon's apps send their token with every stream: checked once (valid, read:statuses),
    the stream is then everyone's, with no thread of its own."""
    base = f"{asgi_server}/broadcast/mastodon"
    url = f"{base}/api/v1/streaming/public"
    refused = httpx.get(url, params={"access_token": "wrong"}, timeout=5)
    assert (refused.status_code, refused.json()) == (401, {"error": "The access token is invalid"})
    assert refused.headers["x-content-type-options"] == "nosniff"
    app_id, app_secret = Mastodon.create_app("writer", api_base_url=base, scopes=["write"])
    writer = Mastodon(client_id=app_id, client_secret=app_secret, api_base_url=base)
    writer.log_in(
        username=bc.resident_a.username, password=PASSWORD, scopes=["write"], allow_http=True
    )
    unread = httpx.get(url, headers={"Authorization": f"Bearer {writer.access_token}"}, timeout=5)
    assert unread.status_code == 403, "reading the stream needs read:statuses"
    token = str(client_for(base, bc.resident_a.username).access_token)
    _readers_keep_no_thread_and_get_the_post(bc, url, {"Authorization": f"Bearer {token}"})


def _readers_keep_no_thread_and_get_the_post(
    bc: Broadcast, url: str, headers: dict[str, str] | None = None
) -> None:
    readers = 12
    opened: list[int] = []
    got: list[dict[str, Any]] = []

    async def read() -> None:
        async with (
            httpx.AsyncClient(timeout=15) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            assert response.status_code == 200
            assert response.headers["content-type"] == "text/event-stream"
            lines = response.aiter_lines()
            assert await anext(lines) == ":)"
            opened.append(1)
            name = ""
            async for line in lines:
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: ") and name == "update":
                    got.append(json.loads(line[6:]))
                    return

    async def all_readers() -> None:
        await asyncio.wait_for(asyncio.gather(*(read() for _ in range(readers))), 20)

    threads_before = threading.active_count()
    reading = threading.Thread(target=asyncio.run, args=(all_readers(),), daemon=True)
    reading.start()
    deadline = time.monotonic() + 10
    while len(opened) < readers:
        assert time.monotonic() < deadline, f"{len(opened)} of {readers} streams opened"
        time.sleep(0.02)
    # Beside the readers' own thread: the process's thread for database reads and those
    # checking the streams as they open, however many streams.
    grown = threading.active_count() - threads_before - 1
    assert grown <= THREADS_BESIDE_STREAMS, f"{grown} more threads for {readers} open streams"
    publish(bc, "全市通知：地铁延长运营")
    reading.join(20)
    assert len(got) == readers
    assert {data["content"] for data in got} == {"<p>全市通知：地铁延长运营</p>"}


# What an answer says of its content, caching, cookies and transport, and the request's id: the
# rest of what Django sends on a page is its security headers.
_NOT_SECURITY = frozenset(
    {
        "cache-control",
        "connection",
        "content-language",
        "content-length",
        "content-type",
        "date",
        "expires",
        "server",
        "set-cookie",
        "transfer-encoding",
        "vary",
        "x-accel-buffering",
        "x-accel-expires",
        "x-request-id",
    }
)


def _security_headers(
    asgi_server: str, headers: dict[str, str]
) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """The security headers of an ordinary page (Django's answer), of the public stream and of
    its refusal of a bad token (both served beside Django)."""

    def security(answer: httpx.Response) -> dict[str, str]:
        return {k: v for k, v in answer.headers.items() if k not in _NOT_SECURITY}

    # The first page a fresh server renders can take seconds on a busy machine.
    page = httpx.get(f"{asgi_server}/accounts/login/", headers=headers, timeout=20)
    assert page.status_code == 200
    url = f"{asgi_server}/api/v1/streaming/public"
    with httpx.stream("GET", url, headers=headers, timeout=20) as stream:
        assert stream.headers["content-type"] == "text/event-stream"
        streamed = security(stream)
    refused = httpx.get(url, params={"access_token": "wrong"}, headers=headers, timeout=20)
    assert refused.status_code == 401
    return security(page), streamed, security(refused)


def test_the_public_stream_sends_the_security_headers_django_sends_on_a_page(
    asgi_server: str,
) -> None:
    page, streamed, refused = _security_headers(asgi_server, {})
    for name in ("x-content-type-options", "x-frame-options", "content-security-policy"):
        assert name in page, name
    assert streamed == page
    assert refused == page


@pytest.fixture
def https_and_other_policies(settings: Any) -> None:
    """Set before the server starts: Django's security middleware reads its settings once."""
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_REFERRER_POLICY = "no-referrer"
    settings.X_FRAME_OPTIONS = "SAMEORIGIN"


def test_the_public_stream_follows_the_security_settings_and_https(
    https_and_other_policies: None, asgi_server: str
) -> None:
    page, streamed, refused = _security_headers(asgi_server, {"X-Forwarded-Proto": "https"})
    assert page["strict-transport-security"] == "max-age=3600"
    assert (page["referrer-policy"], page["x-frame-options"]) == ("no-referrer", "SAMEORIGIN")
    assert streamed == page
    assert refused == page


@pytest.fixture
def https_redirect(settings: Any) -> None:
    """Set before the server starts: Django's security middleware reads its settings once."""
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


def test_a_stream_asked_for_over_http_is_sent_to_https_as_a_page_is(
    https_redirect: None, asgi_server: str
) -> None:
    for path in ("/api/v1/streaming/public", "/broadcast/stream/?account=x", "/donors/stream/"):
        page = httpx.get(f"{asgi_server}/accounts/login/", timeout=20)
        with httpx.stream("GET", f"{asgi_server}{path}", timeout=20) as answer:
            assert answer.status_code == page.status_code == 301, path
            assert answer.headers["location"].startswith("https://"), path
            assert answer.headers["location"].endswith(path), path
    secure = {"X-Forwarded-Proto": "https"}
    url = f"{asgi_server}/api/v1/streaming/public"
    with httpx.stream("GET", url, headers=secure, timeout=20) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"] == "text/event-stream"


def test_a_public_stream_for_a_host_django_refuses_is_refused(asgi_server: str) -> None:
    answer = httpx.get(
        f"{asgi_server}/api/v1/streaming/public", headers={"Host": "evil.example"}, timeout=5
    )
    assert answer.status_code == 400


def test_the_stream_sends_heartbeats_takes_the_token_as_a_parameter_and_refuses_a_bad_one(
    asgi_server: str, bc: Broadcast
) -> None:
    base = f"{asgi_server}/broadcast/mastodon"
    resident = client_for(base, bc.resident_a.username)
    url = f"{base}/api/v1/streaming/user"
    assert httpx.get(url, timeout=5).status_code == 401
    refused = httpx.get(url, params={"access_token": "wrong"}, timeout=5)
    assert (refused.status_code, refused.json()) == (401, {"error": "The access token is invalid"})
    app_id, app_secret = Mastodon.create_app("writer", api_base_url=base, scopes=["write"])
    writer = Mastodon(client_id=app_id, client_secret=app_secret, api_base_url=base)
    writer.log_in(
        username=bc.resident_a.username, password=PASSWORD, scopes=["write"], allow_http=True
    )
    unread = httpx.get(url, params={"access_token": str(writer.access_token)}, timeout=5)
    assert unread.status_code == 403, "reading the stream needs read:statuses"
    assert resident.stream_healthy()
    with httpx.stream(
        "GET", url, params={"access_token": str(resident.access_token)}, timeout=5
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        started = time.monotonic()
        beats = 0
        for line in response.iter_lines():
            beats += line == ":thump"
            if beats == 3:
                break
        # Three heartbeats of 0.2 s each: they come on time, not all at once at the end.
        assert 0.4 <= time.monotonic() - started < 3


# The pages' live feed -------------------------------------------------------------------------


def _events(lines: Iterator[str], name: str, count: int) -> list[dict[str, Any]]:
    """The data of the next `count` events called `name`, or fewer if 10 s pass first (the
    heartbeats keep the lines coming)."""
    found: list[dict[str, Any]] = []
    current = None
    deadline = time.monotonic() + 10
    for line in lines:
        if time.monotonic() > deadline:
            break
        if line.startswith("event: "):
            current = line[7:]
        elif line.startswith("data: ") and current == name:
            found.append(json.loads(line[6:]))
            if len(found) == count:
                return found
    return found


def test_the_home_feed_stream_sends_new_posts_of_followed_accounts_as_page_fragments(
    asgi_server: str, bc: Broadcast
) -> None:
    services.follow_create(actor=bc.resident_a, account_id=bc.police.pk)
    browser = Client()
    browser.force_login(bc.resident_a)
    cookies = {k: v.value for k, v in browser.cookies.items()}
    with httpx.stream(
        "GET",
        f"{asgi_server}/broadcast/stream/",
        cookies=cookies,
        headers={"Accept-Language": "en"},
        timeout=5,
    ) as response:
        assert response.status_code == 200
        _until_subscribed(bc, streaming.user_channel(bc.resident_a.pk))
        services.post_publish(
            actor=bc.health_publisher, account=bc.health, text="未关注", category="news"
        )
        post = publish(bc, "青山路口施工", text_en="Roadworks at Qingshan junction")
        lines = response.iter_lines()
        [new] = _events(lines, "post", 1)
        assert new["id"] == post.pk and new["live"] is True
        assert "青山路口施工" in new["html"] and "Reposts 0" in new["html"]
        services.repost_create(actor=bc.resident_b, post_id=post.pk)
        [changed] = _events(lines, "replace", 1)
        assert changed["id"] == post.pk and "Reposts 1" in changed["html"]


def test_signing_out_ends_the_home_feed_stream_after_a_follow_moved_it(
    asgi_server: str, bc: Broadcast
) -> None:
    """The home feed's stream checks the session once, as it opens; signing out ends it, also
    after a follow has changed the channels it listens on."""
    browser = Client()
    browser.force_login(bc.resident_a)
    session = session_channel(browser.session.session_key)
    assert session is not None
    cookies = {k: v.value for k, v in browser.cookies.items()}
    with httpx.stream(
        "GET", f"{asgi_server}/broadcast/stream/", cookies=cookies, timeout=20
    ) as response:
        assert response.status_code == 200
        _until_subscribed(bc, session)
        services.follow_create(actor=bc.resident_a, account_id=bc.police.pk)
        _until_subscribed(bc, streaming.account_channel(bc.police.pk))
        assert session in streaming.bus().channels()
        browser.logout()
        deadline = time.monotonic() + 20
        for _line in response.iter_lines():  # heartbeats until the stream ends
            assert time.monotonic() < deadline, "signing out did not end the stream"


def test_the_page_stream_needs_a_signed_in_person_or_an_account(
    asgi_server: str, bc: Broadcast
) -> None:
    assert httpx.get(f"{asgi_server}/broadcast/stream/", timeout=5).status_code == 204
    unknown = httpx.get(f"{asgi_server}/broadcast/stream/?account=nobody", timeout=5)
    assert unknown.status_code == 204
    with httpx.stream(
        "GET", f"{asgi_server}/broadcast/stream/", params={"account": "safe-qingshan"}, timeout=5
    ) as response:
        assert response.status_code == 200
        _until_subscribed(bc, streaming.account_channel(bc.police.pk))
        post = publish(bc, "公开页面也能实时更新")
        [new] = _events(response.iter_lines(), "post", 1)
        assert new["id"] == post.pk


def test_an_open_user_stream_follows_the_accounts_the_resident_follows_meanwhile(
    asgi_server: str, bc: Broadcast
) -> None:
    base = f"{asgi_server}/broadcast/mastodon"
    resident = client_for(base, bc.resident_a.username)
    listener = Listener()
    handle = resident.stream_user(listener, run_async=True, reconnect_async=False)
    try:
        _until_subscribed(bc, streaming.user_channel(bc.resident_a.pk))
        assert streaming.account_channel(bc.police.pk) not in streaming.bus().channels()
        resident.account_follow(f"a{bc.police.pk}")
        _until_subscribed(bc, streaming.account_channel(bc.police.pk))
        post = publish(bc, "关注之后的第一条")
        assert [s.id for s in listener.wait_for("update")] == [str(post.pk)]

        resident.account_unfollow(f"a{bc.police.pk}")
        deadline = time.monotonic() + 10
        while streaming.account_channel(bc.police.pk) in streaming.bus().channels():
            assert time.monotonic() < deadline, "the stream kept the unfollowed account"
            time.sleep(0.02)
        publish(bc, "取消关注之后")
        time.sleep(0.5)
        assert [s.id for s in listener.wait_for("update", timeout=0)] == [str(post.pk)]
    finally:
        handle.close()


# Many streams of a person each, one task for all of them ----------------------------------------


class Readers:
    """Streams read on an event loop of a thread of their own, each stream's events kept as
    (name, data) pairs, and whether the server ended it."""

    def __init__(self, streams: list[tuple[str, dict[str, Any]]]) -> None:
        self.got: list[list[tuple[str, str]]] = [[] for _ in streams]
        self.ended = [False] * len(streams)
        self.opened = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._main(streams),), daemon=True
        )
        self._thread.start()

    async def _read(self, n: int, url: str, options: dict[str, Any]) -> None:
        async with (
            httpx.AsyncClient(timeout=30) as client,
            client.stream("GET", url, **options) as response,
        ):
            assert response.status_code == 200
            lines = response.aiter_lines()
            assert await anext(lines) == ":)"
            self.opened += 1
            name = ""
            async for line in lines:
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    self.got[n].append((name, line[6:]))
        self.ended[n] = True

    async def _main(self, streams: list[tuple[str, dict[str, Any]]]) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        reading = [asyncio.create_task(self._read(n, *s)) for n, s in enumerate(streams)]
        await self._stop.wait()
        for task in reading:
            task.cancel()
        await asyncio.gather(*reading, return_exceptions=True)

    def until(self, condition: Any, what: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, what
            time.sleep(0.02)

    def named(self, n: int, name: str) -> list[str]:
        return [data for event, data in self.got[n] if event == name]

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def _update_ids(readers: Readers, n: int) -> list[int]:
    return [int(json.loads(data)["id"]) for data in readers.named(n, "update")]


def test_user_streams_keep_no_thread_each_and_each_person_gets_only_their_own(
    asgi_server: str, bc: Broadcast
) -> None:
    """Served beside Django's request cycle, like the public stream: under it each person's
    stream kept a thread of its own."""
    base = f"{asgi_server}/broadcast/mastodon"
    services.follow_create(actor=bc.resident_a, account_id=bc.police.pk)
    services.follow_create(actor=bc.resident_b, account_id=bc.health.pk)
    token_a = str(client_for(base, bc.resident_a.username).access_token)
    token_b = str(client_for(base, bc.resident_b.username).access_token)
    url = f"{base}/api/v1/streaming/user"
    per_person = 6
    streams = [(url, {"params": {"access_token": token_a}})] * per_person
    streams += [(url, {"headers": {"Authorization": f"Bearer {token_b}"}})] * per_person
    threads_before = threading.active_count()
    readers = Readers(streams)
    try:
        readers.until(lambda: readers.opened == 2 * per_person, "the streams did not open")
        # Beside the readers' own thread: the process's thread for database reads and those
        # checking the streams as they open, however many streams.
        grown = threading.active_count() - threads_before - 1
        assert grown <= THREADS_BESIDE_STREAMS, f"{grown} more threads for {len(streams)} streams"
        police_1 = publish(bc, "东湖交警：第一条")
        health_1 = written(
            services.post_publish,
            actor=bc.health_publisher,
            account=bc.health,
            text="卫健：第一条",
            category="news",
        )
        police_2 = publish(bc, "东湖交警：第二条")
        health_2 = written(
            services.post_publish,
            actor=bc.health_publisher,
            account=bc.health,
            text="卫健：第二条",
            category="news",
        )
        readers.until(
            lambda: (
                all(police_2.pk in _update_ids(readers, n) for n in range(per_person))
                and all(health_2.pk in _update_ids(readers, n) for n in range(per_person, 12))
            ),
            "not every stream got its person's posts",
        )
        for n in range(per_person):
            assert _update_ids(readers, n)[:2] == [police_1.pk, police_2.pk]
        for n in range(per_person, 2 * per_person):
            assert _update_ids(readers, n)[:2] == [health_1.pk, health_2.pk]
    finally:
        readers.close()


def _alert(bc: Broadcast, text: str) -> Any:
    return publish(
        bc,
        text,
        target_area_ids=[bc.city.district_a.pk],
        alert=services.AlertFields(
            category="Met",
            event="大风",
            urgency="Expected",
            severity="Moderate",
            certainty="Likely",
            expires=timezone.now() + dt.timedelta(hours=3),
        ),
    )


def _token(base: str, username: str, scopes: list[str]) -> str:
    app_id, app_secret = Mastodon.create_app("scoped", api_base_url=base, scopes=scopes)
    client = Mastodon(client_id=app_id, client_secret=app_secret, api_base_url=base)
    client.log_in(username=username, password=PASSWORD, scopes=scopes, allow_http=True)
    return str(client.access_token)


def test_notifications_reach_only_their_recipients_with_a_token_that_may_read_them(
    asgi_server: str, bc: Broadcast
) -> None:
    """Mastodon's scopes: the user stream needs read:statuses and carries notifications only
    for a token that may read them; user/notification needs read:notifications."""
    base = f"{asgi_server}/broadcast/mastodon"
    services.follow_create(actor=bc.resident_a, account_id=bc.police.pk)
    services.follow_create(actor=bc.resident_b, account_id=bc.police.pk)
    statuses_only = _token(base, bc.resident_a.username, ["read:statuses"])
    refused = httpx.get(
        f"{base}/api/v1/streaming/user/notification",
        params={"access_token": statuses_only},
        timeout=5,
    )
    assert (refused.status_code, refused.json()) == (403, {"error": OUTSIDE_SCOPES})
    full_a = str(client_for(base, bc.resident_a.username).access_token)
    full_b = str(client_for(base, bc.resident_b.username).access_token)
    user = f"{base}/api/v1/streaming/user"
    readers = Readers(
        [
            (user, {"params": {"access_token": full_a}}),
            (user, {"params": {"access_token": statuses_only}}),
            (f"{base}/api/v1/streaming/user/notification", {"params": {"access_token": full_a}}),
            (user, {"params": {"access_token": full_b}}),  # district B: not a recipient
        ]
    )
    try:
        readers.until(lambda: readers.opened == 4, "the streams did not open")
        alert = _alert(bc, "东湖区大风预警")
        readers.until(
            lambda: readers.named(0, "notification") and readers.named(2, "notification"),
            "the recipient's streams did not get the notification",
        )
        readers.until(
            lambda: all(alert.pk in _update_ids(readers, n) for n in (0, 1, 3)),
            "a follower's stream did not get the alert's status",
        )
        time.sleep(0.3)
        [note] = readers.named(0, "notification")
        assert json.loads(note)["status"]["id"] == str(alert.pk)
        assert readers.named(2, "notification") == [note]
        assert readers.named(2, "update") == []  # notifications only
        assert readers.named(1, "notification") == []  # the token may not read them
        assert readers.named(3, "notification") == []  # not a recipient
    finally:
        readers.close()


def test_revoking_a_token_ends_its_streams_and_no_other(asgi_server: str, bc: Broadcast) -> None:
    base = f"{asgi_server}/broadcast/mastodon"
    revoked_client = client_for(base, bc.resident_a.username)
    revoked = str(revoked_client.access_token)
    kept = str(client_for(base, bc.resident_a.username).access_token)
    url = f"{base}/api/v1/streaming/user"
    readers = Readers(
        [
            (url, {"params": {"access_token": revoked}}),
            (f"{url}/notification", {"params": {"access_token": revoked}}),
            (url, {"params": {"access_token": kept}}),
        ]
    )
    try:
        readers.until(lambda: readers.opened == 3, "the streams did not open")
        revoking = httpx.post(
            f"{base}/oauth/revoke",
            data={
                "client_id": revoked_client.client_id,
                "client_secret": revoked_client.client_secret,
                "token": revoked,
            },
            timeout=5,
        )
        assert revoking.status_code == 200
        readers.until(lambda: readers.ended[0] and readers.ended[1], "the streams went on")
        assert httpx.get(url, params={"access_token": revoked}, timeout=5).status_code == 401
        time.sleep(0.3)
        assert not readers.ended[2]
        services.follow_create(actor=bc.resident_a, account_id=bc.police.pk)
        _until_subscribed(bc, streaming.account_channel(bc.police.pk))
        post = publish(bc, "令牌撤销之后")
        readers.until(lambda: _update_ids(readers, 2) == [post.pk], "the other token's stream")
    finally:
        readers.close()


def test_home_feed_streams_keep_no_thread_each_and_show_the_readers_language(
    asgi_server: str, bc: Broadcast
) -> None:
    services.follow_create(actor=bc.resident_a, account_id=bc.police.pk)
    browser = Client()
    browser.force_login(bc.resident_a)
    cookies = {k: v.value for k, v in browser.cookies.items()}
    url = f"{asgi_server}/broadcast/stream/"
    streams = [(url, {"cookies": cookies, "headers": {"Accept-Language": "en"}})] * 5
    streams += [(url, {"cookies": cookies, "headers": {"Accept-Language": "zh-hans"}})] * 5
    threads_before = threading.active_count()
    readers = Readers(streams)
    try:
        readers.until(lambda: readers.opened == 10, "the streams did not open")
        grown = threading.active_count() - threads_before - 1
        assert grown <= THREADS_BESIDE_STREAMS, f"{grown} more threads for 10 open streams"
        post = publish(bc, "青山路口施工", text_en="Roadworks at Qingshan junction")
        readers.until(lambda: all(readers.named(n, "post") for n in range(10)), "no post")
        for n in range(10):
            [data] = readers.named(n, "post")
            html = json.loads(data)["html"]
            assert json.loads(data)["id"] == post.pk
            assert ("Reposts 0" in html) == (n < 5)
    finally:
        readers.close()
