"""The sender's rating of a reply, and the escalation of overdue cases to department heads."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.casework import workdays
from civichub.casework.conf import casework_settings
from civichub.casework.models import (
    AWAITING_REPLY,
    Case,
    CaseStatus,
    EventKind,
    Rating,
    RatingValue,
)
from civichub.casework.permissions import HANDLER, HEAD, is_sender
from civichub.casework.services._shared import (
    add_event,
    case_context,
    close_case,
    department_heads,
    locked,
    notify,
    save_case,
    staff_at,
)
from civichub.core.audit import audit_record
from civichub.core.errors import Conflict, PermissionDenied, ValidationFailed
from civichub.core.models import User


@transaction.atomic
def case_rate(
    *,
    actor: User | None,
    case: Case,
    value: str,
    comment: str = "",
    access_code: str = "",
) -> Rating:
    """The sender rates the latest reply. Satisfied or basically satisfied closes the case. The
    first unsatisfied rating reopens it for another answer (with a new deadline); a second
    unsatisfied rating closes it, the rating kept."""
    case = locked(case)
    if not is_sender(actor, case, access_code):
        raise PermissionDenied(_("只有来信人可以评价答复。"))
    if value not in RatingValue.values:
        raise ValidationFailed.on("value", _("请选择评价。"))
    if case.status != CaseStatus.REPLIED:
        raise Conflict(_("没有等待评价的答复。"))
    now = timezone.now()
    rating = Rating.objects.create(
        case=case,
        value=value,
        comment=comment.strip()[:2000],
        rater=actor if actor is not None and actor.is_authenticated else case.submitter,
        round=case.reopen_count + 1,
        created_at=now,
    )
    add_event(
        case,
        EventKind.RATED,
        actor=rating.rater,
        text=rating.comment,
        public=True,
        data={"value": value, "round": rating.round},
        at=now,
    )
    reopened = False
    if value == RatingValue.UNSATISFIED and case.reopen_count == 0:
        conf = casework_settings()
        case.reopen_count = 1
        case.status = CaseStatus.REOPENED
        case.due_at = workdays.deadline(now, int(conf.deadline_working_days[case.kind]))
        case.escalation_level = 0
        save_case(case, ["reopen_count", "status", "due_at", "escalation_level"])
        add_event(case, EventKind.REOPENED, actor=rating.rater, public=True, data={"rating": value})
        reopened = True
    else:
        close_case(case, actor=rating.rater, reason=f"rated_{value}")
    audit_record(
        actor=actor,
        action="casework.case.rate",
        obj=case,
        changes={"value": value, "reopened": reopened},
    )
    if reopened:
        notify(
            staff_at(case.department, [HANDLER, HEAD])
            + ([case.assignee_id] if case.assignee_id else []),
            "casework.case_reopened",
            {**case_context(case), "comment": rating.comment[:300]},
            actor=actor,
            dedupe_key=f"casework.reopened:{case.pk}",
        )
    return rating


# Overdue escalation (system) -------------------------------------------------------------------


def _escalation_step(overdue_days: int, steps: list[int]) -> int:
    return sum(1 for threshold in steps if overdue_days >= threshold)


@dataclass
class EscalationResult:
    checked: int = 0
    escalated: int = 0


def cases_escalate_overdue(*, now: dt.datetime | None = None) -> EscalationResult:
    """Notifies the department head of every overdue case, once per overdue step (the profile's
    `escalation_steps_working_days`); each case in its own transaction."""
    now = now or timezone.now()
    steps = sorted(int(s) for s in casework_settings().escalation_steps_working_days)
    cal = workdays.calendar()
    result = EscalationResult()
    overdue = Case.objects.filter(status__in=list(AWAITING_REPLY), due_at__lt=now)
    for case_id, due_at, level in overdue.values_list("pk", "due_at", "escalation_level"):
        result.checked += 1
        assert due_at is not None  # filtered on due_at__lt
        step = _escalation_step(workdays.working_days_overdue(due_at, now, cal), steps)
        if step > level and _escalate(case_id=case_id, step=step, now=now):
            result.escalated += 1
    return result


@transaction.atomic
def _escalate(*, case_id: int, step: int, now: dt.datetime) -> bool:
    case = locked(Case.objects.get(pk=case_id))
    if case.escalation_level >= step or not case.is_overdue(now):
        return False
    case.escalation_level = step
    save_case(case, ["escalation_level"])
    add_event(case, EventKind.ESCALATED, actor=None, data={"step": step}, at=now)
    audit_record(actor=None, action="casework.case.escalate", obj=case, changes={"step": step})
    notify(
        department_heads(case.department, case.jurisdiction),
        "casework.case_overdue",
        {**case_context(case), "step": step},
        actor=None,
        dedupe_key=f"casework.overdue:{case.pk}:{case.reopen_count}:{step}",
    )
    return True
