"""The event bus without Redis: the processes of one machine reach each other through Unix
datagram sockets, and a publication lists the socket directory only when it changed."""

from __future__ import annotations

import concurrent.futures
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from civichub.core import events
from civichub.core.events import MachineBus


class Peer:
    """A process listening in the bus's directory, as `MachineBus._listen` would bind it."""

    def __init__(self, directory: Path, name: str) -> None:
        self.path = directory / f"{name}.sock"
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(self.path))
        self.socket.settimeout(2)

    def received(self) -> events.Event:
        message = json.loads(self.socket.recv(65536))
        return events.Event.decode(message["event"])

    def close(self) -> None:
        self.socket.close()
        self.path.unlink(missing_ok=True)


@pytest.fixture
def directory() -> Iterator[Path]:
    # Short: a socket's path is limited to about 100 bytes.
    path = Path("/tmp") / f"civichub-test-bus-{os.getpid()}"  # noqa: S108
    path.mkdir(mode=0o700)
    yield path
    for entry in path.iterdir():
        entry.unlink()
    path.rmdir()


def _settle(directory: Path) -> None:
    """Makes the directory look unchanged for a while (as it is between processes starting)."""
    past = time.time() - 10
    os.utime(directory, (past, past))


def test_machine_bus_lists_its_directory_only_when_it_changes(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = MachineBus(directory)
    listings: list[list[str]] = []
    list_peers = bus._list_peers

    def counted() -> list[str]:
        listings.append(list_peers())
        return listings[-1]

    monkeypatch.setattr(bus, "_list_peers", counted)
    first = Peer(directory, "1")
    _settle(directory)
    try:
        kinds = []
        for n in range(50):
            bus.publish(["a"], events.Event(f"e{n}"))
            kinds.append(first.received().kind)
        assert kinds == [f"e{n}" for n in range(50)]
        assert len(listings) == 1

        # A process that starts listening changes the directory: the next event reaches it.
        second = Peer(directory, "2")
        bus.publish(["a"], events.Event("after"))
        assert first.received().kind == second.received().kind == "after"
        assert len(listings) == 2

        # A process that went away without removing its socket: the failed send lists again.
        second.socket.close()
        _settle(directory)
        bus.publish(["a"], events.Event("gone"))
        assert first.received().kind == "gone"
        assert not second.path.exists()
        bus.publish(["a"], events.Event("later"))
        assert first.received().kind == "later"
        assert len(listings) == 4
    finally:
        first.close()


def test_an_event_of_a_module_comes_back_as_its_own_class() -> None:
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Parcel(events.Event, topic="test.parcel"):
        parcel_id: int | None = None

    sent = Parcel("arrived", parcel_id=7)
    received = events.Event.decode(sent.encode())
    assert isinstance(received, Parcel)
    assert (received.kind, received.parcel_id, received.id) == ("arrived", 7, sent.id)
    with pytest.raises(ValueError, match="topic"):
        events.Event.decode(json.dumps({"type": "nobody", "kind": "x"}))


def test_naming_the_redis_channels_from_many_streams_makes_no_database_connection_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each open stream runs in its own asynchronous context, where Django's `connection` is a
    new database wrapper: a dozen objects per stream, kept for the stream's hour."""
    import asyncio
    import threading

    from django.db import connections

    made: list[str] = []
    create = connections.create_connection

    def counted(alias: str) -> object:
        made.append(alias)
        return create(alias)

    monkeypatch.setattr(connections, "create_connection", counted)

    async def streams() -> set[str]:
        async def one() -> str:
            return events.redis_prefix()

        return set(await asyncio.gather(*(asyncio.create_task(one()) for _ in range(5))))

    found: list[set[str]] = []
    # A thread of its own: a fresh context, as the server's streams have.
    reader = threading.Thread(target=lambda: found.append(asyncio.run(streams())))
    reader.start()
    reader.join(10)
    assert len(found) == 1 and len(found[0]) == 1
    assert made == []


def test_a_wide_fan_out_holds_the_garbage_collector_off_while_its_streams_send() -> None:
    """Otherwise the short-lived objects of ten thousand streams' steps set off full collections
    of everything the open streams keep, mid-delivery: seconds of pause."""
    import asyncio
    import gc

    from civichub.core.events import Fanout, Subscription
    from civichub.core.events.bus import HOLD_COLLECTOR_FROM

    async def deliver() -> tuple[bool, bool, int]:
        loop = asyncio.get_running_loop()
        fanout = Fanout()
        streams = [Subscription(["timeline:public"], loop) for _ in range(HOLD_COLLECTOR_FROM)]
        for stream in streams:
            fanout.add(stream, stream.channels)
        fanout.deliver(["timeline:public"], events.Event("update"))
        held = not gc.isenabled()
        await asyncio.sleep(HOLD_COLLECTOR_FROM * 0.0002 + 0.3)
        got = sum(1 for s in streams if s.pending)
        return held, gc.isenabled(), got

    assert gc.isenabled()
    # On a thread of its own: an earlier test in the same run may leave an event loop running
    # in this one (asyncio.run refuses to start inside it).
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        held, enabled_after, got = pool.submit(asyncio.run, deliver()).result()
    assert (held, enabled_after, got) == (True, True, HOLD_COLLECTOR_FROM)
