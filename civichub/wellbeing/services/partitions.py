"""Readings partitioned by month on PostgreSQL (migration 0010_readings_partition): partitions
made ahead of time by a periodic task, and whole expired months retired at once (summed into
the aggregates, detached and dropped) instead of deleted row by row. SQLite keeps one table and
retention deletes its rows.

A reading dated outside every monthly partition (very late, or a clock far off) lands in the
default partition; making a month's partition moves that month's rows out of it first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection, transaction
from django.utils import timezone

from civichub.wellbeing.models import Reading, ReadingAggregate

# Months made ahead of the current one.
MONTHS_AHEAD = 3


@dataclass(frozen=True)
class Partition:
    name: str
    lower: datetime
    upper: datetime


def _table() -> str:
    return str(Reading._meta.db_table)


def readings_partitioned() -> bool:
    """Whether readings are partitioned here (PostgreSQL after migration 0009)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
            "WHERE c.relname = %s AND pg_table_is_visible(c.oid)",
            [_table()],
        )
        return cursor.fetchone() is not None


def month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def next_month(moment: datetime) -> datetime:
    return datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, tzinfo=UTC)


def partition_name(lower: datetime) -> str:
    return f"{_table()}_p{lower:%Y%m}"


def readings_partitions() -> list[Partition]:
    """The monthly partitions, oldest first (the default partition is not listed)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
            "WHERE p.relname = %s AND pg_table_is_visible(p.oid)",
            [_table()],
        )
        rows = cursor.fetchall()
    found = []
    for name, bound in rows:
        if bound == "DEFAULT":
            continue
        # FOR VALUES FROM ('2026-03-01 08:00:00+08') TO ('2026-04-01 08:00:00+08')
        lower_text, upper_text = bound.split("'")[1], bound.split("'")[3]
        found.append(
            Partition(
                name,
                datetime.fromisoformat(lower_text).astimezone(UTC),
                datetime.fromisoformat(upper_text).astimezone(UTC),
            )
        )
    return sorted(found, key=lambda p: p.lower)


def partition_create(lower: datetime) -> bool:
    """The month starting at `lower` (UTC) as a partition of its own, with the rows the default
    partition held for it; False when it exists already."""
    upper = next_month(lower)
    name = partition_name(lower)
    if any(p.name == name for p in readings_partitions()):
        return False
    table = connection.ops.quote_name(_table())
    default = connection.ops.quote_name(f"{_table()}_default")
    quoted = connection.ops.quote_name(name)
    with transaction.atomic(), connection.cursor() as cursor:
        # Made apart and attached, so that the default partition's rows for the month can move
        # into it first (attaching checks the default partition holds none).
        cursor.execute(f"CREATE TABLE {quoted} (LIKE {table} INCLUDING DEFAULTS)")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {default} WHERE at >= %s AND at < %s RETURNING *) "  # noqa: S608  # nosec B608
            f"INSERT INTO {quoted} SELECT * FROM moved",
            [lower, upper],
        )
        cursor.execute(
            f"ALTER TABLE {table} ATTACH PARTITION {quoted} FOR VALUES FROM (%s) TO (%s)",
            [lower, upper],
        )
    return True


def readings_partitions_ensure(*, now: datetime | None = None, ahead: int = MONTHS_AHEAD) -> int:
    """Makes the partitions of this month and the next `ahead` months; returns how many were
    new. Does nothing where readings are not partitioned."""
    if not readings_partitioned():
        return 0
    month = month_start(now or timezone.now())
    made = 0
    for _ in range(ahead + 1):
        made += partition_create(month)
        month = next_month(month)
    return made


def partitions_expired(cutoff: datetime) -> list[Partition]:
    """The monthly partitions whose every reading is dated before `cutoff`."""
    if not readings_partitioned():
        return []
    return [p for p in readings_partitions() if p.upper <= cutoff]


def partition_retire(partition: Partition) -> int:
    """Sums a month's readings into the hourly and daily aggregates of the local hour and day
    their interval falls in, then detaches and drops its partition, in one transaction; returns
    how many readings it held."""
    quoted = connection.ops.quote_name(partition.name)
    table = connection.ops.quote_name(_table())
    aggregates = connection.ops.quote_name(ReadingAggregate._meta.db_table)
    zone = timezone.get_current_timezone_name()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {quoted} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(f"SELECT count(*) FROM {quoted}")  # noqa: S608  # nosec B608
        count = int(cursor.fetchone()[0])
        for period, unit in (("hour", "hour"), ("day", "day")):
            # A reading covers the interval that ends at its time.
            cursor.execute(
                f"INSERT INTO {aggregates} (meter_id, period, starts_at, use, readings) "  # noqa: S608  # nosec B608
                f"SELECT meter_id, %s, "
                f"date_trunc(%s, (at - interval '1 microsecond') AT TIME ZONE %s) AT TIME ZONE %s, "
                f"sum(use), count(*) FROM {quoted} GROUP BY 1, 2, 3 "
                f"ON CONFLICT (meter_id, period, starts_at) DO UPDATE SET "
                f"use = {aggregates}.use + EXCLUDED.use, "
                f"readings = {aggregates}.readings + EXCLUDED.readings",
                [period, unit, zone, zone],
            )
        cursor.execute(f"ALTER TABLE {table} DETACH PARTITION {quoted}")
        cursor.execute(f"DROP TABLE {quoted}")
    return count
