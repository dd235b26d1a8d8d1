"""What every subject of casework's services shares: the permission check with `actor=None`
as the system, the history event, the row lock, notifications into the outbox, and the
recipients a case's notices go to."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from civichub.casework.models import Case, CaseEvent, CaseStatus, EventKind
from civichub.casework.permissions import DISPATCHER, HANDLER, HEAD, require_case
from civichub.core.context import current
from civichub.core.errors import Conflict
from civichub.core.models import Organisation, OrganisationKind, RoleAssignment, User
from civichub.core.permissions import require
from civichub.notify.services import notification_send


def too_long(limit: int) -> str:
    return ngettext("最多 %(limit)d 个字符。", "最多 %(limit)d 个字符。", limit) % {"limit": limit}


def photo_limit_message(limit: int) -> str:
    return ngettext("每条留言最多 %(limit)d 张照片。", "每条留言最多 %(limit)d 张照片。", limit) % {
        "limit": limit
    }


def check(actor: User | None, action: str, case: Case | None = None) -> None:
    if actor is None:
        return
    if case is None:
        require(actor, action)
    else:
        require_case(actor, action, case)


def actor_label(actor: User | None) -> str:
    if actor is None:
        return f"system:{current().channel}"
    return actor.get_username()


def add_event(
    case: Case,
    kind: str,
    *,
    actor: User | None,
    text: str = "",
    public: bool = False,
    data: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> CaseEvent:
    return CaseEvent.objects.create(
        case=case,
        kind=kind,
        actor=actor,
        actor_label=actor_label(actor),
        organisation=case.department or case.community,
        public=public,
        text=text,
        data=data or {},
        created_at=at or timezone.now(),
    )


def locked(case: Case) -> Case:
    """Re-reads the case under a row lock so concurrent changes serialise."""
    return (
        Case.objects.select_for_update(of=("self",))
        .select_related("department", "community", "jurisdiction", "category", "submitter")
        .get(pk=case.pk)
    )


def save_case(case: Case, fields: Iterable[str]) -> None:
    case.updated_at = timezone.now()
    case.save(update_fields=[*fields, "updated_at"])


def notify(
    recipients: Iterable[User | int],
    kind: str,
    context: dict[str, Any],
    *,
    actor: User | None,
    dedupe_key: str | None = None,
) -> None:
    """Into the outbox, in the caller's transaction."""
    ids = sorted({r if isinstance(r, int) else r.pk for r in recipients})
    if ids:
        notification_send(
            recipients=ids, kind=kind, context=context, actor=actor, dedupe_key=dedupe_key
        )


def case_context(case: Case) -> dict[str, Any]:
    return {
        "tracking_number": case.tracking_number,
        "title": case.title,
        "department": case.department.name if case.department else "",
        "community": case.community.name if case.community else "",
        "due_at": timezone.localtime(case.due_at).strftime("%Y-%m-%d") if case.due_at else "",
        "status": case.get_status_display(),
    }


def staff_at(organisation: Organisation | None, roles: Iterable[str]) -> list[int]:
    if organisation is None:
        return []
    return list(
        RoleAssignment.objects.filter(organisation=organisation, role__in=list(roles))
        .values_list("user_id", flat=True)
        .distinct()
    )


def notify_department(
    department: Organisation, case: Case, *, actor: User | None, dedupe_key: str
) -> None:
    """Tells the department's handlers and heads that a case has come to them."""
    notify(
        staff_at(department, [HANDLER, HEAD]),
        "casework.case_new",
        case_context(case),
        actor=actor,
        dedupe_key=dedupe_key,
    )


def department_heads(department: Organisation | None, fallback: Organisation) -> list[int]:
    """Heads at the department, else at the nearest department above it, else dispatchers at
    the jurisdiction."""
    node = department
    while node is not None and node.kind == OrganisationKind.DEPARTMENT:
        heads = staff_at(node, [HEAD])
        if heads:
            return heads
        node = node.parent
    return staff_at(fallback, [DISPATCHER])


def require_open(case: Case) -> None:
    if case.status == CaseStatus.CLOSED:
        raise Conflict(_("留言 %(number)s 已办结。") % {"number": case.tracking_number})


def close_case(case: Case, *, actor: User | None, reason: str, text: str = "") -> None:
    now = timezone.now()
    case.status = CaseStatus.CLOSED
    case.closed_at = now
    case.close_reason = reason
    save_case(case, ["status", "closed_at", "close_reason"])
    add_event(
        case, EventKind.CLOSED, actor=actor, text=text, public=True, data={"reason": reason}, at=now
    )
