"""Casework by staff: triage, assignment, transfer, notes, replies, closing, extensions of the
deadline and merging duplicates. Each change writes its history event, its audit row and its
notifications in one transaction."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from civichub.casework import workdays
from civichub.casework.conf import casework_settings
from civichub.casework.models import (
    Case,
    CaseEvent,
    CaseStatus,
    Category,
    CategorySource,
    EventKind,
    ExtensionState,
)
from civichub.casework.permissions import may
from civichub.casework.services._shared import (
    add_event,
    case_context,
    check,
    close_case,
    department_heads,
    locked,
    notify,
    notify_department,
    require_open,
    save_case,
)
from civichub.casework.services.routing import local_department
from civichub.core.audit import audit_record
from civichub.core.errors import Conflict, ValidationFailed
from civichub.core.models import Organisation, OrganisationKind, User


@transaction.atomic
def case_triage(
    *,
    actor: User | None,
    case: Case,
    category: Category,
    department: Organisation | None = None,
    note: str = "",
) -> Case:
    """Settles a case the router was unsure of: sets its category (training data, like a
    transfer) and sends it to the category's department (or the one given)."""
    case = locked(case)
    check(actor, "casework.case.triage", case)
    require_open(case)
    if case.status not in {CaseStatus.RECEIVED, CaseStatus.TRIAGE}:
        raise Conflict(_("只有待分拣的留言可以分拣；已派单的留言请转办。"))
    target = department or local_department(category.department, case.community)
    if target is None or target.kind != OrganisationKind.DEPARTMENT:
        message = _("该类别没有对应的承办部门，请选择部门。")
        raise ValidationFailed(_("请选择承办部门。"), errors={"department": [message]})
    before = {"category": case.category.key if case.category else None}
    case.category = category
    case.category_source = CategorySource.STAFF
    case.department = target
    case.status = CaseStatus.ASSIGNED
    if case.routed_at is None:
        case.routed_at = timezone.now()
    save_case(case, ["category", "category_source", "department", "status", "routed_at"])
    add_event(
        case,
        EventKind.TRIAGED,
        actor=actor,
        text=note,
        public=True,
        data={**before, "to_category": category.key, "department": target.code},
    )
    audit_record(
        actor=actor,
        action="casework.case.triage",
        obj=case,
        changes={"category": [before["category"], category.key], "department": target.code},
    )
    notify_department(target, case, actor=actor, dedupe_key=f"casework.new:{case.pk}:{target.pk}")
    return case


@transaction.atomic
def case_assign(*, actor: User | None, case: Case, assignee: User) -> Case:
    """Gives the case to a handler, who must be allowed to reply to it; work starts."""
    case = locked(case)
    check(actor, "casework.case.assign", case)
    require_open(case)
    if case.status in {CaseStatus.RECEIVED, CaseStatus.TRIAGE}:
        raise Conflict(_("请先分派或分拣留言，再指定承办人。"))
    if not may(assignee, "casework.case.reply", case):
        raise ValidationFailed.on("assignee", _("此人不能承办这件留言。"))
    before = case.assignee_id
    case.assignee = assignee
    if case.status in {CaseStatus.ASSIGNED, CaseStatus.REOPENED}:
        case.status = CaseStatus.IN_PROGRESS
    save_case(case, ["assignee", "status"])
    add_event(
        case,
        EventKind.ASSIGNED,
        actor=actor,
        data={"from": before, "to": assignee.pk, "assignee": assignee.display_name()},
    )
    audit_record(
        actor=actor,
        action="casework.case.assign",
        obj=case,
        changes={"assignee": [before, assignee.pk]},
    )
    if actor is None or assignee.pk != actor.pk:
        notify(
            [assignee],
            "casework.case_assigned",
            case_context(case),
            actor=actor,
            dedupe_key=f"casework.assigned:{case.pk}:{assignee.pk}:{case.events.count()}",
        )
    return case


@transaction.atomic
def case_transfer(
    *,
    actor: User | None,
    case: Case,
    reason: str,
    category: Category | None = None,
    department: Organisation | None = None,
) -> Case:
    """Sends the case to another department (the new category's, or the one given), with a
    reason. The corrected category is kept as training data for the router (the event's
    `from_category`/`to_category`, and `category_source = staff`)."""
    case = locked(case)
    check(actor, "casework.case.transfer", case)
    require_open(case)
    if not reason.strip():
        raise ValidationFailed.on("reason", _("请填写转办理由。"))
    target = department or (
        local_department(category.department, case.community) if category else None
    )
    if target is None or target.kind != OrganisationKind.DEPARTMENT:
        raise ValidationFailed.on("department", _("请选择转至的部门。"))
    if target.pk == case.department_id and (category is None or category.pk == case.category_id):
        raise Conflict(_("这件留言已由该部门承办。"))
    before_category = case.category.key if case.category else None
    before_department = case.department.code if case.department else None
    if category is not None:
        case.category = category
        case.category_source = CategorySource.STAFF
    case.department = target
    case.assignee = None
    case.status = CaseStatus.ASSIGNED if case.status != CaseStatus.REPLIED else case.status
    if case.routed_at is None:
        case.routed_at = timezone.now()
    save_case(
        case, ["category", "category_source", "department", "assignee", "status", "routed_at"]
    )
    add_event(
        case,
        EventKind.TRANSFERRED,
        actor=actor,
        text=reason.strip(),
        public=True,
        data={
            "from_category": before_category,
            "to_category": case.category.key if case.category else None,
            "from_department": before_department,
            "to_department": target.code,
            "training": True,
        },
    )
    audit_record(
        actor=actor,
        action="casework.case.transfer",
        obj=case,
        changes={
            "department": [before_department, target.code],
            "category": [before_category, case.category.key if case.category else None],
            "reason": reason.strip()[:200],
        },
    )
    notify_department(
        target, case, actor=actor, dedupe_key=f"casework.transfer:{case.pk}:{case.events.count()}"
    )
    return case


@transaction.atomic
def case_note(*, actor: User | None, case: Case, text: str, public: bool = False) -> CaseEvent:
    """An internal note (staff only) or, with `public`, one the sender can read."""
    case = locked(case)
    check(actor, "casework.case.note", case)
    if not text.strip():
        raise ValidationFailed.on("text", _("请填写备注内容。"))
    event = add_event(case, EventKind.NOTE, actor=actor, text=text.strip()[:4000], public=public)
    save_case(case, [])
    audit_record(actor=actor, action="casework.case.note", obj=case, changes={"public": public})
    return event


@transaction.atomic
def case_reply(
    *,
    actor: User | None,
    case: Case,
    text: str,
    public: bool = True,
    resolved: bool | None = True,
) -> CaseEvent:
    """Answers the sender (always visible to them); `public` also shows the reply on the public
    board when the message itself is public. The sender is notified.

    A reply that resolves the matter (`resolved`) waits for the sender's rating, which closes
    the case or reopens it. A progress reply (the work is promised, not done: "the light will be
    repaired tomorrow") answers the sender without asking for a rating: the case stays in hand,
    its deadline running, until a reply that resolves it or a staff decision closes it."""
    case = locked(case)
    check(actor, "casework.case.reply", case)
    require_open(case)
    if case.status in {CaseStatus.RECEIVED, CaseStatus.TRIAGE}:
        raise Conflict(_("请先分派或分拣留言，再答复。"))
    errors: dict[str, list[str]] = {}
    if not text.strip():
        errors["text"] = [_("请填写答复内容。")]
    if resolved is None:  # the staff form has no default: the handler must say
        errors["resolved"] = [_("请选择这条答复是否已解决来信人反映的问题。")]
    if len(errors) == 1:
        [(field, [message])] = errors.items()
        raise ValidationFailed.on(field, message)
    if errors:
        raise ValidationFailed(_("答复填写不完整。"), errors=errors)
    resolved = bool(resolved)
    now = timezone.now()
    event = add_event(
        case,
        EventKind.REPLY,
        actor=actor,
        text=text.strip()[:8000],
        public=True,
        data={
            "board": bool(public and case.is_public),
            "round": case.reopen_count + 1,
            "resolved": resolved,
        },
        at=now,
    )
    case.status = CaseStatus.REPLIED if resolved else CaseStatus.IN_PROGRESS
    case.first_replied_at = case.first_replied_at or now
    case.last_replied_at = now
    if case.assignee_id is None and actor is not None:
        case.assignee = actor
    save_case(case, ["status", "first_replied_at", "last_replied_at", "assignee"])
    audit_record(
        actor=actor,
        action="casework.case.reply",
        obj=case,
        changes={"public": public, "resolved": resolved},
    )
    if case.submitter_id:
        notify(
            [case.submitter_id],
            "casework.case_replied" if resolved else "casework.case_progress",
            {**case_context(case), "reply": event.text[:500]},
            actor=actor,
            dedupe_key=f"casework.reply:{event.pk}",
        )
    return event


@transaction.atomic
def case_close(*, actor: User | None, case: Case, reason: str = "resolved", note: str = "") -> Case:
    """Closes a case by staff decision (for example: answered but never rated)."""
    case = locked(case)
    check(actor, "casework.case.close", case)
    require_open(case)
    if case.first_replied_at is None and not note.strip():
        raise ValidationFailed.on("note", _("留言尚未答复，办结时请填写给来信人的办结说明。"))
    close_case(case, actor=actor, reason=reason[:32] or "resolved", text=note.strip()[:4000])
    audit_record(actor=actor, action="casework.case.close", obj=case, changes={"reason": reason})
    if case.submitter_id:
        notify(
            [case.submitter_id],
            "casework.case_closed",
            case_context(case),
            actor=actor,
            dedupe_key=f"casework.closed:{case.pk}:{case.reopen_count}",
        )
    return case


@transaction.atomic
def case_extension_request(*, actor: User | None, case: Case, days: int, reason: str) -> Case:
    """Asks the department head for `days` more working days."""
    case = locked(case)
    check(actor, "casework.case.extend_request", case)
    require_open(case)
    limit = int(casework_settings().max_extension_working_days)
    errors: dict[str, list[str]] = {}
    if not 1 <= days <= limit:
        errors["days"] = [
            ngettext(
                "延期天数须在 1 到 %(limit)d 个工作日之间。",
                "延期天数须在 1 到 %(limit)d 个工作日之间。",
                limit,
            )
            % {"limit": limit}
        ]
    if not reason.strip():
        errors["reason"] = [_("请填写延期理由。")]
    if errors:
        raise ValidationFailed(_("延期申请填写不完整或有误。"), errors=errors)
    if case.extension_state == ExtensionState.REQUESTED:
        raise Conflict(_("已有一项延期申请等待审批。"))
    case.extension_state = ExtensionState.REQUESTED
    case.extension_requested_days = days
    case.extension_reason = reason.strip()[:500]
    save_case(case, ["extension_state", "extension_requested_days", "extension_reason"])
    add_event(
        case,
        EventKind.EXTENSION_REQUESTED,
        actor=actor,
        text=case.extension_reason,
        data={"days": days},
    )
    audit_record(
        actor=actor, action="casework.case.extend_request", obj=case, changes={"days": days}
    )
    notify(
        department_heads(case.department, case.jurisdiction),
        "casework.extension_requested",
        {**case_context(case), "days": days, "reason": case.extension_reason},
        actor=actor,
        dedupe_key=f"casework.extension:{case.pk}:{case.events.count()}",
    )
    return case


@transaction.atomic
def case_extension_decide(*, actor: User | None, case: Case, approve: bool, note: str = "") -> Case:
    """The head approves (the deadline moves by the requested working days) or refuses."""
    case = locked(case)
    check(actor, "casework.case.extend_approve", case)
    if case.extension_state != ExtensionState.REQUESTED:
        raise Conflict(_("没有等待审批的延期申请。"))
    days = case.extension_requested_days
    before = case.due_at
    if approve:
        case.due_at = workdays.extend(case.due_at or timezone.now(), days)
        case.extension_days += days
        case.extension_state = ExtensionState.APPROVED
    else:
        case.extension_state = ExtensionState.REJECTED
    case.extension_requested_days = 0
    save_case(case, ["due_at", "extension_days", "extension_state", "extension_requested_days"])
    add_event(
        case,
        EventKind.EXTENSION_APPROVED if approve else EventKind.EXTENSION_REJECTED,
        actor=actor,
        text=note.strip()[:500],
        public=approve,
        data={"days": days, "due_at": case.due_at.isoformat() if case.due_at else None},
    )
    audit_record(
        actor=actor,
        action="casework.case.extend_decide",
        obj=case,
        changes={
            "approved": approve,
            "days": days,
            "due_at": [
                before.isoformat() if before else None,
                case.due_at.isoformat() if case.due_at else None,
            ],
        },
    )
    return case


@transaction.atomic
def case_merge(*, actor: User | None, case: Case, into: Case, reason: str = "") -> Case:
    """Closes `case` as a duplicate of `into`; the sender is told where to follow it. The
    primary (open, or already answered and closed) must not itself be a duplicate; the actor
    needs the merge action on both."""
    if case.pk == into.pk:
        raise ValidationFailed.on("into", _("留言不能合并到它自己。"))
    case = locked(case)
    into = locked(into)
    check(actor, "casework.case.merge", case)
    check(actor, "casework.case.merge", into)
    require_open(case)
    if into.merged_into_id is not None:
        raise Conflict(_("请合并到被重复的原留言，而不是另一件重复件。"))
    if case.duplicates.exists():
        raise Conflict(_("已有重复件合并到这件留言，请反向合并。"))
    case.merged_into = into
    save_case(case, ["merged_into"])
    close_case(case, actor=actor, reason="duplicate", text=reason.strip()[:500])
    add_event(
        case,
        EventKind.MERGED,
        actor=actor,
        text=reason.strip()[:500],
        public=True,
        data={"into": into.tracking_number},
    )
    add_event(
        into,
        EventKind.MERGED,
        actor=actor,
        text=reason.strip()[:500],
        data={"duplicate": case.tracking_number},
    )
    audit_record(
        actor=actor,
        action="casework.case.merge",
        obj=case,
        changes={"into": into.tracking_number},
    )
    if case.submitter_id:
        notify(
            [case.submitter_id],
            "casework.case_merged",
            {**case_context(case), "into": into.tracking_number},
            actor=actor,
            dedupe_key=f"casework.merged:{case.pk}",
        )
    return case
