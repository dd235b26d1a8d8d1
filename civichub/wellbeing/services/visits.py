"""Visit tasks: made from an alert the family did not answer, accepted, the worker on the way,
the outcome recorded (which tunes the household's detector), handed to the community head."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.core.audit import audit_record
from civichub.core.config import module_config
from civichub.core.errors import Conflict, ValidationFailed
from civichub.core.models import User
from civichub.core.permissions import require
from civichub.notify.services import Priority, notification_send
from civichub.wellbeing.conf import WellbeingSettings
from civichub.wellbeing.models import Alert, AlertStatus, VisitOutcome, VisitStatus, VisitTask
from civichub.wellbeing.selectors import heads_for
from civichub.wellbeing.services.detection_runs import detector_tune
from civichub.wellbeing.services.family import alert_explanations


def _visit_context(task: VisitTask) -> dict[str, Any]:
    resident = task.alert.household.resident
    return {
        "visit_id": task.pk,
        "name": resident.name,
        "address": resident.address,
        **alert_explanations(task.alert),
        "due_at": timezone.localtime(task.due_at).strftime("%Y-%m-%d %H:%M"),
    }


def visit_create(alert: Alert, *, now: datetime) -> VisitTask:
    """The alert becomes a visit task for the household's worker, who is sent it."""
    task = VisitTask.objects.create(
        alert=alert,
        worker=alert.household.worker,
        due_at=now + timedelta(minutes=module_config(WellbeingSettings).visit_minutes),
    )
    alert.status = AlertStatus.VISIT
    alert.save(update_fields=["status"])
    audit_record(actor=None, action="wellbeing.visit.create", obj=task)
    transaction.on_commit(
        _visit_notification(
            task,
            recipients=[task.worker],
            kind="wellbeing.visit_task",
            dedupe_key=f"wellbeing.visit.{task.pk}",
        )
    )
    return task


def _visit_notification(
    task: VisitTask, *, recipients: list[User], kind: str, dedupe_key: str
) -> Callable[[], object]:
    """Sends the visit task to `recipients` (for after the commit); the context is taken now."""
    return partial(
        notification_send,
        recipients=recipients,
        kind=kind,
        context=_visit_context(task),
        priority=Priority.EMERGENCY,
        dedupe_key=dedupe_key,
    )


def visit_hand_to_heads(task: VisitTask, *, actor: User | None, note: str = "") -> None:
    """The task goes to the community head (the first of them, all are sent it)."""
    heads = heads_for(task.alert.household.community)
    task.status = VisitStatus.ESCALATED
    task.escalated_to = heads[0] if heads else None
    if note:
        task.note = note
    task.save(update_fields=["status", "escalated_to", "note"])
    audit_record(actor=actor, action="wellbeing.visit.escalate", obj=task, purpose=note)
    if heads:
        transaction.on_commit(
            _visit_notification(
                task,
                recipients=heads,
                kind="wellbeing.visit_escalated",
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
        raise ValidationFailed.on("outcome", _("请选择上门结果。"))
    task.status = VisitStatus.VISITED
    task.outcome = outcome
    task.real = real
    task.note = note
    task.visited_at = timezone.now()
    task.save(update_fields=["status", "outcome", "real", "note", "visited_at"])
    Alert.objects.filter(pk=task.alert_id).update(status=AlertStatus.CLOSED)
    detector_tune(task.alert.household_id, false_alarm=not real)
    audit_record(
        actor=actor,
        action="wellbeing.visit.record",
        obj=task,
        changes={"outcome": outcome, "real": real},
    )
    return task


@transaction.atomic
def visit_escalate(*, actor: User, task: VisitTask, note: str) -> VisitTask:
    task = _visit_for_update(
        actor, task, {VisitStatus.WAITING, VisitStatus.ACCEPTED, VisitStatus.ON_THE_WAY}
    )
    visit_hand_to_heads(task, actor=actor, note=note)
    return task
