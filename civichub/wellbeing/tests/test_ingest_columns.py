"""A batch is checked as columns, and the rows that follow their meter's stored readings are
decided at once; the rest are walked row by row. Both must give what the walk alone gives."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest
from django.utils import timezone

from civichub.core import services as core
from civichub.wellbeing import services
from civichub.wellbeing.models import Reading
from civichub.wellbeing.services import MeterSpec, ingest, ingest_rows

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 0, 30)  # noqa: DTZ001 - made aware below
METERS = [
    MeterSpec("water", "W-L", cumulative=False, unit="L", interval_minutes=15),
    MeterSpec("water", "W-M", cumulative=False),
    MeterSpec("electricity", "E-KWH"),
    MeterSpec("electricity", "E-WH", unit="Wh"),
    MeterSpec("gas", "G-L", cumulative=False, unit="L", interval_minutes=15),
]


def at(minutes: float) -> str:
    return timezone.make_aware(START + timedelta(minutes=minutes)).isoformat()


@pytest.fixture
def meters(city: Any, make_user: Any) -> list[MeterSpec]:
    worker = make_user("community_worker", city.community_a1)
    resident = core.resident_create(actor=None, name="王秀英", community=city.community_a1)
    services.household_enrol(
        actor=None, resident=resident, worker=worker, consent_by="resident", meters=METERS
    )
    return METERS


def stored() -> list[tuple[str, str, float, float, bool]]:
    rows = Reading.objects.order_by("meter__meter_id", "at")
    return [(r.meter.meter_id, r.at.isoformat(), r.value, r.use, r.reset) for r in rows]


def messy_batches(seed: int) -> list[list[dict[str, Any]]]:
    """Batches of every kind of row: in order, repeated, late, going backwards, resets,
    implausible, not numbers, unknown meters, in any order within a batch."""
    rng = random.Random(seed)
    totals = {"E-KWH": 1000.0, "E-WH": 2_000_000.0}
    batches: list[list[dict[str, Any]]] = []
    sent: list[dict[str, Any]] = []
    for batch in range(4):
        rows: list[dict[str, Any]] = []
        for step in range(batch * 12, batch * 12 + 12):
            for meter in ("W-L", "W-M", "E-KWH", "E-WH", "G-L"):
                minutes = 30 * step
                if meter in totals:
                    scale = 1 if meter == "E-KWH" else 1000
                    totals[meter] += round(rng.uniform(0, 0.5), 3) * scale
                    value: Any = totals[meter]
                    if rng.random() < 0.04:
                        value = totals[meter] - 5 * scale  # backwards
                    if rng.random() < 0.03:
                        value = totals[meter] + 500 * scale  # implausibly fast
                else:
                    value = round(rng.uniform(0, 20 if meter != "W-M" else 0.02), 3)
                    if rng.random() < 0.03:
                        value = 30_000 if meter != "W-M" else 30.0  # implausible
                row: dict[str, Any] = {"meter_id": meter, "at": at(minutes), "value": value}
                if meter in totals and rng.random() < 0.02:
                    row["reset"] = "true"
                    row["value"] = 0.5 * (1 if meter == "E-KWH" else 1000)
                    totals[meter] = row["value"]
                rows.append(row)
        rows.append({"meter_id": "NOPE", "at": at(0), "value": 1})
        rows.append({"meter_id": "W-M", "at": "not a time", "value": 1})
        rows.append({"meter_id": "W-M", "at": at(5), "value": "x"})
        rows.append({"meter_id": "G-L", "at": at(7), "value": -1})
        rows.append({"meter_id": "W-M", "at": at(9), "value": float("inf")})
        rows.extend(rng.sample(sent, min(len(sent), 6)))  # re-sent
        if sent:
            late = dict(rng.choice(sent))
            late["value"] = late["value"] + 0.001 if isinstance(late["value"], float) else 1.0
            rows.append(late)  # a different value for a stored time
        rng.shuffle(rows)
        sent.extend(r for r in rows if r["meter_id"] != "NOPE")
        batches.append(rows)
    return batches


def walk_only(columns: ingest_rows.Columns) -> ingest_rows.InOrder:
    """Every checked row to the row-by-row walk, as before the column path."""
    passed = np.flatnonzero(columns.code == 0)
    empty = np.zeros(0, dtype=np.int64)
    return ingest_rows.InOrder(empty, np.zeros(0), passed)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_column_path_decides_every_row_as_the_row_walk_does(
    meters: list[MeterSpec], monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    batches = messy_batches(seed)
    reports = [services.readings_ingest(actor=None, rows=rows) for rows in batches]
    fast = stored()
    Reading.objects.all().delete()
    monkeypatch.setattr(ingest, "rows_in_order", walk_only)
    walked = [services.readings_ingest(actor=None, rows=rows) for rows in batches]
    assert stored() == fast
    for mine, theirs in zip(reports, walked, strict=True):
        assert (mine.accepted, mine.duplicates) == (theirs.accepted, theirs.duplicates)
        assert mine.errors == theirs.errors
        assert mine.since == theirs.since
    codes = {e["code"] for r in reports for e in r.errors}
    assert {"implausible", "conflict", "unknown_meter", "negative", "not_finite"} <= codes


def test_a_feed_in_time_order_is_decided_without_the_row_walk(
    meters: list[MeterSpec], monkeypatch: pytest.MonkeyPatch
) -> None:
    walked: list[int] = []
    store = ingest._reading_store

    def spy(by_pk: Any, candidates: dict[int, list[Any]], *args: Any) -> None:
        walked.append(sum(len(rows) for rows in candidates.values()))
        store(by_pk, candidates, *args)

    monkeypatch.setattr(ingest, "_reading_store", spy)
    for day in range(2):
        rows = [
            {"meter_id": meter, "at": at(30 * step), "value": value}
            for step in range(day * 48, day * 48 + 48)
            for meter, value in (("W-M", 0.01), ("E-KWH", 100 + 0.2 * step), ("G-L", 40))
        ]
        report = services.readings_ingest(actor=None, rows=rows)
        assert (report.accepted, report.errors) == (144, [])
    assert walked == [0, 0]
    uses = [use for meter, _, _, use, _ in stored() if meter == "E-KWH"]
    assert uses == [0.0] + [pytest.approx(0.2)] * 95


def test_an_implausible_register_jump_in_an_ordered_feed_is_refused_with_its_row(
    meters: list[MeterSpec],
) -> None:
    rows = [
        {"meter_id": "E-KWH", "at": at(0), "value": 100.0},
        {"meter_id": "E-KWH", "at": at(30), "value": 100.5},
        {"meter_id": "E-KWH", "at": at(60), "value": 160.5},  # 60 kWh in half an hour
        {"meter_id": "E-KWH", "at": at(90), "value": 101.0},
        {"meter_id": "W-L", "at": at(0), "value": 12},
        {"meter_id": "W-L", "at": at(15), "value": 30_000},  # 30 m³ in 15 minutes
    ]
    report = services.readings_ingest(actor=None, rows=rows)
    assert [(e["row"], e["code"]) for e in report.errors] == [
        (2, "implausible"),
        (5, "implausible"),
    ]
    assert report.accepted == 4
    by_meter = [(m, use) for m, _, _, use, _ in stored()]
    assert by_meter == [
        ("E-KWH", 0.0),
        ("E-KWH", 0.5),
        ("E-KWH", pytest.approx(0.5)),
        ("W-L", 0.012),
    ]
