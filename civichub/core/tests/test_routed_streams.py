"""Streams whose readers each have their own channels, served like the shared ones: one
subscription and one task per event loop, no task per reader; each reader gets only the events
of its channels, once, rendered by its module for every reader it reaches at once; a revoked
token's streams end; a reader's channels change while it reads."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from civichub.core import events
from civichub.core.events import LocalBus, routed
from civichub.core.events.shared import Reader
from civichub.core.tests.test_shared_streams import OPENED, THUMP, Connection, run, until


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> LocalBus:
    the_bus = LocalBus()
    monkeypatch.setattr(routed, "bus", lambda: the_bus)
    monkeypatch.setattr(events.streams, "HEARTBEAT_SECONDS", 0.1)
    return the_bus


class Greetings(routed.Audience):
    """Renders an event once per language for all the readers it reaches; `move:<channel>`
    moves its readers to that channel; `hold` is sent at the next flush."""

    calls: list[tuple[str, int]] = []

    def __init__(self) -> None:
        self.held: list[Reader] = []

    async def render(
        self, streams: routed.RoutedStreams, event: events.Event, readers: list[Reader]
    ) -> list[tuple[Reader, bytes]]:
        Greetings.calls.append((event.kind, len(readers)))
        if event.kind.startswith("move:"):
            for reader in readers:
                await streams.move(reader, [event.kind.removeprefix("move:")])
            return []
        if event.kind == "hold":
            self.held += readers
            return []
        by_language = {
            language: f"event: {event.kind}\ndata: {language}\n\n".encode()
            for language in {r.context for r in readers}
        }
        return [(r, by_language[r.context]) for r in readers]

    async def flush(self, streams: routed.RoutedStreams) -> list[tuple[Reader, bytes]]:
        held, self.held = self.held, []
        return [(r, b"event: held\n\n") for r in held]


# as a server gives it: the security headers follow the path and scheme
SCOPE = {"type": "http", "method": "GET", "path": "/stream", "headers": []}


def opened(connections: dict[str, tuple[Connection, list[str], str]]) -> list[asyncio.Task[None]]:
    loop = asyncio.get_running_loop()
    apps: list[Any] = [
        (routed.routed_sse_app("test", Greetings, channels, language), connection)
        for connection, channels, language in connections.values()
    ]
    return [
        loop.create_task(app(SCOPE, connection.receive, connection.send))
        for app, connection in apps
    ]


def started(connection: Connection) -> bool:
    return OPENED in (m.get("body") for m in connection.messages)


def test_each_reader_gets_its_own_channels_events_once_with_no_task_of_its_own(
    local: LocalBus,
) -> None:
    Greetings.calls = []

    async def scenario() -> None:
        people = {
            f"p{n}": (Connection(), [f"user:{n}", f"area:{n % 2}"], "en" if n % 3 else "zh")
            for n in range(30)
        }
        requests = opened(people)
        await until(lambda: all(started(c) for c, _, _ in people.values()))
        # The readers' own request tasks, the streams' one task and this test's: nothing more.
        assert len(asyncio.all_tasks()) == len(people) + 2
        assert local.channels() == {f"user:{n}" for n in range(30)} | {"area:0", "area:1"}
        local.publish(["user:7"], events.Event("mine"))
        # Published to both areas: reaches everyone once, rendered in one call for all.
        local.publish(["area:0", "area:1"], events.Event("alert"))
        await until(lambda: all(len(c.events()) >= 1 for c, _, _ in people.values()))
        await until(lambda: len(people["p7"][0].events()) == 2)
        for name, (connection, _, language) in people.items():
            expected = [f"event: alert\ndata: {language}\n\n".encode()]
            if name == "p7":
                expected.insert(0, f"event: mine\ndata: {language}\n\n".encode())
            assert connection.events() == expected
        assert Greetings.calls == [("mine", 1), ("alert", 30)]
        for connection, _, _ in people.values():
            connection.leave()
        await asyncio.gather(*requests)
        await until(lambda: not routed._routed and not local.channels())

    run(scenario)


def test_an_event_coming_again_through_another_channel_reaches_nobody_twice(
    local: LocalBus,
) -> None:
    """Redis sends an event published to two channels once per channel."""
    Greetings.calls = []

    async def scenario() -> None:
        both, one = Connection(), Connection()
        requests = opened(
            {"both": (both, ["area:1", "area:2"], "en"), "one": (one, ["area:2"], "en")}
        )
        await until(lambda: started(both) and started(one))
        event = events.Event("alert")
        local.publish(["area:1"], event)
        local.publish(["area:2"], event)
        await until(lambda: len(one.events()) == 1)
        await asyncio.sleep(0.2)
        assert both.events() == one.events() == [b"event: alert\ndata: en\n\n"]
        both.leave()
        one.leave()
        await asyncio.gather(*requests)

    run(scenario)


def test_the_end_of_a_credential_ends_its_streams_only(local: LocalBus) -> None:
    async def scenario() -> None:
        revoked, kept = Connection(), Connection()
        requests = opened(
            {
                "revoked": (revoked, ["user:1", events.credential_channel("a" * 64)], "en"),
                "kept": (kept, ["user:1", events.credential_channel("b" * 64)], "en"),
            }
        )
        await until(lambda: started(revoked) and started(kept))
        local.publish([events.credential_channel("a" * 64)], events.Event(events.STREAM_END))
        await asyncio.wait_for(requests[0], 5)
        assert revoked.ended() and not kept.ended()
        local.publish(["user:1"], events.Event("after"))
        await until(lambda: len(kept.events()) == 1)
        assert revoked.events() == [b""]  # only the end of the response
        kept.leave()
        await asyncio.gather(*requests)

    run(scenario)


def test_a_reader_moves_to_other_channels_and_the_old_are_unsubscribed(local: LocalBus) -> None:
    async def scenario() -> None:
        mover, stayer = Connection(), Connection()
        requests = opened(
            {
                "mover": (mover, ["user:1", "timeline:account:5"], "en"),
                "stayer": (stayer, ["user:2"], "en"),
            }
        )
        await until(lambda: started(mover) and started(stayer))
        local.publish(["user:1"], events.Event("move:timeline:account:6"))
        await until(lambda: "timeline:account:6" in local.channels())
        # What nobody reads any more is left at once.
        assert local.channels() == {"timeline:account:6", "user:2"}
        local.publish(["timeline:account:5"], events.Event("old"))
        local.publish(["timeline:account:6"], events.Event("new"))
        await until(lambda: len(mover.events()) == 1)
        assert mover.events() == [b"event: new\ndata: en\n\n"] and stayer.events() == []
        mover.leave()
        await asyncio.wait_for(requests[0], 5)
        # A reader leaving is unsubscribed at the next tick, with any others leaving then.
        await until(lambda: local.channels() == {"user:2"})
        stayer.leave()
        await asyncio.gather(*requests)

    run(scenario)


def test_what_an_audience_holds_back_is_flushed_and_readers_get_heartbeats(
    local: LocalBus,
) -> None:
    async def scenario() -> None:
        reader = Connection()
        requests = opened({"reader": (reader, ["user:1"], "en")})
        await until(lambda: started(reader))
        local.publish(["user:1"], events.Event("hold"))
        await until(lambda: reader.events() == [b"event: held\n\n"])
        await until(lambda: sum(m.get("body") == THUMP for m in reader.messages) >= 2)
        reader.leave()
        await asyncio.gather(*requests)

    run(scenario)


def test_a_stalled_reader_holds_up_nobody(local: LocalBus) -> None:
    async def scenario() -> None:
        slow, quick = Connection(stalled=True), Connection()
        requests = opened({"slow": (slow, ["area:1"], "en"), "quick": (quick, ["area:1"], "en")})
        await until(lambda: started(slow) and started(quick))
        for kind in ("one", "two"):
            local.publish(["area:1"], events.Event(kind))
        await until(lambda: len(quick.events()) == 2)
        assert slow.events() == []
        assert slow.reading is not None
        slow.reading.set_result(None)
        await until(lambda: slow.events() == quick.events())
        slow.leave()
        quick.leave()
        await asyncio.gather(*requests)

    run(scenario)
