"""Readings ingestion through the one service every channel uses: a batch is checked row by row,
stored set-wise, idempotent, and each refused row is reported with its reason."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from civichub.core import services as core
from civichub.core.errors import PermissionDenied
from civichub.core.models import AuditEvent
from civichub.wellbeing import services
from civichub.wellbeing.models import Household, Meter, Reading
from civichub.wellbeing.services import MeterSpec, detection_runs

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 0, 30)  # noqa: DTZ001 - made aware below


def at(minutes: float) -> str:
    return timezone.make_aware(START + timedelta(minutes=minutes)).isoformat()


def enrol(city: Any, worker: Any, name: str, water: str, power: str) -> Household:
    resident = core.resident_create(actor=None, name=name, community=city.community_a1)
    return services.household_enrol(
        actor=None,
        resident=resident,
        worker=worker,
        consent_by="resident",
        meters=[MeterSpec("water", water, cumulative=False), MeterSpec("electricity", power)],
    )


@pytest.fixture
def homes(city: Any, make_user: Any) -> dict[str, Any]:
    worker = make_user("community_worker", city.community_a1)
    return {
        "feed": make_user("meter_feed", city.city),
        "worker": worker,
        "first": enrol(city, worker, "王秀英", "W-1", "E-1"),
        "second": enrol(city, worker, "赵德明", "W-2", "E-2"),
    }


def stored(meter_id: str) -> list[tuple[float, float, bool]]:
    """(value, use, reset) of a meter's readings in time order, rounded for comparison."""
    rows = Reading.objects.filter(meter__meter_id=meter_id).order_by("at")
    return [(round(r.value, 6), round(r.use, 6), r.reset) for r in rows]


def codes(report: services.IngestReport) -> list[tuple[int, str]]:
    return [(e["row"], e["code"]) for e in report.errors]


def test_good_rows_are_kept_and_each_bad_row_is_reported_with_its_reason(
    homes: dict[str, Any],
) -> None:
    future = (timezone.now() + timedelta(hours=2)).isoformat()
    rows: list[dict[str, Any]] = [
        {"meter_id": "W-1", "at": at(0), "value": 0.02},
        {"meter_id": "NOPE", "at": at(0), "value": 1},
        {"meter_id": "W-1", "at": at(30), "value": -0.01},
        {"meter_id": "W-1", "at": "yesterday", "value": 0.01},
        {"meter_id": "W-1", "at": at(60), "value": "lots"},
        {"meter_id": "W-1", "at": at(90), "value": "NaN"},
        {"meter_id": "W-1", "at": at(120), "value": float("inf")},
        {"meter_id": "W-1", "at": future, "value": 0.01},
        {"meter_id": "W-1", "at": at(150), "value": None},
        {"meter_id": "E-1", "at": at(0), "value": "100.5"},
        {"meter_id": "E-1", "at": at(30), "value": 99.0},
        {"at": at(30), "value": 1.0},
        {"meter_id": "W-1", "at": "9999-12-31T23:59:59-01:00", "value": 0.01},
        {"meter_id": "W-1", "at": at(180), "value": 10**400},
    ]
    report = services.readings_ingest(actor=homes["feed"], rows=rows)
    assert report.accepted == 2
    assert codes(report) == [
        (1, "unknown_meter"),
        (2, "negative"),
        (3, "bad_time"),
        (4, "not_a_number"),
        (5, "not_finite"),
        (6, "not_finite"),
        (7, "future_time"),
        (8, "not_a_number"),
        (10, "backwards"),
        (11, "unknown_meter"),
        (12, "bad_time"),
        (13, "not_a_number"),
    ]
    assert all(e["error"] for e in report.errors)
    assert "99.0" in report.errors[8]["error"]  # says which value went backwards
    assert stored("W-1") == [(0.02, 0.02, False)]
    assert stored("E-1") == [(100.5, 0.0, False)]


def test_a_reading_a_few_minutes_ahead_of_the_clock_is_accepted(homes: dict[str, Any]) -> None:
    soon = (timezone.now() + timedelta(minutes=5)).isoformat()
    report = services.readings_ingest(
        actor=homes["feed"], rows=[{"meter_id": "W-1", "at": soon, "value": 0.01}]
    )
    assert (report.accepted, report.errors) == (1, [])


def test_the_same_reading_twice_counts_once_within_a_batch_and_across_batches(
    homes: dict[str, Any],
) -> None:
    rows = [
        {"meter_id": "W-1", "at": at(0), "value": 0.02},
        {"meter_id": "E-1", "at": at(0), "value": 10.0},
        {"meter_id": "E-1", "at": at(30), "value": 10.5},
    ]
    first = services.readings_ingest(actor=homes["feed"], rows=rows + rows[:1])
    assert (first.accepted, first.duplicates, first.errors) == (3, 1, [])
    again = services.readings_ingest(actor=homes["feed"], rows=list(reversed(rows)))
    assert (again.accepted, again.duplicates, again.errors) == (0, 3, [])
    assert Reading.objects.count() == 3
    assert again.households == set()


def test_a_refused_row_sent_twice_in_a_batch_is_refused_twice_not_counted_as_a_duplicate(
    homes: dict[str, Any],
) -> None:
    backwards = {"meter_id": "E-1", "at": at(30), "value": 5.0}
    report = services.readings_ingest(
        actor=homes["feed"],
        rows=[{"meter_id": "E-1", "at": at(0), "value": 10.0}, backwards, dict(backwards)],
    )
    assert (report.accepted, report.duplicates) == (1, 0)
    assert codes(report) == [(1, "backwards"), (2, "backwards")]


def test_a_different_value_for_a_stored_time_is_a_conflict_not_an_overwrite(
    homes: dict[str, Any],
) -> None:
    feed = homes["feed"]
    services.readings_ingest(actor=feed, rows=[{"meter_id": "W-1", "at": at(0), "value": 0.02}])
    report = services.readings_ingest(
        actor=feed,
        rows=[
            {"meter_id": "W-1", "at": at(0), "value": 0.5},
            {"meter_id": "W-1", "at": at(30), "value": 0.1},
            {"meter_id": "W-1", "at": at(30), "value": 0.2},
        ],
    )
    assert codes(report) == [(0, "conflict"), (2, "conflict")]
    assert "0.02" in report.errors[0]["error"]
    assert stored("W-1") == [(0.02, 0.02, False), (0.1, 0.1, False)]


def test_register_values_become_the_use_since_the_previous_reading_and_a_reset_starts_again(
    homes: dict[str, Any],
) -> None:
    report = services.readings_ingest(
        actor=homes["feed"],
        rows=[
            {"meter_id": "E-1", "at": at(0), "value": 100.0},
            {"meter_id": "E-1", "at": at(30), "value": 100.4},
            {"meter_id": "E-1", "at": at(60), "value": 2.0, "reset": "true"},
            {"meter_id": "E-1", "at": at(90), "value": 2.5, "reset": "false"},
            {"meter_id": "E-1", "at": at(120), "value": 1.0, "reset": ""},
        ],
    )
    assert codes(report) == [(4, "backwards")]
    assert stored("E-1") == [
        (100.0, 0.0, False),
        (100.4, 0.4, False),
        (2.0, 2.0, True),
        (2.5, 0.5, False),
    ]


def test_a_late_register_reading_splits_the_use_its_successor_had_counted(
    homes: dict[str, Any],
) -> None:
    feed = homes["feed"]
    services.readings_ingest(
        actor=feed,
        rows=[
            {"meter_id": "E-1", "at": at(0), "value": 10.0},
            {"meter_id": "E-1", "at": at(60), "value": 11.0},
            {"meter_id": "E-1", "at": at(120), "value": 11.5},
        ],
    )
    report = services.readings_ingest(
        actor=feed,
        rows=[
            {"meter_id": "E-1", "at": at(30), "value": 10.3},
            {"meter_id": "E-1", "at": at(90), "value": 11.6},  # above the stored 11.5 after it
            {"meter_id": "E-1", "at": at(150), "value": 12.0},
        ],
    )
    assert codes(report) == [(1, "above_later")]
    assert stored("E-1") == [
        (10.0, 0.0, False),
        (10.3, 0.3, False),
        (11.0, 0.7, False),
        (11.5, 0.5, False),
        (12.0, 0.5, False),
    ]


def test_readings_in_any_order_and_any_batching_store_the_same_uses(
    homes: dict[str, Any],
) -> None:
    rng = random.Random(7)
    register = 500.0
    rows: list[dict[str, Any]] = []
    for step in range(96):
        register += round(rng.uniform(0.0, 0.3), 3)
        rows.append({"meter_id": "E-1", "at": at(30 * step), "value": register})
        rows.append({"meter_id": "E-2", "at": at(30 * step), "value": register})
        rows.append({"meter_id": "W-1", "at": at(30 * step), "value": 0.01 * (step % 3)})
    e1 = [r for r in rows if r["meter_id"] == "E-1"]
    services.readings_ingest(actor=homes["feed"], rows=e1)
    shuffled = [r for r in rows if r["meter_id"] != "E-1"] + e1[::7]  # resent E-1 rows too
    rng.shuffle(shuffled)
    accepted = duplicates = 0
    for first in range(0, len(shuffled), 17):
        report = services.readings_ingest(actor=homes["feed"], rows=shuffled[first : first + 17])
        assert report.errors == []
        accepted += report.accepted
        duplicates += report.duplicates
    assert (accepted, duplicates) == (192, len(e1[::7]))
    assert stored("E-2") == stored("E-1")
    assert sum(use for _, use, _ in stored("E-2")) == pytest.approx(
        e1[-1]["value"] - e1[0]["value"]
    )
    assert [use for _, use, _ in stored("E-2")][1:] == [
        round(b["value"] - a["value"], 6) for a, b in zip(e1, e1[1:], strict=False)
    ]


def test_a_replaced_meter_takes_its_late_readings_from_before_the_swap_only(
    homes: dict[str, Any],
) -> None:
    feed = homes["feed"]
    old = Meter.objects.get(meter_id="E-1")
    services.readings_ingest(actor=feed, rows=[{"meter_id": "E-1", "at": at(0), "value": 500}])
    swap = timezone.make_aware(START + timedelta(minutes=45))
    services.meter_replace(actor=homes["worker"], meter=old, new_meter_id="E-1b", at=swap)
    report = services.readings_ingest(
        actor=feed,
        rows=[
            {"meter_id": "E-1", "at": at(30), "value": 500.2},  # late, before the swap
            {"meter_id": "E-1", "at": at(60), "value": 500.4},  # after the swap
            {"meter_id": "E-1b", "at": at(60), "value": 0.3},
            {"meter_id": "E-1b", "at": at(90), "value": 0.5},
        ],
    )
    assert codes(report) == [(1, "meter_removed")]
    assert stored("E-1") == [(500.0, 0.0, False), (500.2, 0.2, False)]
    assert stored("E-1b") == [(0.3, 0.0, False), (0.5, 0.2, False)]


def test_after_withdrawal_every_reading_of_the_household_is_refused_with_that_reason(
    homes: dict[str, Any],
) -> None:
    services.consent_withdraw(actor=None, household=homes["first"], reason="搬去子女家")
    report = services.readings_ingest(
        actor=homes["feed"],
        rows=[
            {"meter_id": "W-1", "at": at(0), "value": 0.02},
            {"meter_id": "W-2", "at": at(0), "value": 0.02},
            {"meter_id": "E-1", "at": at(0), "value": 3},
        ],
    )
    assert codes(report) == [(0, "consent_withdrawn"), (2, "consent_withdrawn")]
    assert report.households == {homes["second"].pk}
    assert not Reading.objects.filter(meter__household=homes["first"]).exists()


def test_naive_times_are_the_deployments_local_time(homes: dict[str, Any]) -> None:
    services.readings_ingest(
        actor=homes["feed"],
        rows=[
            {"meter_id": "W-1", "at": "2026-03-02 08:00", "value": 0.01},
            {"meter_id": "W-1", "at": datetime(2026, 3, 2, 8, 30), "value": 0.01},  # noqa: DTZ001
            {"meter_id": "W-1", "at": "2026-03-02T01:00:00Z", "value": 0.01},
        ],
    )
    local = [
        timezone.localtime(r.at).strftime("%H:%M")
        for r in Reading.objects.filter(meter__meter_id="W-1").order_by("at")
    ]
    assert local == ["08:00", "08:30", "09:00"]


def test_detection_is_enqueued_once_per_household_per_batch_after_the_commit(
    homes: dict[str, Any], monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    calls: list[dict[int, Any]] = []
    monkeypatch.setattr(detection_runs, "_enqueue_detection", calls.append)
    rows = [
        {"meter_id": meter, "at": at(30 * step), "value": 0.01 * step}
        for step in range(48)
        for meter in ("W-1", "E-1", "W-2")
    ]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        report = services.readings_ingest(actor=homes["feed"], rows=rows)
    assert calls == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert [sorted(call) for call in calls] == [sorted([homes["first"].pk, homes["second"].pk])]
    assert calls[0] == report.since  # with each household's earliest new reading
    first = report.since[homes["first"].pk]
    assert first == timezone.make_aware(START)
    with django_capture_on_commit_callbacks(execute=True):
        services.readings_ingest(actor=homes["feed"], rows=rows)  # all duplicates
    assert len(calls) == 1


def test_a_large_batch_takes_a_few_statements_not_one_per_row(
    homes: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    rows = []
    for step in range(2000):
        rows.append({"meter_id": "W-1", "at": at(15 * step), "value": 0.01})
        rows.append({"meter_id": "E-1", "at": at(15 * step), "value": 100 + 0.1 * step})
        rows.append({"meter_id": "E-2", "at": at(15 * step), "value": 100 + 0.1 * step})
    with django_assert_max_num_queries(12):
        report = services.readings_ingest(actor=homes["feed"], rows=rows)
    assert (report.accepted, report.errors) == (6000, [])
    assert Reading.objects.count() == 6000
    with django_assert_max_num_queries(12):
        again = services.readings_ingest(actor=homes["feed"], rows=rows)
    assert (again.accepted, again.duplicates) == (0, 6000)


def test_each_batch_is_audited_once_with_its_counts(homes: dict[str, Any]) -> None:
    services.readings_ingest(
        actor=homes["feed"],
        rows=[
            {"meter_id": "W-1", "at": at(0), "value": 0.02},
            {"meter_id": "W-1", "at": at(0), "value": 0.02},
            {"meter_id": "NOPE", "at": at(0), "value": 0.02},
        ],
    )
    event = AuditEvent.objects.get(action="wellbeing.readings.ingest")
    assert event.changes == {"accepted": 1, "duplicates": 1, "errors": 1}
    assert event.actor == homes["feed"]


def test_only_a_meter_feed_may_send_readings(homes: dict[str, Any]) -> None:
    with pytest.raises(PermissionDenied):
        services.readings_ingest(
            actor=homes["worker"], rows=[{"meter_id": "W-1", "at": at(0), "value": 0.02}]
        )
    assert not Reading.objects.exists()


def test_the_batch_api_reports_each_refused_row_with_its_code(
    homes: dict[str, Any], api_as: Any
) -> None:
    response = api_as(homes["feed"]).post(
        "/api/wellbeing/readings",
        {
            "readings": [
                {"meter_id": "E-1", "at": at(0), "value": 10.0},
                {"meter_id": "E-1", "at": at(30), "value": 9.0},
                {"meter_id": "E-1", "at": at(0), "value": 10.0},
                {"meter_id": "X", "at": at(0), "value": 1},
            ]
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["duplicates"]) == (1, 1)
    assert [(e["row"], e["code"]) for e in body["errors"]] == [
        (1, "backwards"),
        (3, "unknown_meter"),
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_feeds_sending_overlapping_batches_at_once_store_each_reading_once(
    homes: dict[str, Any],
) -> None:
    import threading

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite lets one writer in at a time anyway")

    def rows(steps: range) -> list[dict[str, Any]]:
        # The electricity register climbs; the water meter reads each half hour's use.
        return [
            {"meter_id": meter, "at": at(30 * step), "value": value}
            for step in steps
            for meter, value in (("E-1", 100 + 0.25 * step), ("W-1", 0.02))
        ]

    batches = [rows(range(0, 60)), rows(range(30, 90))]
    start = threading.Barrier(len(batches))
    reports: list[services.IngestReport] = []
    failures: list[BaseException] = []

    def send(batch: list[dict[str, Any]]) -> None:
        try:
            start.wait()
            reports.append(services.readings_ingest(actor=homes["feed"], rows=batch))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sum(r.accepted for r in reports) == 180
    assert sum(r.duplicates for r in reports) == 60
    assert all(r.errors == [] for r in reports)
    assert [use for _, use, _ in stored("E-1")] == [0.0] + [0.25] * 89


def test_deleting_a_meter_or_its_household_deletes_its_readings(homes: dict[str, Any]) -> None:
    # The database does not check a reading's meter (ingestion has found and locked it), so
    # the deletion of a meter must still take its readings with it.
    rows = [
        {"meter_id": meter, "at": at(30 * step), "value": 0.01 if meter[0] == "W" else 100 + step}
        for step in range(4)
        for meter in ("W-1", "E-1", "W-2", "E-2")
    ]
    report = services.readings_ingest(actor=homes["feed"], rows=rows)
    assert (report.accepted, report.errors) == (16, [])
    Meter.objects.get(meter_id="W-1").delete()
    assert stored("W-1") == []
    assert len(stored("E-1")) == 4
    Household.objects.filter(pk=homes["second"].pk).delete()
    assert sorted(Reading.objects.values_list("meter__meter_id", flat=True).distinct()) == ["E-1"]


def test_stored_readings_keep_every_digit_of_value_and_time_on_either_database(
    homes: dict[str, Any],
) -> None:
    """PostgreSQL copies a batch in binary, SQLite inserts its text: either way a reading reads
    back with the exact float sent, its time to the microsecond, its use and reset flag."""
    moments = [
        timezone.make_aware(START + timedelta(minutes=30 * step, microseconds=123457 * step))
        for step in range(1, 5)
    ]
    registers = [12345.678901234567, 12345.708901234567, 12345.708901234568, 0.1]
    rows = [
        {"meter_id": "E-1", "at": moment.isoformat(), "value": value, "reset": step == 3}
        for step, (moment, value) in enumerate(zip(moments, registers, strict=True))
    ]
    rows.append({"meter_id": "W-1", "at": moments[0].isoformat(), "value": 1e-300})
    before = timezone.now()
    report = services.readings_ingest(actor=homes["feed"], rows=rows)
    assert (report.accepted, report.errors) == (5, [])
    got = list(
        Reading.objects.filter(meter__meter_id="E-1")
        .order_by("at")
        .values_list("at", "value", "use", "reset", "received_at")
    )
    assert [r[0] for r in got] == moments
    assert [r[1] for r in got] == registers
    assert [r[2] for r in got] == [0.0, 0.03, 0.0, 0.1]
    assert [r[3] for r in got] == [False, False, False, True]
    assert all(before <= r[4] <= timezone.now() for r in got)
    water = Reading.objects.get(meter__meter_id="W-1")
    assert (water.at, water.value, water.use) == (moments[0], 1e-300, 1e-300)
