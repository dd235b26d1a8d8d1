"""Retention: raw readings are kept a set number of days, then summed into hourly and daily
aggregates that are kept longer; a household that withdrew consent keeps its data only as long
as the withdrawn-consent policy says; every run is audited once with its counts."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from civichub.core.models import AuditEvent
from civichub.wellbeing import services, tasks
from civichub.wellbeing.apps import WellbeingConfig
from civichub.wellbeing.models import AggregatePeriod, Alert, Reading, ReadingAggregate
from civichub.wellbeing.services import partitions, retention
from civichub.wellbeing.tests.test_ingest import START, at, homes  # noqa: F401

pytestmark = pytest.mark.django_db

DAY = 24 * 60


@pytest.fixture
def policy(settings: Any) -> dict[str, int]:
    settings.CIVICHUB_WELLBEING = {
        "raw_retention_days": 10,
        "hourly_retention_days": 30,
        "daily_retention_days": 90,
        "withdrawn_retention_days": 7,
    }
    return dict(settings.CIVICHUB_WELLBEING)


def two_days(feed: Any) -> list[dict[str, Any]]:
    """Half-hourly readings for two days from START on both homes' meters."""
    rows: list[dict[str, Any]] = []
    for step in range(96):
        for water, power in (("W-1", "E-1"), ("W-2", "E-2")):
            rows.append({"meter_id": water, "at": at(30 * step), "value": 0.01 * (step % 5)})
            rows.append({"meter_id": power, "at": at(30 * step), "value": 100 + 0.1 * step})
    report = services.readings_ingest(actor=feed, rows=rows)
    assert report.accepted == len(rows)
    return rows


def expected_sums(meter_id: str, period: str) -> dict[datetime, tuple[float, int]]:
    """What the aggregates should hold, computed here from the stored readings: a reading
    belongs to the local hour (or day) in which its interval ends, the interval ending at its
    time."""
    sums: dict[datetime, list[float]] = defaultdict(lambda: [0.0, 0])
    for reading in Reading.objects.filter(meter__meter_id=meter_id):
        local = timezone.localtime(reading.at - timedelta(microseconds=1))
        start = local.replace(minute=0, second=0, microsecond=0)
        if period == AggregatePeriod.DAY:
            start = start.replace(hour=0)
        sums[start][0] += reading.use
        sums[start][1] += 1
    return {start: (round(use, 6), int(count)) for start, (use, count) in sums.items()}


def aggregates(meter_id: str, period: str) -> dict[datetime, tuple[float, int]]:
    return {
        timezone.localtime(a.starts_at): (round(a.use, 6), a.readings)
        for a in ReadingAggregate.objects.filter(meter__meter_id=meter_id, period=period)
    }


def test_expired_raw_readings_become_hourly_and_daily_aggregates_then_are_deleted(
    homes: dict[str, Any],  # noqa: F811
    policy: dict[str, int],
) -> None:
    two_days(homes["feed"])
    # Eleven days after the first day's 01:00: the first local day (and only it) has expired.
    now = timezone.make_aware(START) + timedelta(days=11)
    first_day_end = timezone.make_aware(datetime(2026, 3, 3))  # noqa: DTZ001
    hourly = expected_sums("E-1", AggregatePeriod.HOUR)
    daily = expected_sums("E-1", AggregatePeriod.DAY)
    # The reading at midnight closes the first day's last half hour: it goes with that day.
    expiring = Reading.objects.filter(at__lte=first_day_end).count()
    report = services.retention_apply(now=now, batch=50)
    assert report.readings_expired == expiring
    assert not Reading.objects.filter(at__lte=first_day_end).exists()
    assert Reading.objects.filter(at__gt=first_day_end).count() == 4 * 96 - expiring
    first_day = timezone.localtime(first_day_end - timedelta(days=1))
    assert aggregates("E-1", AggregatePeriod.DAY) == {first_day: daily[first_day]}
    assert aggregates("E-1", AggregatePeriod.HOUR) == {
        start: sums for start, sums in hourly.items() if start < first_day_end
    }
    assert len(aggregates("E-1", AggregatePeriod.HOUR)) == 24


def test_readings_expiring_over_several_runs_are_each_counted_once(
    homes: dict[str, Any],  # noqa: F811
    policy: dict[str, int],
) -> None:
    two_days(homes["feed"])
    daily = expected_sums("W-2", AggregatePeriod.DAY)
    hourly = expected_sums("W-2", AggregatePeriod.HOUR)
    start = timezone.make_aware(START)
    for days in (10.5, 11, 11.5, 12, 13, 13):  # the last run finds nothing new
        services.retention_apply(now=start + timedelta(days=days), batch=7)
    assert not Reading.objects.exists()
    assert aggregates("W-2", AggregatePeriod.DAY) == daily
    assert aggregates("W-2", AggregatePeriod.HOUR) == hourly


def test_a_late_reading_for_an_aggregated_day_is_added_to_its_aggregates(
    homes: dict[str, Any],  # noqa: F811
    policy: dict[str, int],
) -> None:
    services.readings_ingest(
        actor=homes["feed"], rows=[{"meter_id": "W-1", "at": at(60), "value": 0.25}]
    )
    now = timezone.make_aware(START) + timedelta(days=12)
    services.retention_apply(now=now)
    services.readings_ingest(
        actor=homes["feed"], rows=[{"meter_id": "W-1", "at": at(90), "value": 0.5}]
    )
    services.retention_apply(now=now)
    day = aggregates("W-1", AggregatePeriod.DAY)
    assert list(day.values()) == [(0.75, 2)]


def test_aggregates_are_kept_longer_than_readings_and_then_expire_hourly_first(
    homes: dict[str, Any],  # noqa: F811
    policy: dict[str, int],
) -> None:
    two_days(homes["feed"])
    start = timezone.make_aware(START)
    services.retention_apply(now=start + timedelta(days=13))
    assert not Reading.objects.exists()
    assert ReadingAggregate.objects.filter(period=AggregatePeriod.HOUR).count() == 4 * 48
    report = services.retention_apply(now=start + timedelta(days=33))
    assert report.hourly_expired == 4 * 48
    assert report.daily_expired == 0
    assert ReadingAggregate.objects.filter(period=AggregatePeriod.DAY).count() == 4 * 2
    report = services.retention_apply(now=start + timedelta(days=93))
    assert report.daily_expired == 4 * 2
    assert not ReadingAggregate.objects.exists()


def test_withdrawn_consent_keeps_the_data_only_for_the_withdrawn_retention_period(
    homes: dict[str, Any],  # noqa: F811
    policy: dict[str, int],
    settings: Any,
) -> None:
    two_days(homes["feed"])
    first, second = homes["first"], homes["second"]
    services.retention_apply(now=timezone.make_aware(START) + timedelta(days=11))
    # From here on raw readings would not expire by age: only the withdrawal removes them.
    settings.CIVICHUB_WELLBEING = {
        **policy,
        "raw_retention_days": 3650,
        "daily_retention_days": 3650,
    }
    alert = Alert.objects.create(  # as detection raises one: with its evidence and chart
        household=first,
        kind="no_use",
        severity="urgent",
        at=timezone.make_aware(START),
        explanation="12 小时没有用水",
        evidence={"hours": 12},
        chart={"hours": [{"at": at(0), "water_l": 0.0, "usual": 0.4}]},
        family_deadline=timezone.now(),
    )
    services.consent_withdraw(actor=None, household=first, reason="搬去子女家")
    withdrawn = timezone.now()
    kept = services.retention_apply(now=withdrawn + timedelta(days=6))
    assert kept.withdrawn_households == 0
    assert Reading.objects.filter(meter__household=first).exists()
    report = services.retention_apply(now=withdrawn + timedelta(days=8))
    assert report.withdrawn_households == 1
    assert report.withdrawn_readings_deleted > 0 and report.withdrawn_aggregates_deleted > 0
    assert not Reading.objects.filter(meter__household=first).exists()
    assert not ReadingAggregate.objects.filter(meter__household=first).exists()
    alert.refresh_from_db()
    assert (alert.chart, alert.evidence) == ({}, {})
    assert alert.explanation  # the record of what was done stays
    assert ReadingAggregate.objects.filter(meter__household=second).exists()
    again = services.retention_apply(now=withdrawn + timedelta(days=9))
    assert again.withdrawn_households == 0


def test_each_run_is_audited_once_with_its_counts(
    homes: dict[str, Any],  # noqa: F811
    policy: dict[str, int],
) -> None:
    two_days(homes["feed"])
    report = services.retention_apply(now=timezone.make_aware(START) + timedelta(days=13))
    events = AuditEvent.objects.filter(action="wellbeing.retention.apply")
    assert events.count() == 1
    assert events.get().changes["readings_expired"] == report.readings_expired == 4 * 96


def test_the_worker_runs_retention_hourly_from_the_manifest(
    homes: dict[str, Any],  # noqa: F811
    policy: dict[str, int],
) -> None:
    scheduled = {p.name: p for p in WellbeingConfig.manifest.periodic_tasks}
    assert scheduled["wellbeing.retention"].every_seconds == 3600
    assert scheduled["wellbeing.retention"].task == "civichub.wellbeing.tasks.apply_retention"
    services.readings_ingest(
        actor=homes["feed"], rows=[{"meter_id": "W-1", "at": at(0), "value": 0.5}]
    )
    result = tasks.apply_retention.call()
    # The reading is from March 2026: whether it has expired depends on today's date.
    expired = timezone.make_aware(START) < retention.local_midnight(
        timezone.now() - timedelta(days=policy["raw_retention_days"])
    )
    assert result["readings_expired"] == int(expired)
    assert Reading.objects.exists() is not expired


@pytest.mark.postgres
def test_on_postgresql_expired_readings_are_found_through_the_brin_index_on_time(
    homes: dict[str, Any],  # noqa: F811
) -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no BRIN index")
    two_days(homes["feed"])
    cutoff = timezone.make_aware(START) + timedelta(days=1)
    query = Reading.objects.filter(at__lte=cutoff).order_by().values_list("pk")[:50].query
    with connection.cursor() as cursor:
        # A test table is too small for the planner to prefer any index: rule out the scans a
        # large table would make slow (the whole table, or the whole (meter, at) index).
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        sql, params = query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        # Readings are partitioned by month: each partition has its own part of the index.
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'wellbeing_reading_at_brin'::regclass"
        )
        parts = [row[0] for row in cursor.fetchall()]
    assert any(f"Index Scan on {name}" in plan for name in ["wellbeing_reading_at_brin", *parts])


def test_the_retention_command_applies_the_policy_now_and_prints_the_counts(
    homes: dict[str, Any],  # noqa: F811
    policy: dict[str, int],
    capsys: Any,
) -> None:
    from django.core.management import call_command

    two_days(homes["feed"])  # March 2026: long expired under a ten-day policy by today
    call_command("wellbeing", "retention")
    out = capsys.readouterr().out
    assert f"readings_expired: {4 * 96}" in out
    assert not Reading.objects.exists()
    assert AuditEvent.objects.filter(action="wellbeing.retention.apply").count() == 1


def test_a_deployment_sets_the_periods_through_environment_variables(tmp_path: Any) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVICHUB_WELLBEING_")}
    env.update(
        DJANGO_SETTINGS_MODULE="civichub.settings",
        CIVICHUB_DATA_DIR=str(tmp_path),
        CIVICHUB_WELLBEING_RAW_DAYS="30",
        CIVICHUB_WELLBEING_WITHDRAWN_DAYS="0",
    )
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "from django.conf import settings; print(sorted(settings.CIVICHUB_WELLBEING.items()))",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shown.strip() == "[('raw_retention_days', 30), ('withdrawn_retention_days', 0)]"


def _partition_rows(cursor: Any, name: str) -> int:
    cursor.execute(f"SELECT count(*) FROM {name}")  # noqa: S608
    return int(cursor.fetchone()[0])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_an_expired_month_is_summed_and_its_partition_dropped(
    homes: dict[str, Any],  # noqa: F811
    policy: dict[str, int],
    settings: Any,
) -> None:
    """Readings are partitioned by month: the periodic task makes a month's partition (moving
    the readings the default partition held for it), and retention sums a month wholly past
    the raw retention into the aggregates and drops its partition instead of deleting rows."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite keeps one table")
    assert partitions.readings_partitioned()
    settings.CIVICHUB_WELLBEING = {**policy, "hourly_retention_days": 400}
    two_days(homes["feed"])  # March 2026: before the months the migration made
    hourly = expected_sums("E-2", AggregatePeriod.HOUR)
    daily = expected_sums("W-1", AggregatePeriod.DAY)
    with connection.cursor() as cursor:
        assert _partition_rows(cursor, "wellbeing_reading_default") == 4 * 96
        assert partitions.readings_partitions_ensure(now=timezone.make_aware(START)) == 4
        assert _partition_rows(cursor, "wellbeing_reading_default") == 0
        assert _partition_rows(cursor, "wellbeing_reading_p202603") == 4 * 96
    assert partitions.readings_partitions_ensure(now=timezone.make_aware(START)) == 0
    assert Reading.objects.count() == 4 * 96

    report = services.retention_apply(now=timezone.make_aware(datetime(2026, 4, 20)))  # noqa: DTZ001
    assert report.partitions_dropped == 1
    assert report.readings_expired == 4 * 96
    assert not Reading.objects.exists()
    assert "wellbeing_reading_p202603" not in {p.name for p in partitions.readings_partitions()}
    assert "wellbeing_reading_p202604" in {p.name for p in partitions.readings_partitions()}
    assert aggregates("E-2", AggregatePeriod.HOUR) == hourly
    assert aggregates("W-1", AggregatePeriod.DAY) == daily
