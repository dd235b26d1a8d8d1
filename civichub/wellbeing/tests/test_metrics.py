"""Wellbeing's figures on /metrics: the ingestion lag follows the newest reading stored, and the
households waiting for detection are counted."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from civichub.core import services as core
from civichub.wellbeing import services
from civichub.wellbeing.metrics import readings
from civichub.wellbeing.services import MeterSpec

pytestmark = pytest.mark.django_db


def _figures() -> dict[str, float]:
    return {reading.name: reading.value for reading in readings()}


def test_ingestion_lag_and_detection_backlog(
    city: Any, make_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    worker = make_user("community_worker", city.community_a1)
    resident = core.resident_create(actor=None, name="王秀英", community=city.community_a1)
    services.household_enrol(
        actor=None,
        resident=resident,
        worker=worker,
        consent_by="resident",
        meters=[MeterSpec("water", "W-1", cumulative=False)],
    )
    assert "wellbeing_ingestion_lag_seconds" not in _figures()  # nothing read yet
    assert _figures()["wellbeing_detection_backlog"] == 0

    now = timezone.now()
    rows = [
        {"meter_id": "W-1", "at": (now - timedelta(minutes=m)).isoformat(), "value": 0.01}
        for m in (70, 40)
    ]
    with django_capture_on_commit_callbacks(execute=True):  # the household is marked due
        report = services.readings_ingest(actor=None, rows=rows)
    assert not report.errors
    figures = _figures()
    assert 40 * 60 <= figures["wellbeing_ingestion_lag_seconds"] < 40 * 60 + 30
    assert figures["wellbeing_detection_backlog"] == 1
    assert figures["wellbeing_households"] == 1


def test_ingestion_lag_reaches_back_past_a_day(city: Any, make_user: Any) -> None:
    worker = make_user("community_worker", city.community_a1)
    resident = core.resident_create(actor=None, name="赵德明", community=city.community_a1)
    services.household_enrol(
        actor=None,
        resident=resident,
        worker=worker,
        consent_by="resident",
        meters=[MeterSpec("water", "W-2", cumulative=False)],
    )
    old = (timezone.now() - timedelta(days=3)).isoformat()
    services.readings_ingest(actor=None, rows=[{"meter_id": "W-2", "at": old, "value": 0.01}])
    assert _figures()["wellbeing_ingestion_lag_seconds"] >= 3 * 86400
