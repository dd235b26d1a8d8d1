"""Reads shared by pages, the API and tasks, scoped by the permission check. Every read of a
household's data is audited, with a purpose in fixed Chinese wording (never translated, so the
same read is recorded the same way whatever the reader's language)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TypeVar

from django.db import transaction
from django.db.models import Count, Exists, Model, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from civichub.core.audit import audit_record
from civichub.core.errors import NotFound
from civichub.core.models import Organisation, OrganisationKind, Resident, RoleAssignment, User
from civichub.core.permissions import granted_paths, require, scope_filter
from civichub.wellbeing.detection.grid import SLOT_MINUTES
from civichub.wellbeing.links import ack_token_read
from civichub.wellbeing.models import (
    Alert,
    AlertStatus,
    AwayPeriod,
    FamilyContact,
    Household,
    Meter,
    Reading,
    VisitStatus,
    VisitTask,
)
from civichub.wellbeing.permissions import HEAD, WORKER

HOUSEHOLD_VIEW_PURPOSE = "查看关爱住户"
DASHBOARD_PURPOSE = "社区关爱总览"
LINK_PURPOSE = "家属通过确认链接查看提醒"
WITHDRAW_PURPOSE = "撤回同意前查看住户"
# Finding and reading the resident to enrol (core's audited resident reads).
ENROL_PURPOSE = "登记关爱服务"
DASHBOARD_LIMIT = 2000

M = TypeVar("M", bound=Model)

OPEN_VISIT = (
    VisitStatus.WAITING,
    VisitStatus.ACCEPTED,
    VisitStatus.ON_THE_WAY,
    VisitStatus.ESCALATED,
)

# A household's state on the dashboard, most pressing first.
STATES: list[tuple[str, object]] = [
    ("visit", gettext_lazy("待上门")),
    ("alert", gettext_lazy("等待家属确认")),
    ("away", gettext_lazy("外出中")),
    ("ok", gettext_lazy("正常")),
    ("withdrawn", gettext_lazy("已撤回同意")),
]


def _not_found() -> NotFound:
    return NotFound(_("没有这个关爱住户。"))


def _role_holders(community: Organisation, role: str) -> QuerySet[User]:
    """The active users holding `role` at the community or above it."""
    ancestors = [community.path[: i + 1] for i, ch in enumerate(community.path) if ch == "/"]
    user_ids = RoleAssignment.objects.filter(
        role=role, organisation__path__in=ancestors
    ).values_list("user_id", flat=True)
    return User.objects.filter(pk__in=user_ids, is_active=True)


def workers_for(community: Organisation) -> list[User]:
    """The community workers who can be responsible for a household in this community: those
    holding the role at the community or above it."""
    return list(_role_holders(community, WORKER).order_by("pk"))


def heads_for(community: Organisation) -> list[User]:
    """The community heads a visit task is handed to when it is overdue or escalated."""
    return list(_role_holders(community, HEAD))


def account_by_username(username: str) -> User | None:
    """The active account a family contact is given by its username."""
    return User.objects.filter(username=username, is_active=True).first()


def resident_for_enrol(*, pk: int) -> Resident | None:
    """The resident an enrolment form chose, shown again with the form's errors."""
    return Resident.objects.select_related("community").filter(pk=pk).first()


def active_user(pk: int) -> User | None:
    """An active account by its id (the worker chosen for a household; the service checks that
    they serve its community)."""
    return User.objects.filter(pk=pk, is_active=True).first()


def _own_q(actor: User, prefix: str = "") -> Q:
    """The households the actor is the resident of or a family contact of."""
    own = Q(**{f"{prefix}contacts__user_id": actor.pk})
    if actor.resident_id is not None:
        own |= Q(**{f"{prefix}resident_id": actor.resident_id})
    return own


def _audited_read(
    actor: User,
    query: QuerySet[M],
    pk: int,
    *,
    missing: str,
    permission: str,
    audit: str,
    purpose: str = "",
) -> M:
    """One row of a household's data, for an actor allowed `permission` on it, the read
    audited as `audit` in the same transaction; NotFound with `missing` when there is none."""
    found = query.filter(pk=pk).first()
    if found is None:
        raise NotFound(missing)
    require(actor, permission, found)
    audit_record(actor=actor, action=audit, obj=found, purpose=purpose)
    return found


@transaction.atomic
def household_detail(
    *, actor: User, household_id: int, purpose: str = HOUSEHOLD_VIEW_PURPOSE
) -> Household:
    return _audited_read(
        actor,
        Household.objects.select_related("resident", "community", "worker"),
        household_id,
        missing=_("没有这个关爱住户。"),
        permission="wellbeing.household.view",
        audit="wellbeing.household.view",
        purpose=purpose,
    )


@dataclass
class DailyUse:
    day: date
    water_l: float | None  # None: no reading that day, which is not the same as no use
    electricity_kwh: float | None
    gas_m3: float | None


def household_daily_use(*, household: Household, days: int = 7) -> list[DailyUse]:
    """The household's use per local day over the last `days` days, newest first, for a page
    that has already read the household through `household_detail` (and audited it there)."""
    today = timezone.localdate()
    since = timezone.make_aware(datetime.combine(today - timedelta(days=days - 1), time()))
    totals = (
        Reading.objects.filter(meter__household=household, at__gt=since)
        .annotate(day=TruncDate("at", tzinfo=timezone.get_current_timezone()))
        .values("day", "meter__utility")
        .annotate(total=Sum("use"))
    )
    by_day: dict[tuple[date, str], float] = {
        (row["day"], row["meter__utility"]): row["total"] for row in totals
    }

    def amount(day: date, utility: str, scale: float) -> float | None:
        total = by_day.get((day, utility))
        return None if total is None else round(total * scale, 1)

    result = []
    for offset in range(days):
        day = today - timedelta(days=offset)
        result.append(
            DailyUse(
                day=day,
                water_l=amount(day, "water", 1000.0),
                electricity_kwh=amount(day, "electricity", 1.0),
                gas_m3=amount(day, "gas", 1.0),
            )
        )
    return result


def detection_delay_minutes(meters: Iterable[Meter]) -> int | None:
    """How long, at most, from something happening at home until detection can see it: the
    slowest active meter's reporting (a reading covers its interval and is sent with it, or
    a day of hourly values arrives once a day), and never less than the detector's half-hour
    step. None without an active meter (nothing is watched)."""
    reporting = [max(m.report_every_minutes, m.interval_minutes) for m in meters if m.active]
    return max(max(reporting), SLOT_MINUTES) if reporting else None


def household_for_change(*, actor: User, household_id: int) -> Household:
    """A household the actor may manage (a write follows; the service audits it)."""
    household = Household.objects.select_related("resident", "community").filter(pk=household_id)
    found = household.first()
    if found is None:
        raise _not_found()
    require(actor, "wellbeing.household.manage", found)
    return found


def meter_for_change(*, actor: User, household_id: int, meter_pk: int) -> Meter:
    """One of the meters of a household the actor may manage."""
    meter = (
        household_for_change(actor=actor, household_id=household_id)
        .meters.filter(pk=meter_pk)
        .first()
    )
    if meter is None:
        raise NotFound(_("没有这块表。"))
    return meter


def away_for_change(*, actor: User, away_id: int) -> AwayPeriod:
    period = AwayPeriod.objects.select_related("household__community").filter(pk=away_id).first()
    if period is None:
        raise NotFound(_("没有这个外出时段。"))
    require(actor, "wellbeing.household.manage", period.household)
    return period


def households_mine(*, actor: User) -> QuerySet[Household]:
    """The households a resident or a family member belongs to (shown to them only)."""
    if not actor.is_authenticated:
        return Household.objects.none()
    return Household.objects.filter(_own_q(actor)).distinct().select_related("resident")


@transaction.atomic
def alert_detail(*, actor: User, alert_id: int) -> Alert:
    return _audited_read(
        actor,
        Alert.objects.select_related("household__resident", "household__community"),
        alert_id,
        missing=_("没有这个提醒。"),
        permission="wellbeing.household.view",
        audit="wellbeing.alert.view",
    )


@transaction.atomic
def alert_by_link(*, token: str) -> tuple[Alert, FamilyContact]:
    """The alert a family contact's signed link is for; audited with the contact's name."""
    alert, contact = ack_token_read(token)
    audit_record(
        actor=None,
        action="wellbeing.alert.view",
        obj=alert,
        purpose=f"{LINK_PURPOSE}：{contact.name}",
        changes={"contact": contact.pk},
    )
    return alert, contact


def alert_visit_id(alert: Alert) -> int | None:
    """The visit task an alert became, if it did."""
    return VisitTask.objects.filter(alert=alert).values_list("pk", flat=True).first()


def visits_open(*, actor: User) -> QuerySet[VisitTask]:
    tasks = VisitTask.objects.filter(status__in=OPEN_VISIT).select_related(
        "alert__household__resident"
    )
    return scope_filter(actor, "wellbeing.visit.act", tasks, "alert__household__community__path")


@transaction.atomic
def visits_list(*, actor: User) -> list[VisitTask]:
    """The open visit tasks in the actor's area, soonest due first; audited as one read."""
    require(actor, "wellbeing.visit.act")
    tasks = list(visits_open(actor=actor).order_by("due_at")[:200])
    audit_record(
        actor=actor,
        action="wellbeing.visit.list",
        object_type="wellbeing.visittask",
        changes={"shown": [t.pk for t in tasks]},
    )
    return tasks


@transaction.atomic
def visit_detail(*, actor: User, visit_id: int) -> VisitTask:
    return _audited_read(
        actor,
        VisitTask.objects.select_related(
            "alert__household__resident", "alert__household__community"
        ),
        visit_id,
        missing=_("没有这个上门任务。"),
        permission="wellbeing.visit.act",
        audit="wellbeing.visit.view",
    )


# --- the community dashboard ----------------------------------------------------------------


@dataclass
class HouseholdMarker:
    household_id: int
    name: str
    address: str
    community: str
    state: str
    latitude: float | None  # WGS-84
    longitude: float | None


@dataclass
class Dashboard:
    households: list[HouseholdMarker]
    counts: dict[str, int]
    total: int
    open_alerts: list[Alert]
    open_visits: list[VisitTask]
    truncated: bool = False
    generated_at: datetime = field(default_factory=timezone.now)


def _state(household: Household, now: datetime) -> str:
    if not household.consenting:
        return "withdrawn"
    if getattr(household, "has_open_visit", False):
        return "visit"
    if getattr(household, "has_family_alert", False):
        return "alert"
    if getattr(household, "is_away", False):
        return "away"
    return "ok"


def dashboard_areas(*, actor: User) -> list[Organisation]:
    """The areas (districts, subdistricts, communities) a dashboard can be narrowed to: those
    inside the actor's granted subtrees."""
    paths = granted_paths(actor, "wellbeing.household.view")
    if not paths:
        return []
    inside = Q(pk__in=[])
    for path in paths:
        inside |= Q(path__startswith=path)
    areas = Organisation.objects.filter(inside).exclude(kind=OrganisationKind.DEPARTMENT)
    return list(areas.order_by("path")[:200])


def dashboard_area(*, area_id: int) -> Organisation:
    """The area a dashboard is narrowed to; whether the actor may see it is checked by
    `dashboard`."""
    area = Organisation.objects.filter(pk=area_id).first()
    if area is None:
        raise NotFound(_("没有这个辖区。"))
    return area


@transaction.atomic
def dashboard(*, actor: User, area: Organisation | None = None) -> Dashboard:
    """The enrolled households in the actor's area (narrowed to `area` if given, within it) with
    their state, the counts by state, the open alerts and the open visit tasks. One audit row
    names the households shown."""
    require(actor, "wellbeing.household.view")
    if area is not None:
        require(actor, "wellbeing.household.view", area)
    now = timezone.now()
    households = scope_filter(
        actor,
        "wellbeing.household.view",
        Household.objects.all(),
        "community__path",
    )
    if area is not None:
        households = households.filter(community__path__startswith=area.path)
    households = households.annotate(
        has_open_visit=Exists(
            VisitTask.objects.filter(alert__household=OuterRef("pk"), status__in=OPEN_VISIT)
        ),
        has_family_alert=Exists(
            Alert.objects.filter(household=OuterRef("pk"), status=AlertStatus.FAMILY)
        ),
        is_away=Exists(
            AwayPeriod.objects.filter(
                household=OuterRef("pk"),
                cancelled_at__isnull=True,
                starts_at__lte=now,
                ends_at__gt=now,
            )
        ),
    ).select_related("resident", "community")
    ordered = households.order_by("community__path", "resident__name", "pk")
    rows = list(ordered[: DASHBOARD_LIMIT + 1])
    truncated = len(rows) > DASHBOARD_LIMIT
    rows = rows[:DASHBOARD_LIMIT]
    markers = [
        HouseholdMarker(
            household_id=h.pk,
            name=h.resident.name,
            address=h.resident.address,
            community=h.community.display_name(get_language() or ""),
            state=_state(h, now),
            latitude=h.resident.wgs84_latitude,
            longitude=h.resident.wgs84_longitude,
        )
        for h in rows
    ]
    # Counted over the whole area, not only the homes drawn (a city has more than the map shows).
    withdrawn = Q(consent_withdrawn_at__isnull=False)
    visit = ~withdrawn & Q(has_open_visit=True)
    alert = ~withdrawn & ~visit & Q(has_family_alert=True)
    away = ~withdrawn & ~visit & ~alert & Q(is_away=True)
    counts = households.aggregate(
        total=Count("pk"),
        visit=Count("pk", filter=visit),
        alert=Count("pk", filter=alert),
        away=Count("pk", filter=away),
        withdrawn=Count("pk", filter=withdrawn),
    )
    counts["ok"] = counts["total"] - sum(counts[k] for k in ("visit", "alert", "away", "withdrawn"))
    in_scope = Q(household__in=households.values("pk"))
    alerts = list(
        Alert.objects.filter(in_scope, status=AlertStatus.FAMILY)
        .select_related("household__resident")
        .order_by("-at")[:100]
    )
    visits = list(
        VisitTask.objects.filter(
            alert__household__in=households.values("pk"), status__in=OPEN_VISIT
        )
        .select_related("alert__household__resident")
        .order_by("due_at")[:100]
    )
    audit_record(
        actor=actor,
        action="wellbeing.household.list",
        object_type="wellbeing.household",
        purpose=DASHBOARD_PURPOSE,
        organisation=area,
        changes={"shown": [m.household_id for m in markers], "truncated": truncated},
    )
    return Dashboard(
        households=markers,
        counts={state: counts[state] for state, _label in STATES},
        total=counts["total"],
        open_alerts=alerts,
        open_visits=visits,
        truncated=truncated,
    )
