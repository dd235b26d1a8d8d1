"""The Redis Streams consumer against a real Redis: entries are stored through the ingestion
service and acknowledged only after the batch is committed; a dead consumer's entries are
claimed; refused rows go to the dead-letter stream with the reason."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command

from civichub.wellbeing import readings_stream, services
from civichub.wellbeing.models import Reading
from civichub.wellbeing.readings_stream import ReadingsConsumer, reading_publish
from civichub.wellbeing.tests.test_ingest import at, homes, stored  # noqa: F401

pytestmark = pytest.mark.django_db

# Without REDIS_URL (the SQLite run, beside CI's PostgreSQL + Redis run on database 15) a
# Redis database number of its own, so that the two runs never share these keys.
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/12"


@pytest.fixture
def client() -> Any:
    import redis

    connection = redis.Redis.from_url(REDIS_URL)
    try:
        connection.ping()
    except redis.RedisError as exc:
        from conftest import require_service

        require_service("Redis", f"{REDIS_URL}: {exc}")
    return connection


@pytest.fixture
def stream(client: Any) -> Iterator[str]:
    """A stream key of this test's own, removed afterwards with its partitions and dead
    letters."""
    key = f"test:wellbeing:{uuid.uuid4().hex}"
    yield key
    names = list(client.scan_iter(match=f"{key}*"))
    if names:
        client.delete(*names)


def consumer(client: Any, streams: list[str], name: str, **options: Any) -> ReadingsConsumer:
    options.setdefault("block_ms", 50)
    return ReadingsConsumer(client, streams=streams, consumer=name, **options)


def pending(client: Any, stream: str) -> int:
    return int(client.xpending(stream, readings_stream.DEFAULT_GROUP)["pending"])


def test_entries_are_stored_acknowledged_and_refused_rows_dead_lettered(
    homes: dict[str, Any],  # noqa: F811
    client: Any,
    stream: str,
) -> None:
    reading_publish(client, meter_id="E-1", at=at(0), value=100.0, stream=stream)
    reading_publish(client, meter_id="E-1", at=at(30), value=100.5, stream=stream)
    unknown = reading_publish(client, meter_id="NOPE", at=at(30), value=1, stream=stream)
    reading_publish(client, meter_id="E-1", at=at(60), value=1.5, reset=True, stream=stream)
    report = consumer(client, [stream], "c1").run(max_batches=10)
    assert (report.accepted, report.dead_lettered) == (3, 1)
    assert stored("E-1") == [(100.0, 0.0, False), (100.5, 0.5, False), (1.5, 1.5, True)]
    assert pending(client, stream) == 0
    dead = client.xrange(stream + ":dead")
    assert len(dead) == 1
    fields = {k.decode(): v.decode() for k, v in dead[0][1].items()}
    assert fields["meter_id"] == "NOPE"
    assert fields["code"] == "unknown_meter"
    assert fields["error"]
    assert fields["entry"] == unknown


def test_a_failing_batch_is_not_acknowledged_and_is_stored_once_when_read_again(
    homes: dict[str, Any],  # noqa: F811
    client: Any,
    stream: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for step in range(4):
        reading_publish(client, meter_id="W-1", at=at(30 * step), value=0.01, stream=stream)
    working = services.readings_ingest

    def database_away(**kwargs: Any) -> Any:
        raise ConnectionError("the database is away")

    monkeypatch.setattr(services, "readings_ingest", database_away)
    with pytest.raises(ConnectionError):
        consumer(client, [stream], "c1").run(max_batches=1)
    assert pending(client, stream) == 4
    assert not Reading.objects.exists()
    monkeypatch.setattr(services, "readings_ingest", working)
    # The same consumer name, restarted, reads its own pending entries first.
    report = consumer(client, [stream], "c1").run(max_batches=5)
    assert report.accepted == 4
    assert pending(client, stream) == 0
    assert Reading.objects.count() == 4


def test_a_dead_consumers_entries_are_claimed_once_they_have_been_idle(
    homes: dict[str, Any],  # noqa: F811
    client: Any,
    stream: str,
) -> None:
    for step in range(3):
        reading_publish(client, meter_id="W-1", at=at(30 * step), value=0.02, stream=stream)
    # A wait far longer than the test first (a busy machine may take more than a fraction of
    # a second between two statements), then a short one once the entries have been idle.
    patient = consumer(client, [stream], "survivor", claim_idle_ms=60_000)
    patient.ensure_groups()
    # "dead" takes the entries and never acknowledges them.
    client.xreadgroup(readings_stream.DEFAULT_GROUP, "dead", {stream: ">"}, count=10)
    assert patient.run(max_batches=3).accepted == 0  # not idle long enough yet
    assert pending(client, stream) == 3
    time.sleep(0.3)
    survivor = consumer(client, [stream], "survivor", claim_idle_ms=200)
    report = survivor.run(max_batches=3)
    for _ in range(50):  # on a busy machine the claim may come a round or two later
        if report.claimed:
            break
        time.sleep(0.2)
        report = survivor.run(max_batches=3)
    assert (report.claimed, report.accepted) == (3, 3)
    assert pending(client, stream) == 0


def test_redelivered_entries_count_once(
    homes: dict[str, Any],  # noqa: F811
    client: Any,
    stream: str,
) -> None:
    """A consumer that died after its commit and before XACK: the entries come again."""
    for _ in range(2):
        reading_publish(client, meter_id="E-1", at=at(0), value=7.0, stream=stream)
        reading_publish(client, meter_id="E-1", at=at(30), value=7.25, stream=stream)
    report = consumer(client, [stream], "c1").run(max_batches=5)
    assert (report.accepted, report.duplicates, report.dead_lettered) == (2, 2, 0)
    assert stored("E-1") == [(7.0, 0.0, False), (7.25, 0.25, False)]


def test_partitions_keep_a_meters_readings_together_and_consumers_share_them(
    homes: dict[str, Any],  # noqa: F811
    client: Any,
    stream: str,
) -> None:
    partitions = 4
    meters = ["W-1", "W-2", "E-1", "E-2"]
    assert readings_stream.partition_of("W-1", partitions) == readings_stream.partition_of(
        "W-1", partitions
    )
    for step in range(5):
        for meter in meters:
            value = 0.01 if meter.startswith("W") else 10 + step
            reading_publish(
                client,
                meter_id=meter,
                at=at(30 * step),
                value=value,
                stream=stream,
                partitions=partitions,
            )
    for meter in meters:
        key = readings_stream.stream_key(
            stream, readings_stream.partition_of(meter, partitions), partitions
        )
        entries = client.xrange(key)
        assert sum(1 for _, fields in entries if fields[b"meter_id"] == meter.encode()) == 5
    keys = readings_stream.stream_keys(stream, partitions)
    first = consumer(client, keys[:2], "a").run(max_batches=10)
    second = consumer(client, keys[2:], "b").run(max_batches=10)
    assert first.accepted + second.accepted == 20
    assert Reading.objects.count() == 20


def test_the_consume_command_reads_the_partitions_it_is_given(
    homes: dict[str, Any],  # noqa: F811
    client: Any,
    stream: str,
    capsys: Any,
) -> None:
    reading_publish(client, meter_id="W-1", at=at(0), value=0.01, stream=stream, partitions=2)
    reading_publish(client, meter_id="W-2", at=at(0), value=0.01, stream=stream, partitions=2)
    call_command(
        "wellbeing",
        "consume",
        "--redis",
        REDIS_URL,
        "--stream",
        stream,
        "--partitions",
        "2",
        "--consumer",
        "cli",
        "--block-ms",
        "50",
        "--max-batches",
        "5",
    )
    out = capsys.readouterr().out
    assert "accepted: 2" in out
    assert Reading.objects.count() == 2


def test_an_entry_that_fails_again_and_again_is_set_aside_and_the_rest_goes_on(
    homes: dict[str, Any],  # noqa: F811
    client: Any,
    stream: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reading_publish(client, meter_id="W-1", at=at(0), value=0.01, stream=stream)
    working = services.readings_ingest

    def crashes(**kwargs: Any) -> Any:
        raise RuntimeError("a reading this code cannot handle")

    monkeypatch.setattr(services, "readings_ingest", crashes)
    for _ in range(2):  # delivered, then read again after a restart: twice, both failing
        with pytest.raises(RuntimeError):
            consumer(client, [stream], "c1", max_deliveries=2).run(max_batches=1)
    monkeypatch.setattr(services, "readings_ingest", working)
    reading_publish(client, meter_id="W-1", at=at(30), value=0.01, stream=stream)
    report = consumer(client, [stream], "c1", max_deliveries=2).run(max_batches=5)
    assert report.dead_lettered == 1
    assert report.dead_letters[0]["code"] == "undeliverable"
    assert report.accepted == 1  # the next entry
    assert pending(client, stream) == 0


def test_acknowledged_entries_are_trimmed_but_not_those_another_group_has_yet_to_read(
    homes: dict[str, Any],  # noqa: F811
    client: Any,
    stream: str,
) -> None:
    ids = [
        reading_publish(client, meter_id="W-1", at=at(30 * step), value=0.01, stream=stream)
        for step in range(4)
    ]
    # An archive group has read (and acknowledged) only the first two entries.
    client.xgroup_create(stream, "archive", id="0")
    read = client.xreadgroup("archive", "a", {stream: ">"}, count=2)
    client.xack(stream, "archive", *[entry_id for entry_id, _ in read[0][1]])
    report = consumer(client, [stream], "c1").run(max_batches=5)
    assert report.accepted == 4
    assert report.trimmed == 2
    assert [entry_id.decode() for entry_id, _ in client.xrange(stream)] == ids[2:]
    client.xgroup_destroy(stream, "archive")
    consumer(client, [stream], "c1").trim()
    assert client.xlen(stream) == 0
