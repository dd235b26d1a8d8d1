"""Enrolment with consent, ingestion edge cases, detection from stored readings, and the alert →
family → visit task → outcome → escalation flow, through the services."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest
from django.test import Client
from django.utils import timezone

from civichub.core import services as core
from civichub.core.errors import Conflict, PermissionDenied, ValidationFailed
from civichub.core.models import AuditEvent
from civichub.notify.models import DeliveryState, Notification, SmsLog
from civichub.notify.tests.conftest import Mailbox, smtp_server  # noqa: F401  (a fixture)
from civichub.wellbeing import selectors, services
from civichub.wellbeing.models import (
    AlertStatus,
    AwayPeriod,
    Household,
    Reading,
    VisitOutcome,
    VisitStatus,
    VisitTask,
)
from civichub.wellbeing.services import ContactSpec, MeterSpec, detector_state

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
    swap = timezone.make_aware(START + timedelta(minutes=10))
    services.meter_replace(actor=home["worker"], meter=old, new_meter_id="E-002", at=swap)
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
    assert detector_state.state_load(household, mask).state.sensitivity[0] == 1.25


def test_after_withdrawal_an_open_visit_no_longer_escalates(home: dict[str, Any]) -> None:
    services.readings_ingest(actor=home["feed"], rows=quiet_day())
    services.detection_run(household_id=home["household"].pk)
    services.alerts_escalate(now=timezone.now() + timedelta(minutes=30))
    assert VisitTask.objects.exists()
    services.consent_withdraw(actor=home["worker"], household=home["household"])
    report = services.alerts_escalate(now=timezone.now() + timedelta(hours=3))
    assert report.visits_escalated == 0
    assert not VisitTask.objects.filter(status=VisitStatus.ESCALATED).exists()


# --- enrolment, contacts, meters, time away and the family's answer ---------------------------


def _resident(home: dict[str, Any], name: str = "赵桂兰") -> Any:
    return core.resident_create(actor=None, name=name, community=home["city"].community_a1)


def test_a_signed_form_needs_its_document_reference_and_the_record_keeps_how_and_when(
    home: dict[str, Any],
) -> None:
    resident = _resident(home)
    when = timezone.now() - timedelta(days=1)
    spec = {
        "actor": home["worker"],
        "resident": resident,
        "worker": home["worker"],
        "consent_by": "worker",
        "consent_method": "signed_form",
        "consent_at": when,
        "consent_note": "本人在社区服务中心签字",
        "meters": [MeterSpec("gas", "G-1")],
    }
    with pytest.raises(ValidationFailed) as caught:
        services.household_enrol(**spec)
    assert set(caught.value.errors) == {"consent_document"}
    household = services.household_enrol(**spec, consent_document="TY-2026-0042")
    assert (household.consent_method, household.consent_document, household.consent_at) == (
        "signed_form",
        "TY-2026-0042",
        when,
    )
    assert household.enrolled_by == home["worker"]
    event = AuditEvent.objects.get(action="wellbeing.household.enrol", object_id=str(household.pk))
    assert event.changes["consent_document"] == "TY-2026-0042"


def test_only_the_resident_can_consent_in_the_app_and_the_worker_must_serve_the_community(
    home: dict[str, Any], make_user: Any
) -> None:
    elsewhere = make_user("community_worker", home["city"].community_b1)
    with pytest.raises(ValidationFailed) as caught:
        services.household_enrol(
            actor=home["worker"],
            resident=_resident(home),
            worker=elsewhere,
            consent_by="guardian",
            guardian_name="赵强",
            consent_note="电话中本人同意",
            consent_method="app",
            meters=[MeterSpec("water", "W-9"), MeterSpec("gas", "W-9")],
        )
    assert {"consent_method", "worker", "meters"} <= set(caught.value.errors)


def test_a_resident_enrols_their_own_home_in_the_app(home: dict[str, Any], make_user: Any) -> None:
    resident = _resident(home)
    account = make_user(None, None, resident=resident)
    household = services.household_enrol(
        actor=account,
        resident=resident,
        worker=home["worker"],
        consent_by="resident",
        meters=[MeterSpec("electricity", "E-77")],
    )
    assert household.consent_method == "app"
    other = _resident(home, "钱多多")
    with pytest.raises(PermissionDenied):
        services.household_enrol(
            actor=account,
            resident=other,
            worker=home["worker"],
            consent_by="resident",
            meters=[MeterSpec("electricity", "E-78")],
        )


def test_a_household_cannot_be_enrolled_twice_while_consent_stands(home: dict[str, Any]) -> None:
    with pytest.raises(Conflict):
        services.household_enrol(
            actor=home["worker"],
            resident=home["household"].resident,
            worker=home["worker"],
            consent_by="worker",
            consent_note="当面同意",
            meters=[MeterSpec("gas", "G-2")],
        )


def test_contacts_are_replaced_in_calling_order_and_meters_added_and_removed(
    home: dict[str, Any],
) -> None:
    household = home["household"]
    contacts = services.household_contacts_set(
        actor=home["worker"],
        household=household,
        contacts=[ContactSpec("李红", "13900000001"), ContactSpec("李明", "13800000000")],
    )
    assert [(c.name, c.order) for c in contacts] == [("李红", 0), ("李明", 1)]
    with pytest.raises(ValidationFailed) as caught:
        services.household_contacts_set(
            actor=home["worker"], household=household, contacts=[ContactSpec("无号码")]
        )
    assert "contacts" in caught.value.errors
    meter = services.meter_add(
        actor=home["worker"], household=household, spec=MeterSpec("gas", "G-5")
    )
    services.meter_remove(actor=home["worker"], meter=meter)
    meter.refresh_from_db()
    assert not meter.active
    report = services.readings_ingest(
        actor=home["feed"], rows=[{"meter_id": "G-5", "at": at(0), "value": 1.0}]
    )
    assert report.accepted == 0 and report.errors


def test_time_away_can_be_ended_early_or_cancelled(home: dict[str, Any]) -> None:
    household = home["household"]
    now = timezone.now()
    current = services.away_mark(
        actor=home["daughter"],
        household=household,
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=3),
        kind="hospital",
    )
    upcoming = services.away_mark(
        actor=home["worker"],
        household=household,
        starts_at=now + timedelta(days=10),
        ends_at=now + timedelta(days=12),
        kind="travel",
    )
    with pytest.raises(Conflict):
        services.away_end(actor=home["worker"], period=upcoming)  # not started: cancel it instead
    ended = services.away_end(actor=home["daughter"], period=current)
    assert ended.ends_at <= timezone.now()
    with pytest.raises(Conflict):
        services.away_end(actor=home["daughter"], period=ended)
    cancelled = services.away_cancel(actor=home["worker"], period=upcoming)
    assert cancelled.cancelled_at is not None
    with pytest.raises(ValidationFailed) as caught:
        services.away_mark(
            actor=home["worker"], household=household, starts_at=now, ends_at=now, kind="moon"
        )
    assert {"kind", "ends_at"} <= set(caught.value.errors)
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"wellbeing.away.mark", "wellbeing.away.end", "wellbeing.away.cancel"} <= actions


def test_time_away_is_bounded_and_a_long_absence_needs_a_reason_and_a_review_date(
    home: dict[str, Any],
) -> None:
    household, worker = home["household"], home["worker"]
    now = timezone.now()

    def mark(days: float, **extra: Any) -> Any:
        return services.away_mark(
            actor=worker, household=household, starts_at=now, ends_at=now + timedelta(days), **extra
        )

    with pytest.raises(ValidationFailed) as caught:
        services.away_mark(
            actor=worker,
            household=household,
            starts_at=now,
            ends_at=datetime(9999, 12, 31, tzinfo=now.tzinfo),
        )
    assert "ends_at" in caught.value.errors
    with pytest.raises(ValidationFailed) as caught:
        mark(31, reason="住院", review_on=(now + timedelta(days=14)).date())
    assert "ends_at" in caught.value.errors
    with pytest.raises(ValidationFailed) as caught:
        mark(10)
    assert {"reason", "review_on"} <= set(caught.value.errors)
    with pytest.raises(ValidationFailed) as caught:
        mark(10, reason="住院", review_on=(now - timedelta(days=1)).date())
    assert "review_on" in caught.value.errors
    long = mark(10, reason="住院", review_on=(now + timedelta(days=5)).date())
    assert (long.reason, long.review_on) == ("住院", (now + timedelta(days=5)).date())
    short = mark(3)
    assert (short.reason, short.review_on) == ("", None)
    assert AwayPeriod.objects.filter(household=household).count() == 2


def test_a_cancelled_away_period_no_longer_silences_no_use(home: dict[str, Any]) -> None:
    household = home["household"]
    period = services.away_mark(
        actor=home["daughter"],
        household=household,
        starts_at=timezone.make_aware(START + timedelta(hours=7)),
        ends_at=timezone.make_aware(START + timedelta(days=2)),
    )
    services.away_cancel(actor=home["daughter"], period=period)
    services.readings_ingest(actor=home["feed"], rows=quiet_day())
    alerts = services.detection_run(household_id=household.pk)
    assert [a.kind for a in alerts if a.kind == "no_use"] == ["no_use"]


def _alert(home: dict[str, Any], capture: Any) -> Any:
    with capture(execute=True):
        services.readings_ingest(actor=home["feed"], rows=quiet_day())
        alerts = services.detection_run(household_id=home["household"].pk)
    return next(a for a in alerts if a.kind == "no_use")


def test_the_family_notification_carries_a_signed_link_for_that_contact(
    home: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    alert = _alert(home, django_capture_on_commit_callbacks)
    note = Notification.objects.get(
        recipient=home["daughter"], dispatch__kind="wellbeing.alert_family"
    )
    contact = home["household"].contacts.get()
    token = note.body.rsplit("/wellbeing/ack/", 1)[1].rstrip("/")
    assert services.ack_token_read(token) == (alert, contact)


def test_a_family_answer_from_the_signed_link_closes_the_alert_and_is_audited(
    home: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    alert = _alert(home, django_capture_on_commit_callbacks)
    contact = home["household"].contacts.get()
    token = services.ack_token(alert=alert, contact=contact)
    answered = services.alert_acknowledge_by_link(token=token, answer="fine")
    assert (answered.status, answered.acknowledged_answer) == (AlertStatus.ACKNOWLEDGED, "fine")
    assert answered.acknowledged_contact == contact and answered.acknowledged_by is None
    event = AuditEvent.objects.get(action="wellbeing.alert.acknowledge")
    assert contact.name in event.purpose and event.changes["answer"] == "fine"
    with pytest.raises(Conflict):
        services.alert_acknowledge_by_link(token=token, answer="fine")
    services.alerts_escalate(now=timezone.now() + timedelta(hours=1))
    assert not VisitTask.objects.filter(alert=alert).exists()


def test_cannot_reach_them_makes_a_visit_task_at_once(
    home: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    alert = _alert(home, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.alert_acknowledge(actor=home["daughter"], alert=alert, answer="unreachable")
    task = VisitTask.objects.get(alert=alert)  # before the family deadline has passed
    assert task.worker == home["worker"]
    alert.refresh_from_db()
    assert alert.status == AlertStatus.VISIT
    assert Notification.objects.filter(
        recipient=home["worker"], dispatch__kind="wellbeing.visit_task"
    ).exists()


def test_a_tampered_expired_or_foreign_link_is_refused(
    home: dict[str, Any], django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    alert = _alert(home, django_capture_on_commit_callbacks)
    contact = home["household"].contacts.get()
    token = services.ack_token(alert=alert, contact=contact)
    with pytest.raises(PermissionDenied):
        services.alert_acknowledge_by_link(token=token[:-2] + "xx", answer="fine")
    settings.CIVICHUB_WELLBEING = {"ack_link_hours": 0}
    with pytest.raises(PermissionDenied):
        services.alert_acknowledge_by_link(token=token, answer="fine")
    settings.CIVICHUB_WELLBEING = {}
    services.household_contacts_set(
        actor=home["worker"], household=home["household"], contacts=[ContactSpec("新联系人", "1")]
    )
    with pytest.raises(PermissionDenied):  # the contact the link was made for is gone
        services.alert_acknowledge_by_link(token=token, answer="fine")
    alert.refresh_from_db()
    assert alert.status == AlertStatus.FAMILY


def test_the_dashboard_counts_households_by_state_within_the_callers_area(
    home: dict[str, Any], make_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    worker = home["worker"]
    away = services.household_enrol(
        actor=worker,
        resident=_resident(home),
        worker=worker,
        consent_by="worker",
        consent_note="当面同意",
        meters=[MeterSpec("gas", "G-10")],
    )
    now = timezone.now()
    services.away_mark(
        actor=worker, household=away, starts_at=now - timedelta(hours=1), ends_at=now + timedelta(1)
    )
    alert = _alert(home, django_capture_on_commit_callbacks)
    board = selectors.dashboard(actor=worker)
    states = {m.household_id: m.state for m in board.households}
    assert states == {home["household"].pk: "alert", away.pk: "away"}
    assert (board.counts["alert"], board.counts["away"], board.counts["ok"]) == (1, 1, 0)
    assert [a.pk for a in board.open_alerts] == [alert.pk]
    services.alerts_escalate(now=timezone.now() + timedelta(minutes=20))
    assert selectors.dashboard(actor=worker).counts["visit"] == 1
    event = AuditEvent.objects.filter(action="wellbeing.household.list").last()
    assert event is not None and set(event.changes["shown"]) == {home["household"].pk, away.pk}
    stranger = make_user("community_worker", home["city"].community_b1)
    assert selectors.dashboard(actor=stranger).total == 0
    with pytest.raises(PermissionDenied):
        selectors.dashboard(actor=home["daughter"])


def test_a_community_head_narrows_the_dashboard_to_one_community_of_their_area(
    home: dict[str, Any], make_user: Any
) -> None:
    city = home["city"]
    worker_a2 = make_user("community_worker", city.community_a2)
    other = services.household_enrol(
        actor=worker_a2,
        resident=core.resident_create(actor=None, name="吴婆婆", community=city.community_a2),
        worker=worker_a2,
        consent_by="worker",
        consent_note="当面同意",
        meters=[MeterSpec("gas", "G-A2")],
    )
    head = home["head"]
    areas = selectors.dashboard_areas(actor=head)
    assert {city.community_a1, city.community_a2} <= set(areas)
    assert city.community_b1 not in areas
    everything = {m.household_id for m in selectors.dashboard(actor=head).households}
    assert everything == {home["household"].pk, other.pk}
    narrowed = selectors.dashboard(actor=head, area=city.community_a2)
    assert [m.household_id for m in narrowed.households] == [other.pk]
    with pytest.raises(PermissionDenied):
        selectors.dashboard(actor=head, area=city.community_b1)


def test_the_family_is_sent_the_alert_in_calling_order_until_someone_answers(
    home: dict[str, Any], make_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    son, niece = make_user(None, None), make_user(None, None)
    services.household_contacts_set(
        actor=home["worker"],
        household=home["household"],
        contacts=[
            ContactSpec("儿子", "13700000000", son),
            ContactSpec("邻居", "13600000000"),  # no account: an SMS to the number
            ContactSpec("女儿", "13800000000", home["daughter"]),
            ContactSpec("外甥女", "13900000000", niece),
        ],
    )

    names = {c.pk: c.name for c in home["household"].contacts.all()}

    def told() -> list[tuple[str, Any]]:
        """Which contact the alert went to (their link's key names them), and which account."""
        return [
            (names[int(n.dedupe_key.split(".")[4])], n.recipient)
            for n in Notification.objects.filter(dispatch__kind="wellbeing.alert_family")
            .select_related("recipient")
            .order_by("pk")
        ]

    alert = _alert(home, django_capture_on_commit_callbacks)
    assert told() == [("儿子", son)]
    with django_capture_on_commit_callbacks(execute=True):
        services.alerts_escalate(now=alert.created_at + timedelta(minutes=2))
    assert told() == [("儿子", son)]
    with django_capture_on_commit_callbacks(execute=True):
        report = services.alerts_escalate(now=alert.created_at + timedelta(minutes=6))
    assert report.family_notified == 1 and told() == [("儿子", son), ("邻居", None)]
    neighbour = Notification.objects.get(recipient=None, dispatch__kind="wellbeing.alert_family")
    assert [d.channel for d in neighbour.deliveries.all()] == ["sms"]
    with django_capture_on_commit_callbacks(execute=True):
        services.alerts_escalate(now=alert.created_at + timedelta(minutes=11))
    everyone = [("儿子", son), ("邻居", None), ("女儿", home["daughter"])]
    assert told() == everyone
    services.alert_acknowledge(actor=home["daughter"], alert=alert, answer="fine")
    with django_capture_on_commit_callbacks(execute=True):
        services.alerts_escalate(now=alert.created_at + timedelta(minutes=16))
    assert told() == everyone  # answered: nobody else is disturbed


@pytest.fixture
def delivering(settings: Any) -> None:
    """Deliveries are sent as soon as they are queued, and no quiet hours hold them back."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    settings.CIVICHUB_PROFILE = {**settings.CIVICHUB_PROFILE, "quiet_hours_default": "off"}


@pytest.mark.usefixtures("delivering")
def test_a_contact_known_only_by_phone_gets_an_sms_whose_link_answers_the_alert(
    home: dict[str, Any],
    make_user: Any,
    django_capture_on_commit_callbacks: Any,
    settings: Any,
) -> None:
    settings.CIVICHUB_WELLBEING = {"contact_minutes": 10}
    son = make_user(None, None, phone="13700000000", email="son@example.org")
    services.household_contacts_set(
        actor=home["worker"],
        household=home["household"],
        contacts=[ContactSpec("邻居张阿姨", "13600000000"), ContactSpec("儿子", "", son)],
    )
    alert = _alert(home, django_capture_on_commit_callbacks)

    sms = SmsLog.objects.get()
    assert sms.phone == "13600000000"
    assert sms.delivery is not None and sms.delivery.state == DeliveryState.SENT
    assert sms.delivery.notification.recipient is None
    assert sms.text.startswith("关爱提醒：请联系王秀英：王秀英家中用水用电出现异常")
    link = re.search(r"/wellbeing/ack/[^/\s]+/", sms.text)
    assert link is not None
    sent = AuditEvent.objects.get(
        action="notification.send", changes__kind="wellbeing.alert_family"
    )
    assert sent.changes["address"] == "…0000" and "13600000000" not in str(sent.changes)

    # Nobody answers: the next contact in calling order, who has an account, follows after the
    # configured minutes, in the inbox and on their own channels.
    with django_capture_on_commit_callbacks(execute=True):
        services.alerts_escalate(now=alert.created_at + timedelta(minutes=9))
    assert not Notification.objects.filter(recipient=son).exists()
    with django_capture_on_commit_callbacks(execute=True):
        report = services.alerts_escalate(now=alert.created_at + timedelta(minutes=11))
    assert report.family_notified == 1
    inbox = Notification.objects.get(recipient=son, dispatch__kind="wellbeing.alert_family")
    assert [(d.channel, d.state) for d in inbox.deliveries.all()] == [("sms", "sent")]
    assert SmsLog.objects.get(delivery__notification=inbox).phone == "13700000000"

    # The neighbour follows the link in the SMS, without an account, and answers.
    client = Client()
    page = client.get(link.group(0))
    assert page.status_code == 200 and "王秀英" in page.content.decode()
    client.post(link.group(0), {"answer": "fine"})
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_answer) == (AlertStatus.ACKNOWLEDGED, "fine")
    assert alert.acknowledged_contact is not None
    assert alert.acknowledged_contact.name == "邻居张阿姨"
    services.alerts_escalate(now=alert.created_at + timedelta(hours=1))
    assert not VisitTask.objects.filter(alert=alert).exists()


@pytest.mark.usefixtures("delivering")
def test_a_contact_with_a_number_and_an_email_address_is_sent_both(
    home: dict[str, Any],
    smtp_server: Mailbox,  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    services.household_contacts_set(
        actor=home["worker"],
        household=home["household"],
        contacts=[ContactSpec("外孙", "13500000000", email="grandson@example.org")],
    )
    alert = _alert(home, django_capture_on_commit_callbacks)
    contact = home["household"].contacts.get()
    [mail] = smtp_server.messages
    assert mail["To"] == "grandson@example.org"
    assert mail["Subject"] == "关爱提醒：请联系王秀英"
    link = re.search(r"/wellbeing/ack/[^/\s]+/", mail.get_content())
    assert link is not None
    token = link.group(0).removeprefix("/wellbeing/ack/").rstrip("/")
    assert services.ack_token_read(token) == (alert, contact)
    assert SmsLog.objects.get().phone == "13500000000"
    assert (
        AuditEvent.objects.filter(
            action="notification.send", changes__kind="wellbeing.alert_family"
        ).count()
        == 2
    )


def test_a_contact_email_address_must_be_valid(home: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        services.household_contacts_set(
            actor=home["worker"],
            household=home["household"],
            contacts=[ContactSpec("外孙", email="grandson at example")],
        )
    assert "外孙" in caught.value.errors["contacts"][0]


@pytest.mark.usefixtures("delivering")
def test_a_number_that_cannot_take_an_sms_does_not_stop_the_alert(
    home: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    services.household_contacts_set(
        actor=home["worker"], household=home["household"], contacts=[ContactSpec("邻居", "1")]
    )
    alert = _alert(home, django_capture_on_commit_callbacks)
    assert alert.status == AlertStatus.FAMILY and not SmsLog.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        services.alerts_escalate(now=alert.created_at + timedelta(minutes=20))
    assert VisitTask.objects.filter(alert=alert).exists()


def test_the_dashboard_counts_every_household_even_when_the_map_shows_only_some(
    home: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = home["worker"]
    second = services.household_enrol(
        actor=worker,
        resident=_resident(home),
        worker=worker,
        consent_by="worker",
        consent_note="当面同意",
        meters=[MeterSpec("gas", "G-11")],
    )
    services.consent_withdraw(actor=worker, household=second)
    monkeypatch.setattr(selectors, "DASHBOARD_LIMIT", 1)
    board = selectors.dashboard(actor=worker)
    assert board.truncated and len(board.households) == 1
    assert (board.total, board.counts["ok"], board.counts["withdrawn"]) == (2, 1, 1)
