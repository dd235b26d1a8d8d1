"""Reads that pages, the API, the Open311 layer and tasks share.

Lists are narrowed by `casework.permissions.case_scope_filter`. A staff member opening a case
sees the sender's contact details, so `case_get` checks permission and writes an audit row with
the stated purpose in the same call. The public board shows public messages without any
personal data (no name, contact, address or pin) and only the replies marked for the board.

Search: `q` matches the tracking number exactly, otherwise a case-insensitive substring of the
title or the text, in Chinese or English alike (no word segmentation needed). On PostgreSQL,
migration 0002 adds pg_trgm GIN indexes on UPPER(title) and UPPER(text), the expressions
Django's `icontains` compares, so the search uses an index for queries of three or more
characters; SQLite scans.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import statistics as pystats
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.casework import similarity
from civichub.casework.codes import access_code_matches
from civichub.casework.conf import casework_config
from civichub.casework.models import (
    AWAITING_REPLY,
    OPEN_STATUSES,
    RESIDENT_VISIBLE_EVENTS,
    Case,
    CaseEvent,
    CaseStatus,
    Category,
    EventKind,
    Rating,
    RatingValue,
)
from civichub.casework.permissions import case_scope_filter, is_own_case, may, require_case
from civichub.core import geo
from civichub.core.audit import audit_record
from civichub.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from civichub.core.models import Organisation, User
from civichub.core.permissions import require

TRACKING_NUMBER = re.compile(r"^\d{4}-\d{6}$")
CASE_RELATED = ("department", "community", "jurisdiction", "category", "assignee", "submitter")


def _purpose(purpose: str) -> str:
    purpose = purpose.strip()
    if not purpose:
        raise ValidationFailed.on("purpose", _("请说明查看个人信息的事由。"))
    return purpose[:200]


# Taxonomy ------------------------------------------------------------------------------------


def category_list(*, active_only: bool = True) -> QuerySet[Category]:
    queryset = Category.objects.select_related("department").prefetch_related("attributes")
    return queryset.filter(active=True) if active_only else queryset


def category_get(*, key: str, active_only: bool = True) -> Category:
    category = category_list(active_only=active_only).filter(key=key).first()
    if category is None:
        raise NotFound(_("没有代码为 %(key)s 的类别。") % {"key": key})
    return category


def jurisdiction() -> Organisation:
    """The area that receives cases before routing: the profile's code, else the tree's root."""
    code = casework_config().jurisdiction_code
    query = (
        Organisation.objects.filter(code=code)
        if code
        else Organisation.objects.filter(parent__isnull=True)
    )
    root = query.order_by("path").first()
    if root is None:
        raise Conflict(_("尚无受理留言的机构，请先建立组织机构。"))
    return root


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


@dataclass
class CasePage:
    items: list[Case]
    total: int


def search_filter(queryset: QuerySet[Case], q: str) -> QuerySet[Case]:
    q = q.strip()[:100]
    if not q:
        return queryset
    if TRACKING_NUMBER.match(q):
        return queryset.filter(tracking_number=q)
    return queryset.filter(Q(title__icontains=q) | Q(text__icontains=q))


def _inbox_queryset(actor: User, filters: InboxFilter, now: dt.datetime) -> QuerySet[Case]:
    queryset = case_scope_filter(
        actor, "casework.case.view", Case.objects.select_related(*CASE_RELATED)
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
        hours = int(casework_config().near_due_hours)
        queryset = queryset.filter(
            status__in=list(AWAITING_REPLY),
            due_at__gte=now,
            due_at__lt=now + dt.timedelta(hours=hours),
        )
    return search_filter(queryset, filters.q)


def case_inbox(*, actor: User, filters: InboxFilter, offset: int = 0, limit: int = 50) -> CasePage:
    """Cases in the caller's department and community scope, most urgent first."""
    require(actor, "casework.case.view")
    now = timezone.now()
    queryset = _inbox_queryset(actor, filters, now)
    total = queryset.count()
    items = list(queryset.order_by("due_at", "pk")[offset : offset + min(limit, 200)])
    return CasePage(items=items, total=total)


def due_state(case: Case, now: dt.datetime | None = None) -> str:
    """ "overdue", "near" or "" for an open case's deadline (shown as text, not colour only)."""
    now = now or timezone.now()
    if case.due_at is None or not case.awaits_reply:
        return ""
    if now > case.due_at:
        return "overdue"
    if case.due_at - now < dt.timedelta(hours=int(casework_config().near_due_hours)):
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


def own_cases(*, actor: User, offset: int = 0, limit: int = 50) -> CasePage:
    if not actor.is_authenticated:
        raise PermissionDenied(_("请登录后查看您的留言。"))
    queryset = Case.objects.filter(submitter=actor).select_related("department", "category")
    total = queryset.count()
    return CasePage(
        items=list(queryset.order_by("-created_at")[offset : offset + limit]), total=total
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
            role_assignments__role__in=[
                "community_worker",
                "department_handler",
                "department_head",
            ],
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
    conf = casework_config()
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


# Public board --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoardEntry:
    """A public message as the board shows it: no name, contact, address or pin."""

    tracking_number: str
    kind: str
    kind_label: str
    title: str
    text: str
    status: str
    status_label: str
    department: str
    department_id: int | None
    category: str
    created_at: dt.datetime
    replies: list[tuple[dt.datetime, str]] = field(default_factory=list)
    department_en: str = ""  # the department's English name, for English pages


def board_list(
    *, q: str = "", department_id: int | None = None, offset: int = 0, limit: int = 20
) -> tuple[list[BoardEntry], int]:
    queryset = Case.objects.filter(
        is_public=True, department__isnull=False, merged_into__isnull=True
    ).select_related("department", "category")
    if department_id:
        queryset = queryset.filter(department_id=department_id)
    queryset = search_filter(queryset, q)
    total = queryset.count()
    cases = list(queryset.order_by("-created_at", "-pk")[offset : offset + min(limit, 100)])
    board_replies: dict[int, list[tuple[dt.datetime, str]]] = defaultdict(list)
    for case_id, at, text in (
        CaseEvent.objects.filter(case__in=cases, kind=EventKind.REPLY, data__board=True)
        .order_by("created_at", "pk")
        .values_list("case_id", "created_at", "text")
    ):
        board_replies[case_id].append((at, text))
    entries = [
        BoardEntry(
            tracking_number=c.tracking_number,
            kind=c.kind,
            kind_label=str(c.get_kind_display()),
            title=c.title,
            text=c.text,
            status=c.status,
            status_label=str(c.get_status_display()),
            department=c.department.name if c.department else "",
            department_en=c.department.name_en if c.department else "",
            department_id=c.department_id,
            category=c.category.name if c.category else "",
            created_at=c.created_at,
            replies=board_replies.get(c.pk, []),
        )
        for c in cases
    ]
    return entries, total


def board_departments() -> list[Organisation]:
    ids = (
        Case.objects.filter(is_public=True, department__isnull=False)
        .values_list("department_id", flat=True)
        .distinct()
    )
    return list(Organisation.objects.filter(pk__in=list(ids)).order_by("path"))


# Routing training data -------------------------------------------------------------------------


def routing_training_examples() -> Iterable[tuple[str, str]]:
    """(title + text, category key) for cases whose category a person decided or confirmed:
    triaged or transferred by staff, chosen by the sender, or closed without a transfer."""
    queryset = Case.objects.filter(category__isnull=False).filter(
        Q(category_source__in=["staff", "sender"]) | Q(status=CaseStatus.CLOSED)
    )
    for title, text, key in queryset.values_list("title", "text", "category__key").iterator():
        yield f"{title}\n{text}", key


# Statistics ------------------------------------------------------------------------------------


@dataclass
class Figures:
    """KPIs for one group of cases (the 12345 triad 响应率 / 解决率 / 满意率 and more).

    - volume: messages received (duplicates merged into another case are not counted)
    - responded: given at least one reply; response_rate = responded / volume
    - resolved: closed; resolution_rate = resolved / volume
    - rated / satisfied: cases with a rating; satisfied counts a final rating of satisfied or
      basically satisfied; satisfaction_rate = satisfied / rated
    - median_hours_to_first_reply: over responded cases
    - overdue: still waiting for a reply past the deadline now; late_replies: first reply after
      the deadline
    Rates are None when their denominator is 0.
    """

    key: str
    label: str
    label_en: str = ""  # the group's English name, for English pages; not in the API or CSV
    volume: int = 0
    responded: int = 0
    resolved: int = 0
    rated: int = 0
    satisfied: int = 0
    overdue: int = 0
    late_replies: int = 0
    hours_to_reply: list[float] = field(default_factory=list, repr=False)

    @staticmethod
    def _rate(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

    @property
    def response_rate(self) -> float | None:
        return self._rate(self.responded, self.volume)

    @property
    def resolution_rate(self) -> float | None:
        return self._rate(self.resolved, self.volume)

    @property
    def satisfaction_rate(self) -> float | None:
        return self._rate(self.satisfied, self.rated)

    @property
    def median_hours_to_first_reply(self) -> float | None:
        return round(pystats.median(self.hours_to_reply), 2) if self.hours_to_reply else None

    def add(self, row: dict[str, Any], rating: str | None, now: dt.datetime) -> None:
        self.volume += 1
        replied_at = row["first_replied_at"]
        due_at = row["due_at"]
        if replied_at is not None:
            self.responded += 1
            self.hours_to_reply.append((replied_at - row["created_at"]).total_seconds() / 3600)
            if due_at is not None and replied_at > due_at and row["reopen_count"] == 0:
                self.late_replies += 1
        if row["status"] == CaseStatus.CLOSED:
            self.resolved += 1
        if rating is not None:
            self.rated += 1
            if rating in {RatingValue.SATISFIED, RatingValue.BASIC}:
                self.satisfied += 1
        if row["status"] in AWAITING_REPLY and due_at is not None and now > due_at:
            self.overdue += 1

    def as_row(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "volume": self.volume,
            "responded": self.responded,
            "response_rate": self.response_rate,
            "resolved": self.resolved,
            "resolution_rate": self.resolution_rate,
            "rated": self.rated,
            "satisfied": self.satisfied,
            "satisfaction_rate": self.satisfaction_rate,
            "median_hours_to_first_reply": self.median_hours_to_first_reply,
            "overdue": self.overdue,
            "late_replies": self.late_replies,
        }


@dataclass
class Statistics:
    since: dt.date
    until: dt.date
    group_by: str
    period: str
    total: Figures
    groups: list[Figures]
    periods: list[Figures]


def _period_start(day: dt.date, period: str) -> dt.date:
    if period == "month":
        return day.replace(day=1)
    return day - dt.timedelta(days=day.weekday())


def case_statistics(
    *,
    actor: User,
    since: dt.date,
    until: dt.date,
    group_by: str = "department",
    period: str = "week",
    now: dt.datetime | None = None,
) -> Statistics:
    """Figures for cases received from `since` to `until` (inclusive, local dates) in the
    caller's scope, grouped by department or community, and over time by week or month."""
    require(actor, "casework.stats.view")
    if group_by not in {"department", "community"}:
        raise ValidationFailed.on("group_by", _("请按部门或按社区分组。"))
    if period not in {"week", "month"}:
        raise ValidationFailed.on("period", _("周期须为周或月。"))
    if until < since or (until - since).days > 3660:
        raise ValidationFailed.on("until", _("截止日期不能早于起始日期，统计范围最长十年。"))
    now = now or timezone.now()
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(since, dt.time.min, tz)
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time.min, tz)
    queryset = case_scope_filter(
        actor,
        "casework.stats.view",
        Case.objects.filter(created_at__gte=start, created_at__lt=end, merged_into__isnull=True),
    )
    fields = (
        "pk",
        "created_at",
        "first_replied_at",
        "due_at",
        "status",
        "reopen_count",
        "department_id",
        "department__name",
        "department__name_en",
        "community_id",
        "community__name",
        "community__name_en",
    )
    rows: list[dict[str, Any]] = [dict(row) for row in queryset.values(*fields)]
    final_rating: dict[int, str] = {}
    for case_id, value in (
        Rating.objects.filter(case_id__in=[r["pk"] for r in rows])
        .order_by("case_id", "round")
        .values_list("case_id", "value")
    ):
        final_rating[case_id] = value
    total = Figures(key="all", label="")
    groups: dict[str, Figures] = {}
    periods: dict[dt.date, Figures] = {}
    for row in rows:
        rating = final_rating.get(row["pk"])
        total.add(row, rating, now)
        group_id = row[f"{group_by}_id"]
        key = str(group_id) if group_id else ""
        if key not in groups:
            groups[key] = Figures(
                key=key,
                label=row[f"{group_by}__name"] or "",
                label_en=row[f"{group_by}__name_en"] or "",
            )
        groups[key].add(row, rating, now)
        day = timezone.localtime(row["created_at"], tz).date()
        bucket = _period_start(day, period)
        if bucket not in periods:
            periods[bucket] = Figures(key=bucket.isoformat(), label=bucket.isoformat())
        periods[bucket].add(row, rating, now)
    return Statistics(
        since=since,
        until=until,
        group_by=group_by,
        period=period,
        total=total,
        groups=sorted(groups.values(), key=lambda f: (-f.volume, f.label)),
        periods=[periods[k] for k in sorted(periods)],
    )


CSV_COLUMNS = [
    "section",
    "key",
    "label",
    "volume",
    "responded",
    "response_rate",
    "resolved",
    "resolution_rate",
    "rated",
    "satisfied",
    "satisfaction_rate",
    "median_hours_to_first_reply",
    "overdue",
    "late_replies",
]


def statistics_csv(stats: Statistics) -> str:
    """The figures as CSV: one row for the total, one per group, one per period."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    sections = [
        ("total", [stats.total]),
        (stats.group_by, stats.groups),
        (stats.period, stats.periods),
    ]
    for section, figures in sections:
        for figure in figures:
            row = figure.as_row()
            row["label"] = _csv_safe(row["label"])
            writer.writerow({"section": section, **row})
    return out.getvalue()


def _csv_safe(value: str) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas; quote them out."""
    return "'" + value if value[:1] in {"=", "+", "-", "@"} else value


def status_counts(*, actor: User) -> dict[str, int]:
    queryset = case_scope_filter(actor, "casework.case.view", Case.objects.all())
    return dict(queryset.values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
