"""Cases for staff and senders: the inbox in the caller's scope, one case (audited when staff
open it), its history, the people who could handle it, and possible duplicates."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.casework import similarity
from civichub.casework.codes import access_code_matches
from civichub.casework.conf import casework_settings
from civichub.casework.models import (
    AWAITING_REPLY,
    OPEN_STATUSES,
    RESIDENT_VISIBLE_EVENTS,
    Case,
    CaseEvent,
    CasePhoto,
    CaseStatus,
    EventKind,
    Rating,
)
from civichub.casework.permissions import (
    HANDLER,
    HEAD,
    WORKER,
    case_scope_filter,
    is_own_case,
    may,
    require_case,
)
from civichub.core import geo
from civichub.core.audit import audit_record
from civichub.core.errors import NotFound, PermissionDenied, ValidationFailed
from civichub.core.models import Organisation, User
from civichub.core.paging import Page
from civichub.core.permissions import require

TRACKING_NUMBER = re.compile(r"^\d{4}-\d{6}$")
# Purposes the code states in the append-only audit log: fixed Chinese wording, never translated.
INBOX_PURPOSE = "留言办理：待办列表"
PHOTO_PURPOSE = "留言办理：查看照片"
CASE_RELATED = ("department", "community", "jurisdiction", "category", "assignee", "submitter")
# What a list of cases shows of each (the inbox, the sender's own messages, their API summaries):
# joining the people and the jurisdiction too made the list's query several times dearer to build.
LIST_RELATED = ("department", "community", "category")


def _purpose(purpose: str) -> str:
    purpose = purpose.strip()
    if not purpose:
        raise ValidationFailed.on("purpose", _("请说明查看个人信息的事由。"))
    return purpose[:200]


# Staff inbox ---------------------------------------------------------------------------------


@dataclass
class InboxFilter:
    """`status`: a status, "open" (every open state) or "" (all). `due`: "overdue", "near"
    (deadline within the profile's near_due_hours) or "". `mine`: assigned to the caller."""

    status: str = "open"
    kind: str = ""
    department_id: int | None = None
    community_id: int | None = None
    category: str = ""
    q: str = ""
    due: str = ""
    mine: bool = False


def search_filter(queryset: QuerySet[Case], q: str) -> QuerySet[Case]:
    q = q.strip()[:100]
    if not q:
        return queryset
    if TRACKING_NUMBER.match(q):
        return queryset.filter(tracking_number=q)
    return queryset.filter(Q(title__icontains=q) | Q(text__icontains=q))


def _inbox_queryset(actor: User, filters: InboxFilter, now: dt.datetime) -> QuerySet[Case]:
    queryset = case_scope_filter(
        actor, "casework.case.view", Case.objects.select_related(*LIST_RELATED)
    )
    if filters.status == "open":
        queryset = queryset.filter(status__in=list(OPEN_STATUSES))
    elif filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.kind:
        queryset = queryset.filter(kind=filters.kind)
    if filters.category:
        queryset = queryset.filter(category__key=filters.category)
    if filters.department_id:
        department = Organisation.objects.filter(pk=filters.department_id).first()
        queryset = queryset.filter(
            department__path__startswith=department.path if department else "-"
        )
    if filters.community_id:
        community = Organisation.objects.filter(pk=filters.community_id).first()
        queryset = queryset.filter(community__path__startswith=community.path if community else "-")
    if filters.mine:
        queryset = queryset.filter(assignee=actor)
    if filters.due == "overdue":
        queryset = queryset.filter(status__in=list(AWAITING_REPLY), due_at__lt=now)
    elif filters.due == "near":
        hours = int(casework_settings().near_due_hours)
        queryset = queryset.filter(
            status__in=list(AWAITING_REPLY),
            due_at__gte=now,
            due_at__lt=now + dt.timedelta(hours=hours),
        )
    return search_filter(queryset, filters.q)


@transaction.atomic
def case_inbox(
    *, actor: User, filters: InboxFilter, offset: int = 0, limit: int = 50
) -> Page[Case]:
    """Cases in the caller's department and community scope, most urgent first. The list shows
    what residents wrote, so it is audited like a list of residents: which cases were shown."""
    require(actor, "casework.case.view")
    now = timezone.now()
    queryset = _inbox_queryset(actor, filters, now)
    total = queryset.count()
    items = list(queryset.order_by("due_at", "pk")[offset : offset + min(limit, 200)])
    audit_record(
        actor=actor,
        action="casework.case.list",
        object_type="casework.case",
        purpose=INBOX_PURPOSE,
        changes={"shown": [case.pk for case in items], "offset": offset},
    )
    return Page(items=items, total=total, offset=offset, limit=min(limit, 200))


def due_state(case: Case, now: dt.datetime | None = None) -> str:
    """ "overdue", "near" or "" for an open case's deadline (shown as text, not colour only)."""
    now = now or timezone.now()
    if case.due_at is None or not case.awaits_reply:
        return ""
    if now > case.due_at:
        return "overdue"
    if case.due_at - now < dt.timedelta(hours=int(casework_settings().near_due_hours)):
        return "near"
    return ""


def open_count(user: User) -> int:
    return case_scope_filter(
        user, "casework.case.view", Case.objects.filter(status__in=list(OPEN_STATUSES))
    ).count()


def overdue_count(user: User) -> int:
    return case_scope_filter(
        user,
        "casework.case.view",
        Case.objects.filter(status__in=list(AWAITING_REPLY), due_at__lt=timezone.now()),
    ).count()


def triage_count(user: User) -> int:
    return case_scope_filter(
        user, "casework.case.triage", Case.objects.filter(status=CaseStatus.TRIAGE)
    ).count()


# One case ------------------------------------------------------------------------------------


def _case_queryset() -> QuerySet[Case]:
    return Case.objects.select_related(*CASE_RELATED, "merged_into").prefetch_related(
        "photos", Prefetch("ratings", queryset=Rating.objects.order_by("round"))
    )


def case_load(pk: int | None = None, tracking_number: str | None = None) -> Case:
    """Loads a case with what pages show; no permission check (callers have made one)."""
    queryset = _case_queryset()
    case = (
        queryset.filter(pk=pk).first()
        if pk is not None
        else queryset.filter(tracking_number=tracking_number or "").first()
    )
    if case is None:
        raise NotFound(_("没有找到留言 %(number)s。") % {"number": tracking_number or pk})
    return case


@transaction.atomic
def case_get(
    *,
    actor: User,
    pk: int | None = None,
    tracking_number: str | None = None,
    purpose: str = "",
) -> Case:
    """A case for its sender (no audit needed: their own data) or for staff in scope (audited
    with the purpose, since the sender's contact details are shown)."""
    case = case_load(pk, tracking_number)
    require_case(actor, "casework.case.view", case)
    if not is_own_case(actor, case):
        audit_record(actor=actor, action="casework.case.view", obj=case, purpose=_purpose(purpose))
    return case


@transaction.atomic
def case_photo_get(*, actor: User, case: Case, pk: int) -> CasePhoto:
    """A photo of a case for staff who may see the case (audited: a photo shows the sender's
    surroundings, often their home) or for its signed-in sender."""
    require_case(actor, "casework.case.view", case)
    photo = case.photos.filter(pk=pk).first()
    if photo is None:
        raise NotFound(_("没有找到该照片。"))
    if not is_own_case(actor, case):
        audit_record(actor=actor, action="casework.photo.view", obj=photo, purpose=PHOTO_PURPOSE)
    return photo


def case_for_tracking(*, tracking_number: str, access_code: str) -> Case:
    """An anonymous sender's own case, by tracking number and access code."""
    case = Case.objects.filter(tracking_number=tracking_number.strip()).first()
    if case is None or not access_code_matches(case, access_code):
        # The same answer for "no such case" and "wrong code": numbers are guessable.
        raise NotFound(_("受理编号或查询码不正确。"))
    return case_load(case.pk)


def case_history(
    *, actor: User | None, case: Case, staff_view: bool | None = None
) -> list[CaseEvent]:
    """Staff see every event; the sender sees what concerns them (no internal notes)."""
    if staff_view is None:
        staff_view = actor is not None and may(actor, "casework.case.note", case)
    events = case.events.select_related("actor").order_by("created_at", "pk")
    if staff_view:
        return list(events)
    return [
        e
        for e in events
        if (e.kind in RESIDENT_VISIBLE_EVENTS or (e.kind == EventKind.NOTE and e.public))
        and e.public
    ]


def replies(case: Case) -> list[CaseEvent]:
    return list(case.events.filter(kind=EventKind.REPLY).order_by("created_at", "pk"))


def own_cases(*, actor: User, offset: int = 0, limit: int = 50) -> Page[Case]:
    if not actor.is_authenticated:
        raise PermissionDenied(_("请登录后查看您的留言。"))
    queryset = Case.objects.filter(submitter=actor).select_related(*LIST_RELATED)
    total = queryset.count()
    return Page(
        items=list(queryset.order_by("-created_at")[offset : offset + limit]),
        total=total,
        offset=offset,
        limit=limit,
    )


def assignable_staff(*, case: Case) -> list[User]:
    """People who could handle the case: reply-capable staff over its department or community."""
    paths = [o.path for o in (case.department, case.community) if o is not None]
    if not paths:
        return []
    condition = Q(pk__in=[])
    for path in paths:
        # A role held at the organisation or anywhere above it covers the case.
        prefixes = [path[: i + 1] for i, ch in enumerate(path) if ch == "/" and i > 0]
        condition |= Q(
            role_assignments__organisation__path__in=prefixes,
            role_assignments__role__in=[WORKER, HANDLER, HEAD],
        )
    users = User.objects.filter(condition, is_active=True).distinct().order_by("username")
    return [u for u in users[:200] if may(u, "casework.case.reply", case)]


# Duplicates ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DuplicateCandidate:
    case: Case
    score: float
    text_similarity: float
    distance_m: float | None
    hours_apart: float


def duplicate_candidates(*, actor: User, case: Case, limit: int = 5) -> list[DuplicateCandidate]:
    """Open cases in the caller's scope that may report the same matter: character-bigram
    Jaccard similarity of title and text (weight 0.6), the same place (0.25: within the
    profile's duplicate_radius_m, or the same community when either has no pin) and closeness
    in time (0.15, falling to 0 over the duplicate window). Above duplicate_min_score only."""
    require_case(actor, "casework.case.merge", case)
    conf = casework_settings()
    window = dt.timedelta(days=int(conf.duplicate_window_days))
    radius = float(conf.duplicate_radius_m)
    pool = case_scope_filter(
        actor,
        "casework.case.merge",
        Case.objects.filter(
            created_at__gte=case.created_at - window,
            created_at__lte=case.created_at + window,
            merged_into__isnull=True,
        )
        .exclude(pk=case.pk)
        .select_related("department", "community"),
    ).filter(status__in=list(OPEN_STATUSES))
    grams = similarity.bigrams(f"{case.title} {case.text}")
    found: list[DuplicateCandidate] = []
    for other in pool[:1000]:
        text_score = similarity.jaccard(grams, similarity.bigrams(f"{other.title} {other.text}"))
        distance: float | None = None
        if case.has_point and other.has_point:
            assert case.wgs84_latitude is not None and case.wgs84_longitude is not None
            assert other.wgs84_latitude is not None and other.wgs84_longitude is not None
            distance = geo.distance_m(
                case.wgs84_latitude,
                case.wgs84_longitude,
                other.wgs84_latitude,
                other.wgs84_longitude,
            )
            place_score = max(0.0, 1 - distance / radius) if radius else 0.0
        else:
            same = case.community_id is not None and case.community_id == other.community_id
            place_score = 0.5 if same else 0.0
        hours = abs((other.created_at - case.created_at).total_seconds()) / 3600
        time_score = max(0.0, 1 - hours / (window.total_seconds() / 3600))
        score = 0.6 * text_score + 0.25 * place_score + 0.15 * time_score
        if score >= float(conf.duplicate_min_score):
            found.append(
                DuplicateCandidate(
                    case=other,
                    score=round(score, 3),
                    text_similarity=round(text_score, 3),
                    distance_m=round(distance, 1) if distance is not None else None,
                    hours_apart=round(hours, 1),
                )
            )
    found.sort(key=lambda c: (-c.score, c.case.pk))
    return found[:limit]
