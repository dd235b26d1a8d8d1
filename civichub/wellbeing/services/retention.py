"""The retention policy: raw readings become hourly and daily aggregates, old aggregates go, and
the data of households that withdrew consent is deleted. On PostgreSQL, where readings are
partitioned by month, a month wholly past the raw retention is summed and its partition
dropped; the rest (and SQLite's one table) is deleted row by row."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from civichub.core.audit import audit_record
from civichub.core.config import module_config
from civichub.wellbeing.conf import WellbeingSettings
from civichub.wellbeing.models import (
    AggregatePeriod,
    Alert,
    Household,
    Meter,
    Reading,
    ReadingAggregate,
)
from civichub.wellbeing.services.partitions import partition_retire, partitions_expired

# Households per query, well under every database's limit on query parameters.
_CHUNK = 5000


@dataclass
class RetentionReport:
    readings_expired: int = 0
    aggregates_written: int = 0
    hourly_expired: int = 0
    daily_expired: int = 0
    withdrawn_households: int = 0
    withdrawn_readings_deleted: int = 0
    withdrawn_aggregates_deleted: int = 0
    partitions_dropped: int = 0


def local_midnight(moment: datetime) -> datetime:
    return timezone.localtime(moment).replace(hour=0, minute=0, second=0, microsecond=0)


def retention_apply(*, now: datetime | None = None, batch: int = 5000) -> RetentionReport:
    """The retention policy, run periodically: raw readings older than `raw_retention_days`
    (default 400) are summed into hourly and daily aggregates and deleted; hourly aggregates go
    after `hourly_retention_days` (default 1095), daily ones after `daily_retention_days`
    (default 3650); a household that withdrew consent more than `withdrawn_retention_days`
    (default 30) ago loses its readings, its aggregates and the charts and evidence of its
    alerts (the alerts and visits stay as the record of what was done). Deletes in batches of
    `batch` rows, each batch its own transaction (a month's partition past the raw retention
    on PostgreSQL: summed and dropped at once), and audits the run once with its counts."""
    now = now or timezone.now()
    config = module_config(WellbeingSettings)
    report = RetentionReport()
    withdrawn_before = now - timedelta(days=config.withdrawn_retention_days)
    gone = list(
        Household.objects.filter(consent_withdrawn_at__lt=withdrawn_before).values_list(
            "pk", flat=True
        )
    )
    for first in range(0, len(gone), _CHUNK):
        chunk = gone[first : first + _CHUNK]
        holding = set(
            Meter.objects.filter(household_id__in=chunk)
            .filter(
                Exists(Reading.objects.filter(meter=OuterRef("pk")))
                | Exists(ReadingAggregate.objects.filter(meter=OuterRef("pk")))
            )
            .values_list("household_id", flat=True)
        )
        charted = Alert.objects.filter(household_id__in=chunk).exclude(chart={}, evidence={})
        holding |= set(charted.values_list("household_id", flat=True))
        charted.update(chart={}, evidence={})
        report.withdrawn_households += len(holding)
        report.withdrawn_readings_deleted += _delete_batched(
            Reading.objects.filter(meter__household_id__in=chunk), batch
        )
        report.withdrawn_aggregates_deleted += _delete_batched(
            ReadingAggregate.objects.filter(meter__household_id__in=chunk), batch
        )
    raw_cutoff = local_midnight(now - timedelta(days=config.raw_retention_days))
    for partition in partitions_expired(raw_cutoff):
        report.readings_expired += partition_retire(partition)
        report.partitions_dropped += 1
    while True:
        with transaction.atomic():
            expired, written = _readings_summarise_and_expire(raw_cutoff, batch)
        report.readings_expired += expired
        report.aggregates_written += written
        if expired < batch:
            break
    for period, days in (
        (AggregatePeriod.HOUR, config.hourly_retention_days),
        (AggregatePeriod.DAY, config.daily_retention_days),
    ):
        cutoff = local_midnight(now - timedelta(days=days))
        deleted = _delete_batched(
            ReadingAggregate.objects.filter(period=period, starts_at__lt=cutoff), batch
        )
        if period == AggregatePeriod.HOUR:
            report.hourly_expired = deleted
        else:
            report.daily_expired = deleted
    audit_record(
        actor=None,
        action="wellbeing.retention.apply",
        object_type="wellbeing.reading",
        changes=asdict(report),
    )
    return report


def _delete_batched(query: QuerySet[Any], batch: int) -> int:
    deleted = 0
    while True:
        ids = list(query.order_by().values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted
        with transaction.atomic():
            deleted += query.model.objects.filter(pk__in=ids).delete()[0]
        if len(ids) < batch:
            return deleted


def _readings_summarise_and_expire(cutoff: datetime, batch: int) -> tuple[int, int]:
    """One batch of expired readings: their use is added to the hourly and daily aggregates of
    the local hour and day their interval falls in, then they are deleted. On PostgreSQL the
    rows are locked and skipped by a concurrent run, so no reading is counted twice."""
    # A reading at midnight closes the day before: it goes with that day. No ordering, so that
    # PostgreSQL can use the BRIN index on `at` rather than walk the table in key order.
    query = Reading.objects.filter(at__lte=cutoff).order_by()
    rows = list(
        query.select_for_update(skip_locked=True).values_list("pk", "meter_id", "at", "use")[:batch]
    )
    if not rows:
        return 0, 0
    zone = timezone.get_current_timezone()
    sums: dict[tuple[int, str, datetime], list[float]] = {}
    for _pk, meter_id, at, use in rows:
        # A reading covers the interval that ends at its time.
        local = (at - timedelta(microseconds=1)).astimezone(zone)
        hour = local.replace(minute=0, second=0, microsecond=0)
        for key in (
            (meter_id, AggregatePeriod.HOUR.value, hour),
            (meter_id, AggregatePeriod.DAY.value, hour.replace(hour=0)),
        ):
            total = sums.setdefault(key, [0.0, 0])
            total[0] += use
            total[1] += 1
    meter_ids = {key[0] for key in sums}
    starts = [key[2] for key in sums]
    existing = {
        (aggregate.meter_id, aggregate.period, aggregate.starts_at): aggregate
        for aggregate in ReadingAggregate.objects.select_for_update().filter(
            meter_id__in=meter_ids, starts_at__gte=min(starts), starts_at__lte=max(starts)
        )
    }
    fresh: list[ReadingAggregate] = []
    topped: list[ReadingAggregate] = []
    for (meter_id, period, starts_at), (use, count) in sums.items():
        aggregate = existing.get((meter_id, period, starts_at))
        if aggregate is None:
            fresh.append(
                ReadingAggregate(
                    meter_id=meter_id,
                    period=period,
                    starts_at=starts_at,
                    use=use,
                    readings=int(count),
                )
            )
        else:
            aggregate.use += use
            aggregate.readings += int(count)
            topped.append(aggregate)
    ReadingAggregate.objects.bulk_create(fresh, batch_size=1000)
    ReadingAggregate.objects.bulk_update(topped, ["use", "readings"], batch_size=1000)
    Reading.objects.filter(pk__in=[row[0] for row in rows]).delete()
    return len(rows), len(fresh) + len(topped)
