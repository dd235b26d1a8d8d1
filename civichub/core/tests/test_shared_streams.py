"""Streams whose readers all get the same bytes: one subscription, one render and one pass over
the connections per event, no task per reader; a reader that stops reading holds up nobody
else, gets its events in order once it reads again, and is closed when too far behind."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest

from civichub.core import events
from civichub.core.events import LocalBus, shared

OPENED = b":)\n\n"
THUMP = b":thump\n\n"


class Connection:
    """What the ASGI server gives one request: `send` writes, `receive` waits for the client to
    go, and answers `http.disconnect` once the response has ended (as uvicorn does)."""

    def __init__(self, *, stalled: bool = False) -> None:
        loop = asyncio.get_running_loop()
        self.messages: list[dict[str, Any]] = []
        self.gone: asyncio.Future[None] = loop.create_future()
        self.reading: asyncio.Future[None] | None = loop.create_future() if stalled else None
        self.asked = False

    async def send(self, message: dict[str, Any]) -> None:
        if self.reading is not None and message.get("body") not in (None, OPENED):
            await self.reading  # the client stopped reading: the write waits for it
        self.messages.append(message)
        if message["type"] == "http.response.body" and not message["more_body"]:
            self.leave()

    async def receive(self) -> dict[str, Any]:
        if not self.asked:
            self.asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.shield(self.gone)
        return {"type": "http.disconnect"}

    def leave(self) -> None:
        if not self.gone.done():
            self.gone.set_result(None)

    def events(self) -> list[bytes]:
        return [
            m["body"]
            for m in self.messages
            if m["type"] == "http.response.body" and m["body"] not in (OPENED, THUMP)
        ]

    def ended(self) -> bool:
        return any(m["type"] == "http.response.body" and not m["more_body"] for m in self.messages)


async def until(condition: Callable[[], bool], timeout: float = 5) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    # On a thread of its own: an earlier test may leave an event loop running in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, scenario()).result()


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> LocalBus:
    the_bus = LocalBus()
    monkeypatch.setattr(shared, "bus", lambda: the_bus)
    monkeypatch.setattr(events.streams, "HEARTBEAT_SECONDS", 0.1)
    return the_bus


class Renders:
    def __init__(self) -> None:
        self.count = 0

    def renderer(self) -> Callable[[events.Event], Awaitable[bytes | None]]:
        async def render(event: events.Event) -> bytes | None:
            self.count += 1
            return f"event: {event.kind}\n\n".encode() if event.kind != "unsent" else None

        return render


SCOPE = {"type": "http", "method": "GET", "path": "/stream", "headers": []}


def opened(app: Any, connections: list[Connection]) -> list[asyncio.Task[None]]:
    loop = asyncio.get_running_loop()
    return [loop.create_task(app(dict(SCOPE), c.receive, c.send)) for c in connections]


def test_every_reader_gets_each_event_rendered_once_with_no_task_of_its_own(
    local: LocalBus,
) -> None:
    async def scenario() -> None:
        renders = Renders()
        app = shared.shared_sse_app("public", ["timeline:public"], renders.renderer)
        readers = [Connection() for _ in range(50)]
        requests = opened(app, readers)
        await until(lambda: all(OPENED in (m.get("body") for m in r.messages) for r in readers))
        # The readers' own request tasks, the shared stream's and this test's: nothing more.
        assert len(asyncio.all_tasks()) == len(readers) + 2
        for kind in ("first", "unsent", "second"):
            local.publish(["timeline:public"], events.Event(kind))
        await until(lambda: all(len(r.events()) == 2 for r in readers))
        assert {tuple(r.events()) for r in readers} == {(b"event: first\n\n", b"event: second\n\n")}
        assert renders.count == 3
        for reader in readers:
            reader.leave()
        await asyncio.gather(*requests)
        # Nobody reads any more: the stream unsubscribes.
        await until(lambda: not shared._shared and not local.channels())

    run(scenario)


def test_a_reader_that_stops_reading_holds_up_nobody_and_catches_up_in_order(
    local: LocalBus,
) -> None:
    async def scenario() -> None:
        app = shared.shared_sse_app("public", ["timeline:public"], Renders().renderer)
        slow, quick = Connection(stalled=True), Connection()
        requests = opened(app, [slow, quick])
        await until(lambda: len(shared._shared) == 1 and len(quick.messages) == 2)
        for kind in ("one", "two", "three"):
            local.publish(["timeline:public"], events.Event(kind))
        await until(lambda: len(quick.events()) == 3)
        assert slow.events() == []
        assert slow.reading is not None
        slow.reading.set_result(None)
        await until(lambda: len(slow.events()) == 3)
        assert slow.events() == quick.events()
        slow.leave()
        quick.leave()
        await asyncio.gather(*requests)

    run(scenario)


def test_a_reader_too_far_behind_is_closed(
    local: LocalBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared, "QUEUE_SIZE", 2)

    async def scenario() -> None:
        app = shared.shared_sse_app("public", ["timeline:public"], Renders().renderer)
        slow, quick = Connection(stalled=True), Connection()
        requests = opened(app, [slow, quick])
        await until(lambda: len(shared._shared) == 1 and len(quick.messages) == 2)
        for n in range(5):
            local.publish(["timeline:public"], events.Event(f"e{n}"))
        await until(lambda: len(quick.events()) == 5)
        assert slow.reading is not None
        slow.reading.set_result(None)
        await asyncio.wait_for(requests[0], 5)  # the slow reader's request has ended
        assert slow.ended() and len(slow.events()) < 5
        assert not quick.ended()
        quick.leave()
        await asyncio.gather(*requests)

    run(scenario)


def test_idle_readers_get_heartbeats_and_are_closed_at_the_streams_age(
    local: LocalBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events.streams, "STREAM_MAX_SECONDS", 0.6)

    async def scenario() -> None:
        app = shared.shared_sse_app("public", ["timeline:public"], Renders().renderer)
        reader = Connection()
        started = asyncio.get_running_loop().time()
        (request,) = opened(app, [reader])
        await asyncio.wait_for(request, 5)
        lasted = asyncio.get_running_loop().time() - started
        beats = [m for m in reader.messages if m.get("body") == THUMP]
        assert 0.6 <= lasted < 2 and len(beats) >= 3 and reader.ended()

    run(scenario)
