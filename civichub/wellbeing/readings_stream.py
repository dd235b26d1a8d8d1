"""Readings that utilities push, through Redis Streams: each entry is one reading with the
fields `meter_id`, `at` (ISO 8601), `value` (in the meter's enrolled unit; ingestion converts it)
and optionally `reset`.

The consumer reads with a consumer group (XREADGROUP), hands each batch to
`services.readings_ingest` and acknowledges the entries (XACK) only after that batch has been
committed, so a consumer that dies mid-batch loses nothing: its entries stay pending and are
claimed by another consumer once idle for a while (XAUTOCLAIM), or read again by the same
consumer name when it restarts. Delivery is therefore at least once, which is safe because
ingestion is idempotent (a reading sent twice counts once). Rows the service refuses go to a
dead-letter stream (`<stream>:dead`) with the entry's fields, its id and the reason (`code`
and `error`), then are acknowledged like the rest.

Partitioning: producers write a meter's readings to stream `<key>:<n>` with
n = crc32(meter_id) mod N (`partition_of`; a single stream when N is 1), so every reading of a
meter goes to one partition, in order. Each partition has its own consumer group; a consumer
process reads one or several partitions, and more consumers in the same group share a
partition's entries."""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from civichub.core.context import acting
from civichub.wellbeing import services

DEFAULT_STREAM = "civichub:wellbeing:readings"
DEFAULT_GROUP = "civichub-wellbeing"
DEAD_LETTER_SUFFIX = ":dead"
FIELDS = ("meter_id", "at", "value", "reset")

log = logging.getLogger(__name__)


def partition_of(meter_id: str, partitions: int) -> int:
    """The partition a meter's readings go to: stable across processes and machines (unlike
    Python's salted `hash`)."""
    return zlib.crc32(meter_id.encode("utf-8")) % partitions


def stream_key(base: str, partition: int, partitions: int) -> str:
    return base if partitions == 1 else f"{base}:{partition}"


def stream_keys(base: str, partitions: int, only: list[int] | None = None) -> list[str]:
    chosen = only if only else list(range(partitions))
    return [stream_key(base, n, partitions) for n in chosen]


def reading_publish(
    client: Any,
    *,
    meter_id: str,
    at: str,
    value: float | str,
    reset: bool = False,
    stream: str = DEFAULT_STREAM,
    partitions: int = 1,
) -> str:
    """What a producer does: one entry on the meter's partition. Returns the entry id."""
    key = stream_key(stream, partition_of(meter_id, partitions), partitions)
    entry = {"meter_id": meter_id, "at": at, "value": str(value), "reset": "1" if reset else "0"}
    return _text(client.xadd(key, entry))


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _order(entry_id: str) -> tuple[int, int]:
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence or 0)


def _row(fields: Mapping[Any, Any] | None) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in (fields or {}).items()}


@dataclass
class ConsumerReport:
    batches: int = 0
    entries: int = 0
    accepted: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    claimed: int = 0
    trimmed: int = 0
    dead_letters: list[dict[str, str]] = field(default_factory=list)


class ReadingsConsumer:
    """One consumer of a consumer group over one or more partition streams."""

    def __init__(
        self,
        client: Any,
        *,
        streams: list[str],
        group: str = DEFAULT_GROUP,
        consumer: str,
        batch: int = 1000,
        block_ms: int = 5000,
        claim_idle_ms: int = 60_000,
        max_deliveries: int = 10,
        trim_every: int = 100,
    ) -> None:
        self.client = client
        self.streams = streams
        self.group = group
        self.consumer = consumer
        self.batch = batch
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.max_deliveries = max_deliveries
        self.trim_every = trim_every
        self.report = ConsumerReport()
        # Entries this consumer name was given before a restart and never acknowledged.
        self._recovering = set(streams)

    def ensure_groups(self) -> None:
        for stream in self.streams:
            try:
                self.client.xgroup_create(stream, self.group, id="0", mkstream=True)
            except Exception as exc:  # the group exists already
                if "BUSYGROUP" not in str(exc):
                    raise

    def step(self) -> int:
        """One round: this consumer's own pending entries after a restart, then stale entries of
        other consumers, then new entries (waiting up to block_ms). Returns entries handled."""
        handled = 0
        for stream in sorted(self._recovering):
            reply = self.client.xreadgroup(
                self.group, self.consumer, {stream: "0"}, count=self.batch
            )
            entries = reply[0][1] if reply else []
            if not entries:
                self._recovering.discard(stream)
                continue
            handled += self._handle(stream, entries, redelivered=True)
        if handled:
            return handled
        for stream in self.streams:
            claimed = self.client.xautoclaim(
                stream, self.group, self.consumer, self.claim_idle_ms, "0-0", count=self.batch
            )
            entries = claimed[1] if claimed else []
            if entries:
                self.report.claimed += len(entries)
                handled += self._handle(stream, entries, redelivered=True)
        if handled:
            return handled
        reply = self.client.xreadgroup(
            self.group,
            self.consumer,
            dict.fromkeys(self.streams, ">"),
            count=self.batch,
            block=self.block_ms,
        )
        for stream, entries in reply or []:
            handled += self._handle(_text(stream), entries)
        return handled

    def run(
        self,
        *,
        max_batches: int | None = None,
        stop: Callable[[], bool] = lambda: False,
        retry_after: float | None = None,
    ) -> ConsumerReport:
        """Consumes until `stop()` says so (between batches) or after max_batches batches, or,
        with max_batches, when a round finds nothing. A failing batch (the database away, say)
        is not acknowledged; with `retry_after` the consumer waits that many seconds and reads
        its pending entries again, otherwise the error propagates."""
        self.ensure_groups()
        while not stop():
            try:
                handled = self.step()
            except Exception:
                if retry_after is None:
                    raise
                log.exception("stream batch failed; its entries stay pending")
                time.sleep(retry_after)
                self._recovering = set(self.streams)
                continue
            if not handled or self.report.batches % self.trim_every == 0:
                self.trim()
            if max_batches is not None and (self.report.batches >= max_batches or not handled):
                break
        return self.report

    def trim(self) -> int:
        """Deletes from each stream the entries every consumer group has read and acknowledged
        (XTRIM MINID), so that the streams do not grow for ever. Returns entries deleted."""
        deleted = 0
        for stream in self.streams:
            keep: tuple[int, int] | None = None
            for group in self.client.xinfo_groups(stream):
                name = _text(group["name"])
                # The next entry the group has not read, or its oldest unacknowledged one.
                last = _order(_text(group["last-delivered-id"]))
                candidates = [(last[0], last[1] + 1)]
                oldest = self.client.xpending(stream, name)["min"]
                if oldest is not None:
                    candidates.append(_order(_text(oldest)))
                floor = min(candidates)
                keep = floor if keep is None else min(keep, floor)
            if keep is not None and keep > (0, 0):
                deleted += int(
                    self.client.xtrim(stream, minid=f"{keep[0]}-{keep[1]}", approximate=False)
                )
        self.report.trimmed += deleted
        return deleted

    def _delivered(self, stream: str, ids: list[str]) -> dict[str, int]:
        """How many times each of these pending entries has been delivered."""
        first, last = min(ids, key=_order), max(ids, key=_order)
        pending = self.client.xpending_range(
            stream, self.group, min=first, max=last, count=len(ids)
        )
        return {_text(p["message_id"]): int(p["times_delivered"]) for p in pending}

    def _handle(
        self, stream: str, entries: list[tuple[Any, Any]], redelivered: bool = False
    ) -> int:
        ids = [_text(entry_id) for entry_id, _ in entries]
        rows = [_row(fields) for _, fields in entries]
        refused: list[tuple[int, str, str]] = []
        if redelivered:
            # An entry whose batch failed again and again is set aside, so that it cannot
            # hold up the rest of the stream for ever.
            delivered = self._delivered(stream, ids)
            for index, entry_id in enumerate(ids):
                times = delivered.get(entry_id, 0)
                if rows[index] and times > self.max_deliveries:
                    refused.append(
                        (index, "undeliverable", f"delivered {times} times, never stored")
                    )
        # Entries deleted from the stream while pending come back without fields.
        set_aside = {index for index, _, _ in refused}
        live = [i for i, row in enumerate(rows) if row and i not in set_aside]
        started = time.perf_counter()
        if live:
            with acting(channel="stream"):
                result = services.readings_ingest(actor=None, rows=[rows[i] for i in live])
            # readings_ingest has committed: only now may the entries be acknowledged.
            self.report.accepted += result.accepted
            self.report.duplicates += result.duplicates
            refused += [
                (live[int(e["row"])], str(e["code"]), str(e["error"])) for e in result.errors
            ]
        pipe = self.client.pipeline(transaction=True)
        for index, code, error in refused:
            letter = {
                **{name: rows[index].get(name, "") for name in FIELDS},
                "entry": ids[index],
                "stream": stream,
                "code": code,
                "error": error,
            }
            pipe.xadd(stream + DEAD_LETTER_SUFFIX, letter)
            self.report.dead_letters.append(letter)
        pipe.xack(stream, self.group, *ids)
        pipe.execute()
        self.report.batches += 1
        self.report.entries += len(ids)
        self.report.dead_lettered += len(refused)
        log.info(
            "stream %s: %d entries, %d refused, %.3f s",
            stream,
            len(ids),
            len(refused),
            time.perf_counter() - started,
        )
        return len(ids)
