"""Reads of the daily figures: the staff figures (scoped to the caller's subtree by the one
permission check), their CSV, and the public service evaluation. Every read is of the daily
table only, never of a module's own tables."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet, Sum
from django.utils.module_loading import import_string
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from civichub.core.config import module_config
from civichub.core.errors import NotFound, ValidationFailed
from civichub.core.measures import Measure
from civichub.core.models import Organisation, User
from civichub.core.permissions import require, scope_filter
from civichub.core.registry import measures
from civichub.statistics.conf import StatisticsSettings
from civichub.statistics.models import DailyFigure

VIEW = "statistics.figures.view"
PERIODS = ("day", "week", "month")
MAX_DAYS = 3660


@dataclass
class Figure:
    """A sum of contributions and the figure it gives for its measure's kind."""

    key: str
    label: str
    value: float = 0.0
    count: int = 0
    kind: str = "count"

    @property
    def figure(self) -> float | None:
        if self.kind == "count":
            return round(self.value, 2)
        if not self.count:
            return None
        ratio = self.value / self.count
        return round(ratio * 100, 1) if self.kind == "rate" else round(ratio, 2)

    @property
    def shown(self) -> str:
        """The figure as a page shows it: whole numbers without decimals, a dash for none."""
        figure = self.figure
        if figure is None:
            return "—"
        return str(int(figure)) if figure == int(figure) else str(figure)


@dataclass
class Report:
    since: dt.date
    until: dt.date
    period: str
    measure: Measure
    organisation: Organisation | None
    area: Organisation | None
    totals: list[tuple[Measure, Figure]]
    series: list[Figure] = field(default_factory=list)
    organisations: list[Figure] = field(default_factory=list)
    breakdown: list[Figure] = field(default_factory=list)


def measure_list() -> list[Measure]:
    return list(measures().values())


def measure_get(key: str) -> Measure:
    found = measures().get(key)
    if found is None:
        raise ValidationFailed.on("measure", _("没有这项统计指标。"))
    return found


def period_start(day: dt.date, period: str) -> dt.date:
    if period == "month":
        return day.replace(day=1)
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    return day


def organisation_choices(actor: User) -> list[Organisation]:
    """The organisations whose figures the actor may see (filter choices), at most 500."""
    require(actor, VIEW)
    return list(scope_filter(actor, VIEW, Organisation.objects.all(), "path")[:500])


def _localized(name: str, name_en: str) -> str:
    english = (get_language() or "").startswith("en")
    return name_en if english and name_en else name


def _scoped(
    actor: User,
    since: dt.date,
    until: dt.date,
    organisation_id: int | None,
    area_id: int | None,
) -> tuple[QuerySet[DailyFigure], Organisation | None, Organisation | None]:
    require(actor, VIEW)
    if until < since or (until - since).days > MAX_DAYS:
        raise ValidationFailed.on("until", _("截止日期不能早于起始日期，统计范围最长十年。"))
    in_range = DailyFigure.objects.filter(day__gte=since, day__lte=until)
    # a figure belongs to the organisation it counts under and to the area it happened in:
    # a district sees its departments' figures and every figure of its communities
    rows = scope_filter(actor, VIEW, in_range, "organisation__path") | scope_filter(
        actor, VIEW, in_range, "area__path"
    )
    organisation = area = None
    if organisation_id is not None:
        organisation = Organisation.objects.filter(pk=organisation_id).first()
        if organisation is None:
            raise NotFound(_("没有这个组织机构。"))
        require(actor, VIEW, organisation)
        rows = rows.filter(organisation__path__startswith=organisation.path)
    if area_id is not None:
        area = Organisation.objects.filter(pk=area_id).first()
        if area is None:
            raise NotFound(_("没有这个地区。"))
        rows = rows.filter(area__path__startswith=area.path)
    return rows, organisation, area


def figures_report(
    *,
    actor: User,
    since: dt.date,
    until: dt.date,
    period: str = "week",
    measure: str = "casework.received",
    organisation_id: int | None = None,
    area_id: int | None = None,
) -> Report:
    """Every measure's total over the range, and for one measure its figures by period, by
    organisation and by breakdown, within the actor's subtree (narrowed to an organisation's
    subtree and an area's when given)."""
    if period not in PERIODS:
        raise ValidationFailed.on("period", _("周期须为日、周或月。"))
    chosen = measure_get(measure)
    rows, organisation, area = _scoped(actor, since, until, organisation_id, area_id)
    sums = {
        r["measure"]: r for r in rows.values("measure").annotate(v=Sum("value"), c=Sum("count"))
    }
    totals = []
    for m in measure_list():
        found = sums.get(m.key, {})
        totals.append(
            (m, Figure(m.key, str(m.label), found.get("v") or 0.0, found.get("c") or 0, m.kind))
        )
    mine = rows.filter(measure=chosen.key)
    report = Report(since, until, period, chosen, organisation, area, totals)
    report.series = _series(mine, chosen, since, until, period)
    for r in (
        mine.values("organisation_id", "organisation__name", "organisation__name_en")
        .annotate(v=Sum("value"), c=Sum("count"))
        .order_by("organisation__path")
    ):
        label = _localized(r["organisation__name"] or "", r["organisation__name_en"] or "")
        key = str(r["organisation_id"] or "")
        report.organisations.append(Figure(key, label, r["v"] or 0.0, r["c"] or 0, chosen.kind))
    labels = _breakdown_labels(chosen)
    for r in (
        mine.values("breakdown").annotate(v=Sum("value"), c=Sum("count")).order_by("breakdown")
    ):
        key = r["breakdown"]
        figure = Figure(key, labels.get(key, key), r["v"] or 0.0, r["c"] or 0, chosen.kind)
        report.breakdown.append(figure)
    return report


def _series(
    rows: QuerySet[DailyFigure], measure: Measure, since: dt.date, until: dt.date, period: str
) -> list[Figure]:
    buckets: dict[dt.date, Figure] = {}
    day = period_start(since, period)
    while day <= until:
        buckets[day] = Figure(day.isoformat(), day.isoformat(), kind=measure.kind)
        day = _next(day, period)
    for r in rows.values("day").annotate(v=Sum("value"), c=Sum("count")):
        bucket = buckets[period_start(r["day"], period)]
        bucket.value += r["v"] or 0.0
        bucket.count += r["c"] or 0
    return list(buckets.values())


def _next(day: dt.date, period: str) -> dt.date:
    if period == "month":
        return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return day + dt.timedelta(days=7 if period == "week" else 1)


def _breakdown_labels(measure: Measure) -> dict[str, str]:
    if not measure.breakdown_labels:
        return {}
    labels: dict[str, str] = import_string(measure.breakdown_labels.replace(":", "."))()
    return labels


CSV_COLUMNS = [
    "period_start",
    "measure",
    "organisation",
    "area",
    "breakdown",
    "value",
    "count",
    "figure",
]


def figures_csv(
    *,
    actor: User,
    since: dt.date,
    until: dt.date,
    period: str = "week",
    organisation_id: int | None = None,
    area_id: int | None = None,
) -> str:
    """Every measure's figures by period, organisation, area and breakdown, as CSV."""
    if period not in PERIODS:
        raise ValidationFailed.on("period", _("周期须为日、周或月。"))
    rows, _organisation, _area = _scoped(actor, since, until, organisation_id, area_id)
    known = measures()
    sums: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0.0, 0])
    for r in rows.values(
        "day", "measure", "organisation__name", "area__name", "breakdown", "value", "count"
    ).iterator():
        key = (
            period_start(r["day"], period),
            r["measure"],
            r["organisation__name"] or "",
            r["area__name"] or "",
            r["breakdown"],
        )
        sums[key][0] += r["value"]
        sums[key][1] += r["count"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for key in sorted(sums):
        value, count = sums[key]
        measure = known.get(key[1])
        figure = Figure(key[1], "", value, int(count), measure.kind if measure else "count").figure
        start, measure_key, org, area, breakdown = key
        writer.writerow(
            [
                start.isoformat(),
                measure_key,
                _csv_safe(org),
                _csv_safe(area),
                _csv_safe(breakdown),
                round(value, 4),
                int(count),
                "" if figure is None else figure,
            ]
        )
    return out.getvalue()


def _csv_safe(value: str) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas; quote them out."""
    return "'" + value if value[:1] in {"=", "+", "-", "@"} else value


# The public service evaluation (好差评) ------------------------------------------------------


@dataclass
class Grade:
    """Ratings of one department or service in a month: good counts satisfied and basically
    satisfied, bad unsatisfied."""

    key: str
    label: str
    rated: int
    good: int

    @property
    def bad(self) -> int:
        return self.rated - self.good

    @property
    def good_rate(self) -> float | None:
        return round(100 * self.good / self.rated, 1) if self.rated else None


@dataclass
class Evaluation:
    month: dt.date | None
    months: list[dt.date]
    total: Grade
    departments: list[Grade]
    services: list[Grade]


def _month_range(month: dt.date) -> tuple[dt.date, dt.date]:
    return month, _next(month, "month") - dt.timedelta(days=1)


def evaluation(*, month: dt.date | None = None) -> Evaluation:
    """The published ratings of one month (the latest with ratings when none is given), by
    department and by service. Groups with fewer than `evaluation_min_ratings` are left out."""
    require(None, "statistics.evaluation.view")
    config = module_config(StatisticsSettings)
    measure_key = config.evaluation_measure
    rows = DailyFigure.objects.filter(measure=measure_key)
    months = sorted({period_start(d, "month") for d in rows.dates("day", "month")}, reverse=True)
    month = (months[0] if months else None) if month is None else month.replace(day=1)
    if month is None:
        return Evaluation(None, months, Grade("all", "", 0, 0), [], [])
    first, last = _month_range(month)
    in_month = rows.filter(day__gte=first, day__lte=last)
    sums = in_month.aggregate(v=Sum("value"), c=Sum("count"))
    total = Grade("all", "", int(sums["c"] or 0), int(round(sums["v"] or 0)))
    least = config.evaluation_min_ratings
    departments = [
        Grade(
            str(r["organisation_id"]),
            _localized(r["organisation__name"] or "", r["organisation__name_en"] or ""),
            int(r["c"] or 0),
            int(round(r["v"] or 0)),
        )
        for r in in_month.values("organisation_id", "organisation__name", "organisation__name_en")
        .annotate(v=Sum("value"), c=Sum("count"))
        .order_by("organisation__path")
        if (r["c"] or 0) >= max(least, 1) and r["organisation_id"] is not None
    ]
    labels = _breakdown_labels(measures()[measure_key]) if measure_key in measures() else {}
    services = [
        Grade(
            r["breakdown"],
            labels.get(r["breakdown"], r["breakdown"]),
            int(r["c"]),
            int(round(r["v"] or 0)),
        )
        for r in in_month.values("breakdown")
        .annotate(v=Sum("value"), c=Sum("count"))
        .order_by("breakdown")
        if (r["c"] or 0) >= max(least, 1) and r["breakdown"]
    ]
    departments.sort(key=lambda g: (-(g.good_rate or 0), -g.rated, g.label))
    services.sort(key=lambda g: (-(g.good_rate or 0), -g.rated, g.label))
    return Evaluation(month, months, total, departments, services)
