"""`civichub wellbeing import`: CSV and Parquet files read in batches through the ingestion
service, refused rows reported by line or row with the reason."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from civichub.core.models import AuditEvent
from civichub.wellbeing.models import Reading
from civichub.wellbeing.tests.test_ingest import START, at, homes, stored  # noqa: F401

pytestmark = pytest.mark.django_db


def run(*args: str, capsys: Any) -> str:
    call_command("wellbeing", *args)
    return str(capsys.readouterr().out)


def test_a_csv_file_is_imported_in_batches_with_each_bad_line_reported(
    homes: dict[str, Any],  # noqa: F811
    tmp_path: Path,
    capsys: Any,
) -> None:
    path = tmp_path / "readings.csv"
    path.write_text(
        "meter_id,at,value,reset\n"
        f"E-1,{at(0)},100.0,\n"
        f"E-1,{at(30)},99.5,\n"
        f"E-1,{at(60)},0.2,yes\n"
        f"NOPE,{at(60)},0.2,\n"
        f"W-1,{at(60)},0.02,false\n"
        f"E-1,{at(0)},100.0,\n",
        encoding="utf-8",
    )
    rejects = tmp_path / "rejects.csv"
    out = run(
        "import",
        str(path),
        "--batch",
        "2",
        "--no-progress",
        "--rejects",
        str(rejects),
        capsys=capsys,
    )
    assert "accepted: 3" in out
    assert "duplicates: 1" in out
    assert "errors: 2" in out
    assert "line 3:" in out and "(backwards)" in out
    assert "line 5:" in out and "(unknown_meter)" in out
    assert stored("E-1") == [(100.0, 0.0, False), (0.2, 0.2, True)]
    with rejects.open(encoding="utf-8") as handle:
        refused = list(csv.DictReader(handle))
    assert [(r["line"], r["meter_id"], r["code"]) for r in refused] == [
        ("3", "E-1", "backwards"),
        ("5", "NOPE", "unknown_meter"),
    ]
    # Three batches of two rows: each one audited on its own.
    assert AuditEvent.objects.filter(action="wellbeing.readings.ingest").count() == 3


def test_importing_the_same_file_twice_stores_each_reading_once(
    homes: dict[str, Any],  # noqa: F811
    tmp_path: Path,
    capsys: Any,
) -> None:
    path = tmp_path / "readings.csv"
    lines = ["meter_id,at,value"] + [f"W-1,{at(30 * step)},0.01" for step in range(50)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert "accepted: 50" in run("import", str(path), "--no-progress", capsys=capsys)
    again = run("import", str(path), "--no-progress", capsys=capsys)
    assert "accepted: 0" in again and "duplicates: 50" in again
    assert Reading.objects.count() == 50


def test_a_parquet_file_with_typed_columns_is_imported_in_batches(
    homes: dict[str, Any],  # noqa: F811
    tmp_path: Path,
    capsys: Any,
) -> None:
    first = timezone.make_aware(START).astimezone(UTC)
    times = [first + timedelta(minutes=30 * step) for step in range(6)]
    table = pa.table(
        {
            "meter_id": ["E-1"] * 6 + ["W-1", "W-1"],
            "at": pa.array(times + times[:2], type=pa.timestamp("ns", tz="UTC")),
            "value": [10.0, 10.5, 11.0, 2.0, 1.0, 2.5, 0.01, -1.0],
            "reset": [False, False, False, True, False, False, False, False],
        }
    )
    path = tmp_path / "readings.parquet"
    pq.write_table(table, path, row_group_size=3)
    out = run("import", str(path), "--batch", "3", "--no-progress", capsys=capsys)
    assert "accepted: 6" in out
    assert "errors: 2" in out
    assert "row 5:" in out and "(backwards)" in out  # 1.0 after 2.0 with no reset
    assert "row 8:" in out and "(negative)" in out
    assert stored("E-1") == [
        (10.0, 0.0, False),
        (10.5, 0.5, False),
        (11.0, 0.5, False),
        (2.0, 2.0, True),
        (2.5, 0.5, False),
    ]
    assert Reading.objects.get(meter__meter_id="W-1").at == times[0]


def test_a_parquet_file_with_naive_times_and_text_values_reads_them_as_local(
    homes: dict[str, Any],  # noqa: F811
    tmp_path: Path,
    capsys: Any,
) -> None:
    table = pa.table(
        {
            "meter_id": ["W-1", "W-1"],
            "at": pa.array(
                [datetime(2026, 3, 2, 8, 0), datetime(2026, 3, 2, 8, 30)],  # noqa: DTZ001
                type=pa.timestamp("us"),
            ),
            "value": ["0.01", "n/a"],
        }
    )
    path = tmp_path / "readings.parquet"
    pq.write_table(table, path)
    out = run("import", str(path), "--no-progress", capsys=capsys)
    assert "accepted: 1" in out and "row 2:" in out and "(not_a_number)" in out
    reading = Reading.objects.get()
    assert timezone.localtime(reading.at).strftime("%H:%M") == "08:00"


def test_a_parquet_file_may_number_its_meters(
    city: Any,
    homes: dict[str, Any],  # noqa: F811
    tmp_path: Path,
    capsys: Any,
) -> None:
    from civichub.core import services as core
    from civichub.wellbeing import services
    from civichub.wellbeing.services import MeterSpec

    resident = core.resident_create(actor=None, name="钱玉兰", community=city.community_a1)
    services.household_enrol(
        actor=None,
        resident=resident,
        worker=homes["worker"],
        consent_by="resident",
        meters=[MeterSpec("water", "0", cumulative=False), MeterSpec("gas", "4711")],
    )
    table = pa.table({"meter_id": [0, 4711], "at": [at(0), at(0)], "value": [0.01, 3.0]})
    path = tmp_path / "readings.parquet"
    pq.write_table(table, path)
    assert "accepted: 2" in run("import", str(path), "--no-progress", capsys=capsys)


def test_a_file_without_the_needed_columns_is_refused_before_anything_is_stored(
    homes: dict[str, Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    path = tmp_path / "readings.parquet"
    pq.write_table(pa.table({"meter": ["W-1"], "at": ["2026-03-02T08:00"]}), path)
    with pytest.raises(CommandError, match="meter_id"):
        call_command("wellbeing", "import", str(path), "--no-progress")
    csv_path = tmp_path / "readings.csv"
    csv_path.write_text("meter_id,time,value\nW-1,2026-03-02T08:00,1\n", encoding="utf-8")
    with pytest.raises(CommandError, match="at"):
        call_command("wellbeing", "import", str(csv_path), "--no-progress")
    assert not Reading.objects.exists()


def test_the_progress_bar_counts_the_rows_on_stderr(
    homes: dict[str, Any],  # noqa: F811
    tmp_path: Path,
    capsys: Any,
) -> None:
    path = tmp_path / "readings.csv"
    lines = ["meter_id,at,value"] + [f"W-1,{at(30 * step)},0.01" for step in range(30)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    call_command("wellbeing", "import", str(path), "--batch", "10")
    err = capsys.readouterr().err
    assert "30/30" in err
