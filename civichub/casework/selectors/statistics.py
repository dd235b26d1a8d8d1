"""Figures for heads and dispatchers (the 12345 triad and more), by group and by period, and
their CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import statistics as pystats
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.casework.models import AWAITING_REPLY, Case, CaseStatus, Rating, RatingValue
from civichub.casework.permissions import case_scope_filter
from civichub.core.errors import ValidationFailed
from civichub.core.models import User
from civichub.core.permissions import require


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


def _period_after(start: dt.date, period: str) -> dt.date:
    if period == "month":
        return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return start + dt.timedelta(days=7)


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
    caller's scope, grouped by department or community, and over time by week or month: every
    period of the range, a week or month without messages as zeros, so that a trend read from
    them has no gaps closed up."""
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
    bucket = _period_start(since, period)
    while bucket <= until:
        periods[bucket] = Figures(key=bucket.isoformat(), label=bucket.isoformat())
        bucket = _period_after(bucket, period)
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
        periods[_period_start(day, period)].add(row, rating, now)
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
