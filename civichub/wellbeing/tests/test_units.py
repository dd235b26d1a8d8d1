"""Meters declare their unit and reading interval: ingestion keeps each value as sent, stores
the use in m³ and kWh (what detection works in), and refuses a use no household could have in
the time it covers."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from civichub.core import services as core
from civichub.core.errors import ValidationFailed
from civichub.core.models import AuditEvent
from civichub.wellbeing import services
from civichub.wellbeing.models import Household, Meter, Reading
from civichub.wellbeing.services import MeterSpec

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 1, 0)  # noqa: DTZ001 - made aware below


def at(minutes: float) -> str:
    return timezone.make_aware(START + timedelta(minutes=minutes)).isoformat()


def enrol(city: Any, worker: Any, meters: list[MeterSpec], name: str = "王秀英") -> Household:
    resident = core.resident_create(actor=None, name=name, community=city.community_a1)
    return services.household_enrol(
        actor=None, resident=resident, worker=worker, consent_by="resident", meters=meters
    )


@pytest.fixture
def worker(city: Any, make_user: Any) -> Any:
    return make_user("community_worker", city.community_a1)


def stored(meter_id: str) -> list[tuple[float, float]]:
    """(value as sent, use) of a meter's readings in time order, unrounded."""
    rows = Reading.objects.filter(meter__meter_id=meter_id).order_by("at")
    return [(r.value, r.use) for r in rows]


def codes(report: services.IngestReport) -> list[tuple[int, str]]:
    return [(e["row"], e["code"]) for e in report.errors]


def test_litres_and_watt_hours_are_kept_as_sent_and_used_in_cubic_metres_and_kilowatt_hours(
    city: Any, worker: Any
) -> None:
    enrol(
        city,
        worker,
        [
            MeterSpec("water", "W-L", cumulative=False, unit="L", interval_minutes=15),
            MeterSpec("electricity", "E-WH", unit="Wh", interval_minutes=15),
            MeterSpec("gas", "G-L", unit="L", interval_minutes=15),
        ],
    )
    rows: list[dict[str, Any]] = [
        {"meter_id": "W-L", "at": at(0), "value": 12},
        {"meter_id": "W-L", "at": at(15), "value": "7"},
        # A fridge's 30 Wh on a register that reads millions of watt-hours: exactly 0.03 kWh
        # (subtracting in kWh, 12345.708 - 12345.678, would not be).
        {"meter_id": "E-WH", "at": at(0), "value": 12345678},
        {"meter_id": "E-WH", "at": at(15), "value": 12345708},
        {"meter_id": "E-WH", "at": at(30), "value": "12345738"},
        {"meter_id": "G-L", "at": at(0), "value": 800123},
        {"meter_id": "G-L", "at": at(15), "value": 800223},
    ]
    report = services.readings_ingest(actor=None, rows=rows)
    assert (report.accepted, report.errors) == (7, [])
    assert stored("W-L") == [(12.0, 0.012), (7.0, 0.007)]
    assert stored("E-WH") == [(12345678.0, 0.0), (12345708.0, 0.03), (12345738.0, 0.03)]
    assert stored("G-L") == [(800123.0, 0.0), (800223.0, 0.1)]


def test_canonical_units_are_stored_unchanged(city: Any, worker: Any) -> None:
    enrol(city, worker, [MeterSpec("water", "W-M3", cumulative=False)])
    report = services.readings_ingest(
        actor=None, rows=[{"meter_id": "W-M3", "at": at(0), "value": 0.012}]
    )
    assert report.accepted == 1
    assert stored("W-M3") == [(0.012, 0.012)]
    assert Meter.objects.get(meter_id="W-M3").unit == "m3"


def test_a_decimal_register_in_kilowatt_hours_gives_its_use_without_round_off(
    city: Any, worker: Any
) -> None:
    enrol(city, worker, [MeterSpec("electricity", "E-KWH")])
    rows = [
        {"meter_id": "E-KWH", "at": at(minutes), "value": value}
        for minutes, value in ((0, 12345.678), (30, 12345.708), (60, 12345.738))
    ]
    # A late reading splits its successor's use, without round-off too.
    late = {"meter_id": "E-KWH", "at": at(45), "value": 12345.718}
    assert services.readings_ingest(actor=None, rows=rows).accepted == 3
    assert services.readings_ingest(actor=None, rows=[late]).accepted == 1
    assert [use for _, use in stored("E-KWH")] == [0.0, 0.03, 0.01, 0.02]


def test_an_implausible_reading_is_refused_with_its_row_and_the_rest_of_the_batch_lands(
    city: Any, worker: Any
) -> None:
    enrol(
        city,
        worker,
        [
            MeterSpec("water", "W-15", cumulative=False, interval_minutes=15),
            MeterSpec("electricity", "E-30", unit="Wh"),
            MeterSpec("gas", "G-15", cumulative=False, unit="L", interval_minutes=15),
        ],
    )
    rows: list[dict[str, Any]] = [
        {"meter_id": "W-15", "at": at(0), "value": 0.02},
        {"meter_id": "W-15", "at": at(15), "value": 30},  # 30 m³ of water in 15 minutes
        {"meter_id": "W-15", "at": at(30), "value": 1.25},  # 5 m³/h, the pipe's most: plausible
        # kWh sent to a meter enrolled in Wh would do the same; here 30 kWh in half an hour.
        {"meter_id": "E-30", "at": at(0), "value": 5_000_000},
        {"meter_id": "E-30", "at": at(30), "value": 5_030_000},
        {"meter_id": "E-30", "at": at(60), "value": 5_000_400},  # 0.4 kWh after the first
        {"meter_id": "G-15", "at": at(0), "value": 1600},  # 1.6 m³ in 15 minutes, G4 gives 1.5
        {"meter_id": "G-15", "at": at(15), "value": 1500},
    ]
    report = services.readings_ingest(actor=None, rows=rows)
    assert codes(report) == [(1, "implausible"), (4, "implausible"), (6, "implausible")]
    assert "30" in report.errors[0]["error"]
    assert report.accepted == 5
    assert [use for _, use in stored("W-15")] == [0.02, 1.25]
    assert stored("E-30") == [(5_000_000.0, 0.0), (5_000_400.0, 0.4)]
    assert stored("G-15") == [(1500.0, 1.5)]
    event = AuditEvent.objects.filter(action="wellbeing.readings.ingest").latest("pk")
    assert event.changes["errors"] == 3


def test_a_register_jump_is_judged_over_the_time_since_the_reading_before_it(
    city: Any, worker: Any
) -> None:
    enrol(city, worker, [MeterSpec("water", "W-R")])
    services.readings_ingest(
        actor=None,
        rows=[
            {"meter_id": "W-R", "at": at(0), "value": 100.0},
            {"meter_id": "W-R", "at": at(600), "value": 108.0},  # 8 m³ over 10 hours: fine
        ],
    )
    # A late reading would leave the stored one after it 7.9 m³ in half an hour.
    late = services.readings_ingest(
        actor=None, rows=[{"meter_id": "W-R", "at": at(570), "value": 100.1}]
    )
    assert codes(late) == [(0, "implausible")]
    assert stored("W-R") == [(100.0, 0.0), (108.0, 8.0)]
    fine = services.readings_ingest(
        actor=None, rows=[{"meter_id": "W-R", "at": at(570), "value": 107.9}]
    )
    assert fine.accepted == 1
    assert [round(use, 9) for _, use in stored("W-R")] == [0.0, 7.9, 0.1]


@override_settings(CIVICHUB_WELLBEING={"water_max_m3_per_hour": 1.0})
def test_the_limits_are_the_deployment_profiles(city: Any, worker: Any) -> None:
    enrol(city, worker, [MeterSpec("water", "W-P", cumulative=False)])
    report = services.readings_ingest(
        actor=None,
        rows=[
            {"meter_id": "W-P", "at": at(0), "value": 0.5},
            {"meter_id": "W-P", "at": at(30), "value": 0.6},
        ],
    )
    assert codes(report) == [(1, "implausible")]


def test_enrolment_stores_each_meters_unit_interval_and_reporting(city: Any, worker: Any) -> None:
    home = enrol(
        city,
        worker,
        [
            MeterSpec("water", "W-NB", unit="L", interval_minutes=60, report_every_minutes=1440),
            MeterSpec("electricity", "E-D"),
        ],
    )
    water, power = home.meters.order_by("meter_id")[1], home.meters.order_by("meter_id")[0]
    assert (water.unit, water.interval_minutes, water.report_every_minutes) == ("L", 60, 1440)
    # Left out: the canonical unit, half-hourly, sent with each reading.
    assert (power.unit, power.interval_minutes, power.report_every_minutes) == ("kWh", 30, 30)
    event = AuditEvent.objects.filter(action="wellbeing.household.enrol").latest("pk")
    assert {"meter": "W-NB", "unit": "L", "interval_minutes": 60, "report_every_minutes": 1440} in (
        event.changes["meters"]
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (MeterSpec("water", "W-X", unit="kWh"), "单位"),
        (MeterSpec("electricity", "E-X", unit="L"), "单位"),
        (MeterSpec("gas", "G-X", interval_minutes=7), "读数间隔"),
        (MeterSpec("gas", "G-X", interval_minutes=60, report_every_minutes=90), "上报间隔"),
        (MeterSpec("gas", "G-X", interval_minutes=60, report_every_minutes=30), "上报间隔"),
    ],
)
def test_a_unit_interval_or_reporting_that_does_not_fit_is_refused(
    city: Any, worker: Any, spec: MeterSpec, message: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        enrol(city, worker, [spec])
    assert any(message in error for error in refused.value.errors["meters"])
    assert not Meter.objects.exists()


def test_meter_add_and_replace_keep_units(city: Any, worker: Any) -> None:
    home = enrol(city, worker, [MeterSpec("gas", "G-1")])
    added = services.meter_add(
        actor=worker,
        household=home,
        spec=MeterSpec("water", "W-2", unit="L", interval_minutes=60, report_every_minutes=1440),
    )
    assert (added.unit, added.interval_minutes, added.report_every_minutes) == ("L", 60, 1440)
    swap = timezone.now()
    same = services.meter_replace(actor=worker, meter=added, new_meter_id="W-3", at=swap)
    assert (same.unit, same.interval_minutes, same.report_every_minutes) == ("L", 60, 1440)
    other = services.meter_replace(
        actor=worker, meter=same, new_meter_id="W-4", at=swap, unit="m3", interval_minutes=15
    )
    assert (other.unit, other.interval_minutes, other.report_every_minutes) == ("m3", 15, 15)
    with pytest.raises(ValidationFailed):
        services.meter_replace(actor=worker, meter=other, new_meter_id="W-5", unit="Wh")


def test_a_parquet_file_in_litres_is_converted_and_its_implausible_row_reported(
    city: Any, worker: Any, tmp_path: Path, capsys: Any
) -> None:
    enrol(city, worker, [MeterSpec("water", "W-F", cumulative=False, unit="L")])
    table = pa.table(
        {
            "meter_id": ["W-F", "W-F", "W-F"],
            "at": [at(0), at(30), at(60)],
            "value": [6, 30_000, 45],  # 30,000 L is 30 m³ in half an hour
        }
    )
    path = tmp_path / "readings.parquet"
    pq.write_table(table, path)
    call_command("wellbeing", "import", str(path), "--no-progress")
    out = capsys.readouterr().out
    assert "accepted: 2" in out
    assert "row 2:" in out and "(implausible)" in out
    assert stored("W-F") == [(6.0, 0.006), (45.0, 0.045)]
