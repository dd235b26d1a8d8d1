"""Enrolment with consent, ingestion edge cases, detection from stored readings, and the alert →
family → visit task → outcome → escalation flow, through the services."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest
from django.utils import timezone

from civichub.core import services as core
from civichub.core.errors import PermissionDenied, ValidationFailed
from civichub.core.models import AuditEvent
from civichub.notify.models import Notification
from civichub.wellbeing import selectors, services
from civichub.wellbeing.models import (
    AlertStatus,
    Household,
    Reading,
    VisitOutcome,
    VisitStatus,
    VisitTask,
)
from civichub.wellbeing.services import ContactSpec, MeterSpec

pytestmark = pytest.mark.django_db


@pytest.fixture
def home(city: Any, make_user: Any, django_capture_on_commit_callbacks: Any) -> dict[str, Any]:
    community = city.community_a1
    worker = make_user("community_worker", community)
    head = make_user("community_head", city.subdistrict_a)
    daughter = make_user(None, None)
    feed = make_user("meter_feed", city.city)
    resident = core.resident_create(
        actor=None, name="王秀英", community=community, address="桃园路 3 号 2 单元 401"
    )
    household = services.household_enrol(
        actor=worker,
        resident=resident,
        worker=worker,
        consent_by="guardian",
        guardian_name="李明",
        consent_note="本人口头同意，社区工作者在场记录",
        meters=[
            MeterSpec("water", "W-001", cumulative=False),
            MeterSpec("electricity", "E-001", cumulative=True),
        ],
        contacts=[ContactSpec("李明", "13800000000", daughter)],
    )
    return {
        "household": household,
        "worker": worker,
        "head": head,
        "daughter": daughter,
        "feed": feed,
        "city": city,
    }


START = datetime(2026, 3, 2, 0, 30)  # noqa: DTZ001 - made aware below


def at(minutes: int) -> str:
    return timezone.make_aware(START + timedelta(minutes=minutes)).isoformat()


def quiet_day() -> list[dict[str, Any]]:
    """Water used until 08:00, then nothing for the rest of the day; electricity at standby."""
    rows = []
    for step in range(48):
        water = 0.02 if step < 16 else 0.0
        rows.append({"meter_id": "W-001", "at": at(30 * step), "value": water})
        rows.append({"meter_id": "E-001", "at": at(30 * step), "value": 100 + 0.05 * step})
    return rows


def test_a_guardian_must_record_how_the_resident_consented(home: dict[str, Any]) -> None:
    resident = home["household"].resident
    with pytest.raises(ValidationFailed) as caught:
        services.household_enrol(
            actor=home["worker"],
            resident=resident,
            worker=home["worker"],
            consent_by="guardian",
            meters=[MeterSpec("gas", "G-9")],
        )
    assert "consent_note" in caught.value.errors


def test_a_worker_of_another_community_cannot_enrol(home: dict[str, Any], make_user: Any) -> None:
    stranger = make_user("community_worker", home["city"].community_b1)
    with pytest.raises(PermissionDenied):
        services.household_enrol(
            actor=stranger,
            resident=home["household"].resident,
            worker=stranger,
            consent_by="resident",
            meters=[MeterSpec("gas", "G-9")],
        )


def test_ingestion_keeps_good_rows_and_reports_each_bad_one(home: dict[str, Any]) -> None:
    rows: list[dict[str, Any]] = [
        {"meter_id": "E-001", "at": at(0), "value": 100.0},
        {"meter_id": "E-001", "at": at(30), "value": 100.4},
        {"meter_id": "NOPE", "at": at(30), "value": 1},
        {"meter_id": "W-001", "at": at(30), "value": -0.01},
        {"meter_id": "W-001", "at": "yesterday", "value": 0.01},
        {"meter_id": "W-001", "at": at(60), "value": "lots"},
        {"meter_id": "E-001", "at": at(60), "value": 99.0},
        {"meter_id": "E-001", "at": at(90), "value": 3.0, "reset": True},
    ]
    report = services.readings_ingest(actor=home["feed"], rows=rows)
    assert report.accepted == 3
    assert [e["row"] for e in report.errors] == [2, 3, 4, 5, 6]
    assert "99.0" in report.errors[4]["error"]  # says which value went backwards
    uses = list(Reading.objects.filter(meter__meter_id="E-001").order_by("at").values_list("use"))
    assert [round(u[0], 3) for u in uses] == [0.0, 0.4, 3.0]


def test_the_same_reading_twice_counts_once(home: dict[str, Any]) -> None:
    rows = [{"meter_id": "W-001", "at": at(0), "value": 0.02}]
    services.readings_ingest(actor=home["feed"], rows=rows)
    again = services.readings_ingest(actor=home["feed"], rows=rows)
    assert (again.accepted, again.duplicates) == (0, 1)
    assert Reading.objects.count() == 1
    changed = services.readings_ingest(actor=home["feed"], rows=[{**rows[0], "value": 0.5}])
    assert changed.errors and Reading.objects.get().value == 0.02


def test_a_late_register_reading_splits_its_successors_use(home: dict[str, Any]) -> None:
    feed = home["feed"]
    services.readings_ingest(
        actor=feed,
        rows=[
            {"meter_id": "E-001", "at": at(0), "value": 10.0},
            {"meter_id": "E-001", "at": at(60), "value": 11.0},
        ],
    )
    services.readings_ingest(actor=feed, rows=[{"meter_id": "E-001", "at": at(30), "value": 10.3}])
    uses = Reading.objects.filter(meter__meter_id="E-001").order_by("at").values_list("use")
    assert [round(u[0], 3) for u in uses] == [0.0, 0.3, 0.7]


def test_a_replaced_meter_refuses_readings_and_the_new_one_starts_afresh(
    home: dict[str, Any],
) -> None:
    old = home["household"].meters.get(meter_id="E-001")
    services.readings_ingest(
        actor=home["feed"], rows=[{"meter_id": "E-001", "at": at(0), "value": 500}]
    )
    services.meter_replace(actor=home["worker"], meter=old, new_meter_id="E-002")
    report = services.readings_ingest(
        actor=home["feed"],
        rows=[
            {"meter_id": "E-001", "at": at(30), "value": 501},
            {"meter_id": "E-002", "at": at(30), "value": 0.5},
        ],
    )
    assert report.accepted == 1
    assert report.errors[0]["row"] == 0


def test_no_water_for_twelve_hours_alerts_the_family_then_the_worker_visits(
    home: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    household: Household = home["household"]
    with django_capture_on_commit_callbacks(execute=True):
        services.readings_ingest(actor=home["feed"], rows=quiet_day())
        alerts = services.detection_run(household_id=household.pk)
    no_use = [a for a in alerts if a.kind == "no_use"]
    assert len(no_use) == 1
    alert = no_use[0]
    assert alert.severity == "urgent"
    assert "litres of water" in alert.explanation
    assert alert.chart["hours"]
    assert Notification.objects.filter(recipient=home["daughter"]).exists()

    # Nobody in the family acknowledges in time: a visit task for the worker.
    later = timezone.now() + timedelta(minutes=16)
    with django_capture_on_commit_callbacks(execute=True):
        report = services.alerts_escalate(now=later)
    assert report.visits_created >= 1
    task = VisitTask.objects.get(alert=alert)
    assert task.worker == home["worker"]
    assert Notification.objects.filter(recipient=home["worker"]).exists()

    worker = home["worker"]
    task = services.visit_accept(actor=worker, task=task)
    task = services.visit_on_the_way(actor=worker, task=task)
    task = services.visit_record(
        actor=worker, task=task, outcome=VisitOutcome.NEEDED_HELP, real=True, note="摔倒，已扶起"
    )
    assert task.status == VisitStatus.VISITED
    alert.refresh_from_db()
    assert alert.status == AlertStatus.CLOSED

    # Detection resumes where it stopped: nothing is raised twice.
    assert services.detection_run(household_id=household.pk) == []


def test_an_acknowledged_alert_does_not_become_a_visit(
    home: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        services.readings_ingest(actor=home["feed"], rows=quiet_day())
    alerts = services.detection_run(household_id=home["household"].pk)
    for alert in alerts:
        services.alert_acknowledge(actor=home["daughter"], alert=alert)
    services.alerts_escalate(now=timezone.now() + timedelta(hours=1))
    assert not VisitTask.objects.exists()


def test_an_overdue_visit_goes_to_the_community_head(
    home: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        services.readings_ingest(actor=home["feed"], rows=quiet_day())
    services.detection_run(household_id=home["household"].pk)
    services.alerts_escalate(now=timezone.now() + timedelta(minutes=16))
    with django_capture_on_commit_callbacks(execute=True):
        report = services.alerts_escalate(now=timezone.now() + timedelta(minutes=120))
    assert report.visits_escalated >= 1
    task = VisitTask.objects.first()
    assert task is not None
    assert task.status == VisitStatus.ESCALATED
    assert task.escalated_to == home["head"]
    assert Notification.objects.filter(recipient=home["head"]).exists()


def test_withdrawn_consent_stops_processing_at_once(
    home: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    household = home["household"]
    services.readings_ingest(actor=home["feed"], rows=quiet_day()[:10])
    services.consent_withdraw(actor=home["daughter"], household=household, reason="搬去子女家")
    report = services.readings_ingest(actor=home["feed"], rows=quiet_day()[10:])
    assert report.accepted == 0
    assert len(report.errors) == len(quiet_day()) - 10
    assert len({e["error"] for e in report.errors}) == 1
    assert services.detection_run(household_id=household.pk) == []
    household.refresh_from_db()
    assert household.detector_state is None


def test_marking_the_household_away_silences_no_use(home: dict[str, Any]) -> None:
    household = home["household"]
    services.away_mark(
        actor=home["daughter"],
        household=household,
        starts_at=timezone.make_aware(START + timedelta(hours=7)),
        ends_at=timezone.make_aware(START + timedelta(days=2)),
        reason="去女儿家住",
    )
    services.readings_ingest(actor=home["feed"], rows=quiet_day())
    alerts = services.detection_run(household_id=household.pk)
    assert [a.kind for a in alerts if a.kind == "no_use"] == []


def test_every_view_of_a_household_is_audited(home: dict[str, Any], make_user: Any) -> None:
    household = home["household"]
    selectors.household_detail(actor=home["worker"], household_id=household.pk)
    assert AuditEvent.objects.filter(action="wellbeing.household.view").count() == 1
    stranger = make_user("community_worker", home["city"].community_b1)
    with pytest.raises(PermissionDenied):
        selectors.household_detail(actor=stranger, household_id=household.pk)


def test_a_false_alarm_visit_makes_that_household_less_sensitive(
    home: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    household = home["household"]
    services.readings_ingest(actor=home["feed"], rows=quiet_day())
    services.detection_run(household_id=household.pk)
    services.alerts_escalate(now=timezone.now() + timedelta(minutes=30))
    task = VisitTask.objects.get(alert__kind="no_use")
    worker = home["worker"]
    services.visit_accept(actor=worker, task=task)
    services.visit_record(actor=worker, task=task, outcome=VisitOutcome.FINE, real=False)
    household.refresh_from_db()
    mask = np.array([[True, True, False]])
    assert services._state_load(household, mask).state.sensitivity[0] == 1.25


def test_after_withdrawal_an_open_visit_no_longer_escalates(home: dict[str, Any]) -> None:
    services.readings_ingest(actor=home["feed"], rows=quiet_day())
    services.detection_run(household_id=home["household"].pk)
    services.alerts_escalate(now=timezone.now() + timedelta(minutes=30))
    assert VisitTask.objects.exists()
    services.consent_withdraw(actor=home["worker"], household=home["household"])
    report = services.alerts_escalate(now=timezone.now() + timedelta(hours=3))
    assert report.visits_escalated == 0
    assert not VisitTask.objects.filter(status=VisitStatus.ESCALATED).exists()
