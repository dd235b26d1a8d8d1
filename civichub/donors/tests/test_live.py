"""The request board's live updates: services announce a changed request after commit (ids
only), and the stream, served by uvicorn as `civichub serve` does, delivers `changed` to staff
who may see the request and to no one else."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.test import Client

from civichub.core import events
from civichub.core import services as core_services
from civichub.core.events import publishing
from civichub.core.http import session_channel
from civichub.core.models import RoleAssignment
from civichub.donors import live, services
from civichub.testing.servers import uvicorn_in_thread

# Threads a process may start for its streams, however many: the one for database reads and
# those checking the streams as they open.
THREADS_BESIDE_STREAMS = 1 + events.streams.OPENING_THREADS

# How long a stream may take to open or a change to arrive: streams open through a few shared
# threads that wait on the database, which on a machine running several test suites at once
# has taken more than 10 seconds for six.
OPENING_SECONDS = 60


def _published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], Any]]:
    sent: list[tuple[list[str], Any]] = []
    monkeypatch.setattr(publishing, "publish_now", lambda c, e: sent.append((list(c), e)))
    return sent


@pytest.mark.django_db
def test_a_change_is_announced_after_commit_with_ids_only(
    make_donor: Any,
    make_request: Any,
    staff: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    make_donor()
    sent = _published(monkeypatch)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        request = make_request(units=1)
    assert sent == []  # nothing before the commit
    for callback in callbacks:
        callback()
    channels, event = sent[0]
    assert channels == [live.BOARD, live.request_channel(request.pk)]
    assert event.kind == live.CHANGED and event.request_id == request.pk
    assert set(vars(event)) == {"kind", "request_id", "id"}  # no donor's data
    with django_capture_on_commit_callbacks(execute=True):
        services.call_up_wave(request_id=request.pk)
    assert sent[-1][1].request_id == request.pk


@pytest.mark.django_db
def test_without_an_asgi_server_the_stream_says_no_content(staff: Any) -> None:
    client = Client()
    client.force_login(staff["hospital"])
    assert client.get("/donors/stream/").status_code == 204
    html = client.get("/donors/").content.decode()
    assert 'data-live-stream="/donors/stream/"' in html and "donors/live.js" in html


@pytest.fixture
def asgi_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(events.streams, "HEARTBEAT_SECONDS", 0.2)
    with uvicorn_in_thread() as base:
        yield base


def _cookies(user: Any) -> dict[str, str]:
    client = Client()
    client.force_login(user)
    return {name: morsel.value for name, morsel in client.cookies.items()}


@pytest.mark.django_db(transaction=True)
def test_the_request_stream_delivers_changes_to_its_hospital_only(
    asgi_server: str, make_donor: Any, make_request: Any, staff: Any, make_user: Any, city: Any
) -> None:
    make_donor()
    request = make_request(units=1)
    path = f"/donors/requests/{request.pk}/stream/"
    outsider = make_user("hospital_staff", city.district_b)
    with httpx.Client(
        base_url=asgi_server, timeout=OPENING_SECONDS, cookies=_cookies(outsider)
    ) as http:
        assert http.get(path).status_code == 204
    with httpx.Client(base_url=asgi_server, timeout=10) as http:
        assert http.get(path).status_code == 204  # not signed in
    cookies = _cookies(staff["hospital"])
    with (
        httpx.Client(base_url=asgi_server, timeout=OPENING_SECONDS, cookies=cookies) as http,
        http.stream("GET", path) as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines) == ":)"  # subscribed
        deadline = time.monotonic() + OPENING_SECONDS
        while live.request_channel(request.pk) not in events.bus().channels():
            assert time.monotonic() < deadline, "the stream did not subscribe"
            time.sleep(0.02)
        services.call_up_wave(request_id=request.pk)
        seen = []
        for line in lines:
            seen.append(line)
            if line.startswith("data:"):
                break
        assert "event: changed" in seen
        assert seen[-1] == f'data: {{"request": {request.pk}}}'


@pytest.mark.django_db(transaction=True)
def test_board_streams_keep_no_thread_each_and_end_when_the_board_is_withdrawn(
    asgi_server: str, make_donor: Any, make_request: Any, staff: Any, make_user: Any, hospital: Any
) -> None:
    """Served beside Django's request cycle, one task for every stream of the process: under it
    each stream kept a thread. The person's permission is checked again with every change."""
    make_donor()
    request = make_request(units=1)
    withdrawn, kept = staff["hospital"], make_user("hospital_staff", hospital)
    opened: list[int] = []
    ended = [False] * 6
    changed: list[list[str]] = [[] for _ in range(6)]
    stopping: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def read(n: int, cookies: dict[str, str]) -> None:
        async with (
            httpx.AsyncClient(
                base_url=asgi_server, timeout=OPENING_SECONDS, cookies=cookies
            ) as http,
            http.stream("GET", "/donors/stream/") as stream,
        ):
            assert stream.status_code == 200
            lines = stream.aiter_lines()
            assert await anext(lines) == ":)"
            opened.append(n)
            async for line in lines:
                if line.startswith("data:"):
                    changed[n].append(line)
        ended[n] = True

    async def all_streams() -> None:
        stop = asyncio.Event()
        stopping.append((asyncio.get_running_loop(), stop))
        reading = [asyncio.create_task(read(n, c)) for n, c in enumerate(sessions)]
        await stop.wait()
        for task in reading:
            task.cancel()
        await asyncio.gather(*reading, return_exceptions=True)

    # Signed in here, not in the readers' thread: there each task would take a database
    # connection of its own and keep it when the thread ends.
    sessions = [_cookies(user) for user in [withdrawn] * 5 + [kept]]
    threads_before = threading.active_count()
    reading = threading.Thread(target=asyncio.run, args=(all_streams(),), daemon=True)
    reading.start()
    try:
        deadline = time.monotonic() + OPENING_SECONDS
        while len(opened) < 6:
            assert time.monotonic() < deadline, f"{len(opened)} of 6 streams opened"
            time.sleep(0.02)
        # Beside the readers' own thread: the process's thread for database reads and those
        # checking the streams as they open, however many streams.
        grown = threading.active_count() - threads_before - 1
        assert grown <= THREADS_BESIDE_STREAMS, f"{grown} more threads for 6 open streams"
        assignment = RoleAssignment.objects.get(user=withdrawn, role="hospital_staff")
        core_services.role_revoke(actor=None, assignment=assignment)
        services.call_up_wave(request_id=request.pk)
        deadline = time.monotonic() + OPENING_SECONDS
        while not (all(ended[:5]) and changed[5]):
            assert time.monotonic() < deadline, (ended, changed)
            time.sleep(0.02)
        assert changed[:5] == [[]] * 5, "nothing reaches a person no longer allowed"
        assert changed[5] == [f'data: {{"request": {request.pk}}}']
        assert not ended[5]
        with httpx.Client(
            base_url=asgi_server, timeout=OPENING_SECONDS, cookies=_cookies(withdrawn)
        ) as http:
            assert http.get("/donors/stream/").status_code == 204
    finally:
        if stopping:
            loop, stop = stopping[0]
            loop.call_soon_threadsafe(stop.set)
        reading.join(OPENING_SECONDS)


@pytest.mark.django_db(transaction=True)
def test_signing_out_ends_that_sessions_streams_and_no_other(
    asgi_server: str, make_donor: Any, make_request: Any, staff: Any
) -> None:
    """A stream checks the session once, as it opens: signing out (on this device) must still
    end it, and only it: the same person signed in on another device keeps theirs."""
    make_donor()
    request = make_request(units=1)
    leaving, staying = Client(), Client()
    for client in (leaving, staying):
        client.force_login(staff["hospital"])
    channel = session_channel(leaving.session.session_key)
    assert channel is not None and channel != session_channel(staying.session.session_key)

    def cookies(client: Client) -> dict[str, str]:
        return {name: morsel.value for name, morsel in client.cookies.items()}

    with (
        httpx.Client(base_url=asgi_server, timeout=OPENING_SECONDS) as http,
        http.stream("GET", "/donors/stream/", cookies=cookies(staying)) as kept,
        http.stream("GET", "/donors/stream/", cookies=cookies(leaving)) as ended,
    ):
        kept_lines, ended_lines = kept.iter_lines(), ended.iter_lines()
        assert next(kept_lines) == ":)" and next(ended_lines) == ":)"
        deadline = time.monotonic() + OPENING_SECONDS
        while channel not in events.bus().channels():
            assert time.monotonic() < deadline, "the stream did not listen on its session"
            time.sleep(0.02)
        leaving.logout()
        deadline = time.monotonic() + OPENING_SECONDS
        for _line in ended_lines:  # heartbeats every 0.2 s until the stream ends
            assert time.monotonic() < deadline, "signing out did not end the session's stream"
        services.call_up_wave(request_id=request.pk)
        for line in kept_lines:
            assert time.monotonic() < deadline, "the other session's stream ended or got nothing"
            if line.startswith("data:"):
                assert line == f'data: {{"request": {request.pk}}}'
                break
        else:
            raise AssertionError("the other session's stream ended")
