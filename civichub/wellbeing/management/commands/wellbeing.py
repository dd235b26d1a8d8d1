"""`civichub wellbeing import FILE`: meter readings from a CSV or Parquet file (columns
`meter_id`, `at`, `value` in the meter's enrolled unit, and optionally `reset`), read and sent in
batches with a progress bar on stderr and one line per refused row on stdout (optionally also
written to a CSV file of rejects with the reason).

`civichub wellbeing consume`: the Redis Streams consumer (`civichub.wellbeing.readings_stream`).

`civichub wellbeing retention`: the retention policy now (it also runs hourly in the worker)."""

from __future__ import annotations

import csv
import os
import signal
import socket
import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

import redis as redis_client
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from civichub.core.context import acting
from civichub.wellbeing import readings_stream, services

BATCH = 5000
COLUMNS = ("meter_id", "at", "value")


class Writer(Protocol):
    def write(self, text: str) -> Any: ...


class Batch:
    """Rows to send and, for each, where it came from in the file (a line or row number)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.places: list[int] = []


def csv_batches(path: Path, size: int) -> Iterator[Batch]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = set(COLUMNS) - set(reader.fieldnames or [])
        if missing:
            raise CommandError(f"missing columns: {', '.join(sorted(missing))}")
        batch = Batch()
        for row in reader:
            batch.rows.append(row)
            batch.places.append(reader.line_num)
            if len(batch.rows) == size:
                yield batch
                batch = Batch()
        if batch.rows:
            yield batch


def csv_rows(path: Path) -> int:
    """Data rows, for the progress bar: lines less the header (a quoted line break would count
    twice; the bar is an estimate)."""
    lines = 0
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            lines += chunk.count(b"\n")
    return max(lines - 1, 0)


def parquet_batches(path: Path, size: int) -> Iterator[Batch]:
    # pyarrow is heavy to load (hundreds of milliseconds, its own allocator): only a Parquet
    # import pays for it, not a CSV import, the stream consumer or the retention run.
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = pq.ParquetFile(path)
    names = source.schema_arrow.names
    missing = set(COLUMNS) - set(names)
    if missing:
        raise CommandError(f"missing columns: {', '.join(sorted(missing))}")
    columns = [name for name in (*COLUMNS, "reset") if name in names]
    offset = 0
    for record_batch in source.iter_batches(batch_size=size, columns=columns):
        table = pa.Table.from_batches([record_batch])
        at = table.schema.field("at").type
        if pa.types.is_timestamp(at) and at.unit == "ns":
            # Python datetimes hold microseconds; readings carry no finer time.
            table = table.set_column(
                table.schema.get_field_index("at"),
                "at",
                table.column("at").cast(pa.timestamp("us", tz=at.tz), safe=False),
            )
        batch = Batch()
        batch.rows = table.to_pylist()
        batch.places = list(range(offset + 1, offset + len(batch.rows) + 1))
        offset += len(batch.rows)
        yield batch


def parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq  # heavy: see parquet_batches

    return int(pq.ParquetFile(path).metadata.num_rows)


def readings_import(
    path: Path,
    *,
    out: Writer,
    batch_size: int = BATCH,
    progress: bool = True,
    rejects: Path | None = None,
) -> dict[str, int]:
    """Sends a file's readings through `services.readings_ingest`, batch by batch; each batch
    commits on its own, so an interrupted import can simply be run again."""
    if not path.exists():
        raise CommandError(f"no such file: {path}")
    if path.suffix.lower() in {".parquet", ".pq"}:
        batches, total, place = parquet_batches(path, batch_size), parquet_rows(path), "row"
    else:
        batches, total, place = csv_batches(path, batch_size), csv_rows(path), "line"
    totals = {"rows": 0, "accepted": 0, "duplicates": 0, "errors": 0}
    reject_file = rejects.open("w", newline="", encoding="utf-8") if rejects else None
    writer = None
    if reject_file is not None:
        writer = csv.writer(reject_file)
        writer.writerow([place, "meter_id", "at", "value", "reset", "code", "error"])
    bar = tqdm(total=total, unit="rows", file=sys.stderr, disable=not progress)
    try:
        with acting(channel="cli"):
            for batch in batches:
                report = services.readings_ingest(actor=None, rows=batch.rows)
                totals["rows"] += len(batch.rows)
                totals["accepted"] += report.accepted
                totals["duplicates"] += report.duplicates
                totals["errors"] += len(report.errors)
                for error in report.errors:
                    where = batch.places[error["row"]]
                    out.write(f"{place} {where}: {error['error']} ({error['code']})\n")
                    if writer is not None:
                        row = batch.rows[error["row"]]
                        writer.writerow(
                            [where]
                            + [row.get(name, "") for name in ("meter_id", "at", "value", "reset")]
                            + [error["code"], error["error"]]
                        )
                bar.update(len(batch.rows))
    finally:
        bar.close()
        if reject_file is not None:
            reject_file.close()
    return totals


class Command(BaseCommand):
    help = "Wellbeing readings: import a CSV or Parquet file, consume the Redis stream, retention."

    def add_arguments(self, parser: Any) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        importing = actions.add_parser(
            "import",
            help=(
                "Import meter readings from a .csv or .parquet file: meter_id, at, value (in the "
                "meter's enrolled unit: m3 or L, kWh or Wh), optionally reset."
            ),
        )
        importing.add_argument("path", type=Path)
        importing.add_argument("--batch", type=int, default=BATCH, help="rows per transaction")
        importing.add_argument("--no-progress", action="store_true", help="no progress bar")
        importing.add_argument(
            "--rejects", type=Path, help="also write the refused rows, with why, to this CSV file"
        )
        consuming = actions.add_parser("consume", help="Consume readings from Redis Streams.")
        consuming.add_argument("--redis", default=os.environ.get("REDIS_URL", ""))
        consuming.add_argument("--stream", default=readings_stream.DEFAULT_STREAM)
        consuming.add_argument("--group", default=readings_stream.DEFAULT_GROUP)
        consuming.add_argument(
            "--consumer",
            default=f"{socket.gethostname()}-{os.getpid()}",
            help="this consumer's name in the group; keep it across restarts to resume",
        )
        consuming.add_argument("--partitions", type=int, default=1)
        consuming.add_argument(
            "--partition",
            type=int,
            action="append",
            help="a partition to read (repeatable); default all",
        )
        consuming.add_argument("--batch", type=int, default=1000)
        consuming.add_argument("--block-ms", type=int, default=5000)
        consuming.add_argument(
            "--claim-idle-ms",
            type=int,
            default=60_000,
            help="take over other consumers' entries pending this long",
        )
        consuming.add_argument(
            "--max-deliveries",
            type=int,
            default=10,
            help="an entry whose batch failed this often goes to the dead-letter stream",
        )
        consuming.add_argument(
            "--max-batches", type=int, help="stop after this many batches or when idle"
        )
        actions.add_parser("retention", help="Apply the retention policy now.")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "import":
            self._import(**options)
        elif action == "consume":
            self._consume(**options)
        else:
            with acting(channel="cli"):
                report = services.retention_apply()
            for name, value in asdict(report).items():
                self.stdout.write(f"{name}: {value}")

    def _import(
        self, *, path: Path, batch: int, no_progress: bool, rejects: Path | None, **_: Any
    ) -> None:
        totals = readings_import(
            path, out=self.stdout, batch_size=batch, progress=not no_progress, rejects=rejects
        )
        for name, value in totals.items():
            self.stdout.write(f"{name}: {value}")

    def _consume(
        self,
        *,
        redis: str,
        stream: str,
        group: str,
        consumer: str,
        partitions: int,
        partition: list[int] | None,
        batch: int,
        block_ms: int,
        claim_idle_ms: int,
        max_deliveries: int,
        max_batches: int | None,
        **_: Any,
    ) -> None:
        if not redis:
            raise CommandError("no Redis: set REDIS_URL or pass --redis")
        if partition and any(not 0 <= n < partitions for n in partition):
            raise CommandError(f"partitions are numbered 0 to {partitions - 1}")
        streams = readings_stream.stream_keys(stream, partitions, partition)
        reader = readings_stream.ReadingsConsumer(
            redis_client.Redis.from_url(redis),
            streams=streams,
            group=group,
            consumer=consumer,
            batch=batch,
            block_ms=block_ms,
            claim_idle_ms=claim_idle_ms,
            max_deliveries=max_deliveries,
        )
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stderr.write(f"consuming {', '.join(streams)} as {consumer} in group {group}")
        report = reader.run(
            max_batches=max_batches,
            stop=lambda: stopping,
            retry_after=None if max_batches is not None else 5.0,
        )
        for name, value in asdict(report).items():
            if name != "dead_letters":
                self.stdout.write(f"{name}: {value}")
