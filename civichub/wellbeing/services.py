"""Every write in wellbeing: enrolment with consent, meters, readings, away periods, detection,
and the alert → family → visit task → outcome → escalation flow. Keyword-only, atomic, audited.

Deployment settings (`settings.CIVICHUB_WELLBEING`, all optional): `family_minutes` (how long the
family has to acknowledge an alert before it becomes a visit task, default 15) and
`visit_minutes` (how long the worker has to visit before the task goes to the community head,
default 60)."""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from civichub.core.audit import audit_record
from civichub.core.errors import Conflict, ValidationFailed
from civichub.core.models import Organisation, Resident, RoleAssignment, User
from civichub.core.permissions import require
from civichub.notify.models import Priority
from civichub.notify.services import notification_send
from civichub.wellbeing import detection
from civichub.wellbeing.models import (
    Alert,
    AlertStatus,
    AwayPeriod,
    ConsentGiver,
    FamilyContact,
    Household,
    Meter,
    Reading,
    Utility,
    VisitOutcome,
    VisitStatus,
    VisitTask,
)
from civichub.wellbeing.permissions import HEAD

UTILITY_INDEX = {Utility.WATER: detection.WATER, Utility.ELECTRICITY: detection.ELECTRICITY}
UTILITY_INDEX[Utility.GAS] = detection.GAS


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, "CIVICHUB_WELLBEING", {}).get(name, default))


# --- enrolment and consent ----------------------------------------------------------------


@dataclass(frozen=True)
class MeterSpec:
    utility: str
    meter_id: str
    cumulative: bool = True


@dataclass(frozen=True)
class ContactSpec:
    name: str
    phone: str = ""
    user: User | None = None


@transaction.atomic
def household_enrol(
    *,
    actor: User | None,
    resident: Resident,
    worker: User,
    consent_by: str,
    meters: list[MeterSpec],
    contacts: list[ContactSpec] | None = None,
    guardian_name: str = "",
    consent_note: str = "",
) -> Household:
    """Enrols a resident's home. The resident consents, or a guardian does with the resident's
    recorded consent (the note says how it was given)."""
    community: Organisation = resident.community
    if actor is not None:
        require(actor, "wellbeing.household.enrol", community)
    errors: dict[str, list[str]] = {}
    if consent_by not in ConsentGiver.values:
        errors["consent_by"] = [_("请说明由谁同意。")]
    if consent_by == ConsentGiver.GUARDIAN and not (guardian_name and consent_note):
        errors["consent_note"] = [_("监护人代为登记时，须写明监护人姓名及本人如何表示同意。")]
    if not meters:
        errors["meters"] = [_("至少登记一块表。")]
    for spec in meters:
        if spec.utility not in Utility.values:
            errors.setdefault("meters", []).append(_("未知的表计类型：%s") % spec.utility)
        elif Meter.objects.filter(meter_id=spec.meter_id).exists():
            errors.setdefault("meters", []).append(_("表号已登记：%s") % spec.meter_id)
    if errors:
        raise ValidationFailed(_("登记信息不完整。"), errors=errors)
    household = Household.objects.create(
        resident=resident,
        community=community,
        worker=worker,
        consent_by=consent_by,
        guardian_name=guardian_name,
        consent_note=consent_note,
    )
    for spec in meters:
        Meter.objects.create(
            household=household,
            utility=spec.utility,
            meter_id=spec.meter_id,
            cumulative=spec.cumulative,
        )
    for order, contact in enumerate(contacts or []):
        FamilyContact.objects.create(
            household=household,
            name=contact.name,
            phone=contact.phone,
            user=contact.user,
            order=order,
        )
    audit_record(
        actor=actor,
        action="wellbeing.household.enrol",
        obj=household,
        changes={"consent_by": consent_by, "meters": [m.meter_id for m in meters]},
    )
    return household


@transaction.atomic
def consent_withdraw(*, actor: User | None, household: Household, reason: str = "") -> Household:
    """Processing stops at once: readings are refused, detection does nothing, the detector's
    memory is erased, open alerts are closed and their visit tasks no longer escalate."""
    if actor is not None:
        require(actor, "wellbeing.household.manage", household)
    household = Household.objects.select_for_update().get(pk=household.pk)
    if household.consent_withdrawn_at is not None:
        return household
    household.consent_withdrawn_at = timezone.now()
    household.detector_state = None
    household.save(update_fields=["consent_withdrawn_at", "detector_state"])
    household.alerts.exclude(status=AlertStatus.CLOSED).update(status=AlertStatus.CLOSED)
    audit_record(actor=actor, action="wellbeing.consent.withdraw", obj=household, purpose=reason)
    return household


@transaction.atomic
def away_mark(
    *,
    actor: User | None,
    household: Household,
    starts_at: datetime,
    ends_at: datetime,
    reason: str = "",
) -> AwayPeriod:
    if actor is not None:
        require(actor, "wellbeing.household.manage", household)
    if ends_at <= starts_at:
        raise ValidationFailed(
            _("结束时间须晚于开始时间。"), errors={"ends_at": [_("结束时间须晚于开始时间。")]}
        )
    period = AwayPeriod.objects.create(
        household=household, starts_at=starts_at, ends_at=ends_at, reason=reason
    )
    audit_record(actor=actor, action="wellbeing.away.mark", obj=household, purpose=reason)
    return period


@transaction.atomic
def meter_replace(*, actor: User | None, meter: Meter, new_meter_id: str) -> Meter:
    """A new meter takes over; its register starts from its own first reading."""
    if actor is not None:
        require(actor, "wellbeing.household.manage", meter.household)
    if Meter.objects.filter(meter_id=new_meter_id).exists():
        raise Conflict(_("表号已登记：%s") % new_meter_id)
    meter.active = False
    meter.save(update_fields=["active"])
    new = Meter.objects.create(
        household=meter.household,
        utility=meter.utility,
        meter_id=new_meter_id,
        cumulative=meter.cumulative,
    )
    audit_record(
        actor=actor,
        action="wellbeing.meter.replace",
        obj=meter.household,
        changes={"old": meter.meter_id, "new": new_meter_id},
    )
    return new


# --- ingestion ----------------------------------------------------------------------------


@dataclass
class IngestReport:
    accepted: int = 0
    duplicates: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    households: set[int] = field(default_factory=set)


def _row_error(report: IngestReport, row: int, message: str) -> None:
    report.errors.append({"row": row, "error": message})


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = parse_datetime(str(value))  # type: ignore[assignment]
        except ValueError:
            return None
        if moment is None:
            return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def readings_ingest(*, actor: User | None, rows: list[dict[str, Any]]) -> IngestReport:
    """Stores readings, each row on its own: a bad row gets an error in the report and the good
    rows are kept. The same reading sent twice counts once. Register meters report a running
    total: a value below the previous one is refused unless the row says the register was
    reset; interval meters report the use in the interval, which cannot be negative."""
    if actor is not None:
        require(actor, "wellbeing.readings.ingest")
    report = IngestReport()
    meters = {
        m.meter_id: m
        for m in Meter.objects.filter(
            meter_id__in=[str(r.get("meter_id", "")) for r in rows]
        ).select_related("household")
    }
    for index, row in enumerate(rows):
        meter = meters.get(str(row.get("meter_id", "")))
        if meter is None:
            _row_error(report, index, _("未知的表号。"))
            continue
        if not meter.household.consenting:
            _row_error(report, index, _("该户已撤回同意，不再处理其数据。"))
            continue
        if not meter.active:
            _row_error(report, index, _("该表已更换停用。"))
            continue
        at = _parse_time(row.get("at"))
        if at is None:
            _row_error(report, index, _("读数时间无法识别。"))
            continue
        try:
            value = float(row.get("value"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            _row_error(report, index, _("读数不是数字。"))
            continue
        if not math.isfinite(value) or value < 0:
            _row_error(report, index, _("读数不能为负数或非数字。"))
            continue
        reset = bool(row.get("reset", False))
        with transaction.atomic():
            outcome = _reading_store(meter, at, value, reset)
        if outcome == "duplicate":
            report.duplicates += 1
        elif outcome == "stored":
            report.accepted += 1
            report.households.add(meter.household_id)
        else:
            _row_error(report, index, outcome)
    audit_record(
        actor=actor,
        action="wellbeing.readings.ingest",
        object_type="wellbeing.reading",
        changes={
            "accepted": report.accepted,
            "duplicates": report.duplicates,
            "errors": len(report.errors),
        },
    )
    if report.households:
        households = sorted(report.households)
        transaction.on_commit(lambda: _enqueue_detection(households))
    return report


def _enqueue_detection(households: list[int]) -> None:
    from civichub.wellbeing.tasks import run_detection

    for household_id in households:
        run_detection.enqueue(household_id)


def _reading_store(meter: Meter, at: datetime, value: float, reset: bool) -> str:
    existing = Reading.objects.select_for_update().filter(meter=meter, at=at).first()
    if existing is not None:
        if existing.value == value:
            return "duplicate"
        return _("同一时间已有不同的读数。")
    if not meter.cumulative:
        Reading.objects.create(meter=meter, at=at, value=value, use=value, reset=reset)
        return "stored"
    before = Reading.objects.filter(meter=meter, at__lt=at).order_by("-at").first()
    after = Reading.objects.filter(meter=meter, at__gt=at).order_by("at").first()
    if before is not None and value < before.value and not reset:
        return _("累计读数倒退（%(value)s < %(before)s），且未标明表计清零。") % {
            "value": value,
            "before": before.value,
        }
    if after is not None and not after.reset and after.value < value:
        return _("累计读数大于之后的读数（%(after)s）。") % {"after": after.value}
    use = value if reset else (value - before.value if before is not None else 0.0)
    Reading.objects.create(meter=meter, at=at, value=value, use=use, reset=reset)
    if after is not None and not after.reset:
        # A late reading splits the use its successor had counted.
        after.use = after.value - value
        after.save(update_fields=["use"])
    return "stored"


# --- detection ----------------------------------------------------------------------------


def _state_load(household: Household, meters: np.ndarray) -> detection.WellbeingDetector:
    detector = detection.WellbeingDetector(meters)
    if household.detector_state:
        with np.load(io.BytesIO(bytes(household.detector_state))) as saved:
            state = detector.state
            for name in saved.files:
                if name == "slot":
                    state.slot = int(saved[name])
                elif name.startswith("active__"):
                    state.active[name.removeprefix("active__")] = saved[name]
                else:
                    setattr(state, name, saved[name])
    return detector


def _state_dump(detector: detection.WellbeingDetector) -> bytes:
    state = detector.state
    arrays: dict[str, Any] = {
        name: value for name, value in vars(state).items() if isinstance(value, np.ndarray)
    }
    arrays["slot"] = np.array(state.slot)
    for kind, flags in state.active.items():
        arrays[f"active__{kind}"] = flags
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _local_slot(moment: datetime) -> int:
    return detection.slot_of(timezone.localtime(moment))


@transaction.atomic
def detection_run(*, household_id: int) -> list[Alert]:
    """Runs the detector over the half hours that have readings since it last ran. A reading for
    a half hour already processed is stored but not detected again."""
    household = Household.objects.select_for_update().get(pk=household_id)
    if not household.consenting:
        return []
    meters = list(household.meters.all())
    mask = np.zeros((1, 3), dtype=bool)
    for meter in meters:
        mask[0, UTILITY_INDEX[Utility(meter.utility)]] = True
    readings = list(
        Reading.objects.filter(meter__household=household)
        .select_related("meter")
        .order_by("at")
        .only("at", "use", "meter__utility")
    )
    if not readings:
        return []
    detector = _state_load(household, mask)
    # A reading covers the interval that ends at its time.
    latest = _local_slot(readings[-1].at - timedelta(microseconds=1))
    first = (
        detector.state.slot + 1
        if detector.state.slot >= 0
        else _local_slot(readings[0].at - timedelta(microseconds=1))
    )
    if latest < first:
        return []
    slots = latest - first + 1
    values = np.full((1, slots, 3), np.nan)
    for reading in readings:
        slot = _local_slot(reading.at - timedelta(microseconds=1)) - first
        if 0 <= slot < slots:
            column = UTILITY_INDEX[Utility(reading.meter.utility)]
            current = values[0, slot, column]
            values[0, slot, column] = reading.use + (0.0 if np.isnan(current) else current)
    away = np.zeros((1, slots), dtype=bool)
    for period in household.away.all():
        a = max(_local_slot(period.starts_at) - first, 0)
        b = min(_local_slot(period.ends_at) - first, slots)
        if a < b:
            away[0, a:b] = True
    found = detector.process(values, first, away=away)
    household.detector_state = _state_dump(detector)
    household.detected_through = timezone.make_aware(detection.slot_end(latest))
    household.save(update_fields=["detector_state", "detected_through"])
    return [_alert_raise(household, detector, values, first, alert) for alert in found]


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def _chart(
    detector: detection.WellbeingDetector, values: np.ndarray, first: int, slot: int
) -> dict[str, Any]:
    """The last 48 hours of activity by hour against the household's usual chance of activity."""
    end = slot - first + 1
    start = max(end - 96, 0)
    window = values[0, start:end]
    hours = []
    for offset in range(0, window.shape[0] - 1, 2):
        pair = window[offset : offset + 2]
        when = first + start + offset
        how = (when // detection.SLOTS_PER_HOUR) % detection.HOURS_PER_WEEK
        hours.append(
            {
                "at": detection.slot_start(when).isoformat(timespec="minutes"),
                "water_l": None
                if np.isnan(pair[:, detection.WATER]).all()
                else round(1000 * float(np.nansum(pair[:, detection.WATER])), 1),
                "usual": round(float(detector.state.p_active[0, how]), 3),
            }
        )
    return {"hours": hours}


def _alert_raise(
    household: Household,
    detector: detection.WellbeingDetector,
    values: np.ndarray,
    first: int,
    found: detection.Alert,
) -> Alert:
    minutes = _setting("family_minutes", 15)
    alert = Alert.objects.create(
        household=household,
        kind=found.kind,
        severity=found.severity,
        at=timezone.make_aware(found.at),
        explanation=found.explanation,
        evidence={k: _plain(v) for k, v in found.evidence.items()},
        chart=_chart(detector, values, first, found.slot),
        family_deadline=timezone.now() + timedelta(minutes=minutes),
    )
    audit_record(actor=None, action="wellbeing.alert.raise", obj=alert)
    family = [c.user for c in household.contacts.all() if c.user is not None]
    if family:
        resident = household.resident
        context = {"name": resident.name, "explanation": alert.explanation, "minutes": minutes}
        priority = (
            Priority.EMERGENCY if found.severity == detection.Severity.URGENT else Priority.NORMAL
        )
        transaction.on_commit(
            lambda: notification_send(
                recipients=family,
                kind="wellbeing.alert_family",
                context=context,
                priority=priority,
                dedupe_key=f"wellbeing.alert.{alert.pk}.family",
            )
        )
    return alert


# --- alerts and visits --------------------------------------------------------------------


@transaction.atomic
def alert_acknowledge(*, actor: User, alert: Alert) -> Alert:
    """A family member (or the worker) has checked: no visit is needed."""
    require(actor, "wellbeing.alert.acknowledge", alert)
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.status != AlertStatus.FAMILY:
        raise Conflict(_("该提醒已不在等待家属确认。"))
    alert.status = AlertStatus.ACKNOWLEDGED
    alert.acknowledged_by = actor
    alert.save(update_fields=["status", "acknowledged_by"])
    audit_record(actor=actor, action="wellbeing.alert.acknowledge", obj=alert)
    return alert


@dataclass
class EscalationReport:
    visits_created: int = 0
    visits_escalated: int = 0


def _heads(community: Organisation) -> list[User]:
    ancestors = [community.path[: i + 1] for i, ch in enumerate(community.path) if ch == "/"]
    user_ids = RoleAssignment.objects.filter(
        role=HEAD, organisation__path__in=ancestors
    ).values_list("user_id", flat=True)
    return list(User.objects.filter(pk__in=user_ids, is_active=True))


def _visit_context(task: VisitTask) -> dict[str, Any]:
    resident = task.alert.household.resident
    return {
        "name": resident.name,
        "address": resident.address,
        "explanation": task.alert.explanation,
        "due_at": timezone.localtime(task.due_at).strftime("%Y-%m-%d %H:%M"),
    }


@transaction.atomic
def alerts_escalate(*, now: datetime | None = None) -> EscalationReport:
    """Alerts nobody in the family acknowledged in time become visit tasks for the household's
    worker; visit tasks not done in time go to the community head."""
    now = now or timezone.now()
    report = EscalationReport()
    visit_minutes = _setting("visit_minutes", 60)
    waiting = (
        Alert.objects.select_for_update(skip_locked=True)
        .filter(status=AlertStatus.FAMILY, family_deadline__lte=now)
        .select_related("household__resident", "household__worker")
    )
    for alert in waiting:
        if not alert.household.consenting:
            continue
        task = VisitTask.objects.create(
            alert=alert,
            worker=alert.household.worker,
            due_at=now + timedelta(minutes=visit_minutes),
        )
        alert.status = AlertStatus.VISIT
        alert.save(update_fields=["status"])
        audit_record(actor=None, action="wellbeing.visit.create", obj=task)
        transaction.on_commit(_visit_notifier(task))
        report.visits_created += 1
    overdue = VisitTask.objects.select_for_update(skip_locked=True).filter(
        status__in=[VisitStatus.WAITING, VisitStatus.ACCEPTED, VisitStatus.ON_THE_WAY],
        due_at__lte=now,
        alert__household__consent_withdrawn_at__isnull=True,
    )
    for task in overdue.select_related("alert__household__resident", "alert__household__community"):
        _escalate(task, actor=None)
        report.visits_escalated += 1
    return report


def _visit_notifier(task: VisitTask) -> Callable[[], object]:
    context = _visit_context(task)
    worker = task.worker

    def send() -> object:
        return notification_send(
            recipients=[worker],
            kind="wellbeing.visit_task",
            context=context,
            priority=Priority.EMERGENCY,
            dedupe_key=f"wellbeing.visit.{task.pk}",
        )

    return send


def _escalate(task: VisitTask, *, actor: User | None, note: str = "") -> None:
    heads = _heads(task.alert.household.community)
    task.status = VisitStatus.ESCALATED
    task.escalated_to = heads[0] if heads else None
    if note:
        task.note = note
    task.save(update_fields=["status", "escalated_to", "note"])
    audit_record(actor=actor, action="wellbeing.visit.escalate", obj=task, purpose=note)
    if heads:
        context = _visit_context(task)
        transaction.on_commit(
            lambda: notification_send(
                recipients=heads,
                kind="wellbeing.visit_escalated",
                context=context,
                priority=Priority.EMERGENCY,
                dedupe_key=f"wellbeing.visit.{task.pk}.escalated",
            )
        )


def _visit_for_update(actor: User, task: VisitTask, allowed: set[str]) -> VisitTask:
    require(actor, "wellbeing.visit.act", task)
    task = VisitTask.objects.select_for_update().select_related("alert").get(pk=task.pk)
    if task.status not in allowed:
        raise Conflict(
            _("任务当前状态（%(status)s）不能执行此操作。")
            % {"status": VisitStatus(task.status).label}
        )
    return task


@transaction.atomic
def visit_accept(*, actor: User, task: VisitTask) -> VisitTask:
    task = _visit_for_update(actor, task, {VisitStatus.WAITING, VisitStatus.ESCALATED})
    task.status = VisitStatus.ACCEPTED
    task.worker = actor
    task.save(update_fields=["status", "worker"])
    audit_record(actor=actor, action="wellbeing.visit.accept", obj=task)
    return task


@transaction.atomic
def visit_on_the_way(*, actor: User, task: VisitTask) -> VisitTask:
    task = _visit_for_update(actor, task, {VisitStatus.ACCEPTED})
    task.status = VisitStatus.ON_THE_WAY
    task.save(update_fields=["status"])
    audit_record(actor=actor, action="wellbeing.visit.on_the_way", obj=task)
    return task


@transaction.atomic
def visit_record(
    *, actor: User, task: VisitTask, outcome: str, real: bool, note: str = ""
) -> VisitTask:
    """The worker has been: what they found, and whether the alert was a real incident."""
    task = _visit_for_update(
        actor, task, {VisitStatus.ACCEPTED, VisitStatus.ON_THE_WAY, VisitStatus.ESCALATED}
    )
    if outcome not in VisitOutcome.values:
        message = _("请选择上门结果。")
        raise ValidationFailed(message, errors={"outcome": [message]})
    task.status = VisitStatus.VISITED
    task.outcome = outcome
    task.real = real
    task.note = note
    task.visited_at = timezone.now()
    task.save(update_fields=["status", "outcome", "real", "note", "visited_at"])
    Alert.objects.filter(pk=task.alert_id).update(status=AlertStatus.CLOSED)
    _tune(task.alert.household_id, false_alarm=not real)
    audit_record(
        actor=actor,
        action="wellbeing.visit.record",
        obj=task,
        changes={"outcome": outcome, "real": real},
    )
    return task


def _tune(household_id: int, *, false_alarm: bool) -> None:
    household = Household.objects.select_for_update().get(pk=household_id)
    if not household.consenting or not household.detector_state:
        return
    mask = np.zeros((1, 3), dtype=bool)
    for utility in household.meters.values_list("utility", flat=True):
        mask[0, UTILITY_INDEX[Utility(utility)]] = True
    detector = _state_load(household, mask)
    detector.tune(0, false_alarm=false_alarm)
    household.detector_state = _state_dump(detector)
    household.save(update_fields=["detector_state"])


@transaction.atomic
def visit_escalate(*, actor: User, task: VisitTask, note: str) -> VisitTask:
    task = _visit_for_update(
        actor, task, {VisitStatus.WAITING, VisitStatus.ACCEPTED, VisitStatus.ON_THE_WAY}
    )
    _escalate(task, actor=actor, note=note)
    return task
