"""The family's answer to an alert, and the escalation of alerts nobody answered in time and of
visit tasks not done in time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.core.audit import audit_record
from civichub.core.config import module_config
from civichub.core.errors import Conflict, ValidationFailed
from civichub.core.models import User
from civichub.core.permissions import require
from civichub.wellbeing import detection
from civichub.wellbeing.conf import WellbeingSettings
from civichub.wellbeing.links import ack_token_read
from civichub.wellbeing.models import (
    Alert,
    AlertStatus,
    FamilyAnswer,
    FamilyContact,
    VisitStatus,
    VisitTask,
)
from civichub.wellbeing.services.family import family_notify_due
from civichub.wellbeing.services.visits import visit_create, visit_hand_to_heads


def _alert_answer(
    alert: Alert,
    *,
    actor: User | None,
    contact: FamilyContact | None,
    answer: str,
    via: str,
) -> Alert:
    if answer not in FamilyAnswer.values:
        raise ValidationFailed.on("answer", _("请选择：已联系上，或联系不上。"))
    alert = (
        Alert.objects.select_for_update()
        .select_related("household__resident", "household__worker", "household__community")
        .get(pk=alert.pk)
    )
    if alert.status != AlertStatus.FAMILY:
        raise Conflict(_("该提醒已不在等待家属确认。"))
    if not alert.household.consenting:
        raise Conflict(_("该户已撤回同意。"))
    now = timezone.now()
    alert.acknowledged_by = actor if actor is not None and actor.is_authenticated else None
    alert.acknowledged_contact = contact
    alert.acknowledged_answer = answer
    alert.acknowledged_at = now
    alert.status = AlertStatus.ACKNOWLEDGED
    alert.save(
        update_fields=[
            "status",
            "acknowledged_by",
            "acknowledged_contact",
            "acknowledged_answer",
            "acknowledged_at",
        ]
    )
    audit_record(
        actor=actor,
        action="wellbeing.alert.acknowledge",
        obj=alert,
        purpose=via,
        changes={"answer": answer, "contact": contact.pk if contact else None},
    )
    if answer == FamilyAnswer.UNREACHABLE:
        # Nobody could reach them: the visit cannot wait for the family deadline.
        visit_create(alert, now=now)
    return alert


@transaction.atomic
def alert_acknowledge(*, actor: User, alert: Alert, answer: str = FamilyAnswer.FINE) -> Alert:
    """A family member with an account (or the worker) answers: they reached the resident and all
    is fine, or they cannot reach them and a visit task is made at once."""
    require(actor, "wellbeing.alert.acknowledge", alert)
    contact = alert.household.contacts.filter(user_id=actor.pk).first()
    return _alert_answer(alert, actor=actor, contact=contact, answer=answer, via="账号确认")


@transaction.atomic
def alert_acknowledge_by_link(*, token: str, answer: str) -> Alert:
    """The same answer from the signed link a family contact received by SMS, without an
    account. The audit row names the contact the link was made for."""
    alert, contact = ack_token_read(token)
    return _alert_answer(
        alert, actor=None, contact=contact, answer=answer, via=f"家属短信链接确认：{contact.name}"
    )


@dataclass
class EscalationReport:
    visits_created: int = 0
    visits_escalated: int = 0
    family_notified: int = 0


@transaction.atomic
def alerts_escalate(*, now: datetime | None = None) -> EscalationReport:
    """Alerts nobody in the family acknowledged in time become visit tasks for the household's
    worker; visit tasks not done in time go to the community head."""
    now = now or timezone.now()
    report = EscalationReport()
    waiting = (
        Alert.objects.select_for_update(skip_locked=True)
        .filter(status=AlertStatus.FAMILY, family_deadline__lte=now)
        .select_related("household__resident", "household__worker")
    )
    for alert in waiting:
        if not alert.household.consenting:
            continue
        visit_create(alert, now=now)
        report.visits_created += 1
    # Before the deadline: the next family contacts in calling order, while nobody has answered.
    pending = (
        Alert.objects.select_for_update(skip_locked=True)
        .filter(
            status=AlertStatus.FAMILY,
            family_deadline__gt=now,
            household__consent_withdrawn_at__isnull=True,
        )
        .select_related("household__resident")
    )
    family_minutes = module_config(WellbeingSettings).family_minutes
    for alert in pending:
        report.family_notified += family_notify_due(
            alert,
            alert.household,
            family_minutes,
            urgent=alert.severity == detection.Severity.URGENT,
            now=now,
        )
    overdue = VisitTask.objects.select_for_update(skip_locked=True).filter(
        status__in=[VisitStatus.WAITING, VisitStatus.ACCEPTED, VisitStatus.ON_THE_WAY],
        due_at__lte=now,
        alert__household__consent_withdrawn_at__isnull=True,
    )
    for task in overdue.select_related("alert__household__resident", "alert__household__community"):
        visit_hand_to_heads(task, actor=None)
        report.visits_escalated += 1
    return report
