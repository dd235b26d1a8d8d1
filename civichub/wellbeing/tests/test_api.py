"""The readings batch API and the CSV import: per-row reports, idempotency, and the worker's
visit actions; every response checked against the committed OpenAPI document."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from civichub.wellbeing import services
from civichub.wellbeing.models import Reading, VisitTask
from civichub.wellbeing.tests.test_services import at, home, quiet_day  # noqa: F401

pytestmark = pytest.mark.django_db


def test_a_batch_keeps_good_rows_reports_bad_ones_and_counts_repeats_once(
    home: dict[str, Any],  # noqa: F811
    api_as: Any,
) -> None:
    client = api_as(home["feed"])
    body = {
        "readings": [
            {"meter_id": "W-001", "at": at(0), "value": 0.02},
            {"meter_id": "W-001", "at": at(30), "value": "x"},
            {"meter_id": "W-404", "at": at(30), "value": 0.01},
        ]
    }
    first = client.post("/api/wellbeing/readings", body)
    assert first.status_code == 200
    assert first.json()["accepted"] == 1
    assert [e["row"] for e in first.json()["errors"]] == [1, 2]
    again = client.post("/api/wellbeing/readings", body)
    assert again.json()["duplicates"] == 1
    assert Reading.objects.count() == 1


def test_a_worker_cannot_send_readings(home: dict[str, Any], api_as: Any) -> None:  # noqa: F811
    response = api_as(home["worker"]).post("/api/wellbeing/readings", {"readings": []})
    assert response.status_code == 403


def test_the_worker_accepts_and_records_a_visit_through_the_api(
    home: dict[str, Any],  # noqa: F811
    api_as: Any,
) -> None:
    services.readings_ingest(actor=home["feed"], rows=quiet_day())
    services.detection_run(household_id=home["household"].pk)
    services.alerts_escalate(now=timezone.now() + timedelta(minutes=30))
    task = VisitTask.objects.first()
    assert task is not None
    client = api_as(home["worker"])
    assert client.post(f"/api/wellbeing/visits/{task.pk}/accept").json()["status"] == "accepted"
    done = client.post(
        f"/api/wellbeing/visits/{task.pk}/outcome",
        {"outcome": "not_home", "real": False, "note": "在女儿家"},
    )
    assert done.json()["status"] == "visited"
    assert client.post(f"/api/wellbeing/visits/{task.pk}/accept").status_code == 409


def test_csv_import_reports_bad_lines_and_keeps_the_rest(
    home: dict[str, Any],  # noqa: F811
    tmp_path: Path,
    capsys: Any,
) -> None:
    path = tmp_path / "readings.csv"
    path.write_text(
        "meter_id,at,value,reset\n"
        f"E-001,{at(0)},100.0,\n"
        f"E-001,{at(30)},99.5,\n"
        f"E-001,{at(60)},0.2,yes\n"
        f"E-001,{at(0)},100.0,\n",
        encoding="utf-8",
    )
    call_command("wellbeing_import", str(path))
    out = capsys.readouterr().out
    assert "accepted: 2" in out
    assert "duplicates: 1" in out
    assert "line 3:" in out
