"""The measures the anchors publish (一网通办 and 最多跑一次), per service and per department:
the share of applications made for services that are fully online, the visits they need, the
time to decision against the promised limit, and satisfaction. Read for the staff page and its
CSV, narrowed to the departments the reader may see; only counts and means, no applicant."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.utils.translation import get_language
from django.utils.translation import gettext as _

from civichub.core.models import User
from civichub.core.permissions import require, scope_filter
from civichub.portal.models import Application, Service


@dataclass
class Performance:
    """One service's figures, or one department's summed over its services."""

    key: str
    name: str
    department: str
    fully_online: bool = False
    visits: int = 0
    promised_days: int | None = None
    applications: int = 0
    online_applications: int = 0
    visits_total: int = 0
    decided: int = 0
    on_time: int = 0
    days_total: float = 0.0
    ratings: int = 0
    rating_total: int = 0
    services: int = 0
    children: list[Performance] = field(default_factory=list)

    @property
    def online_share(self) -> float | None:
        return _share(self.online_applications, self.applications)

    @property
    def mean_visits(self) -> float | None:
        return round(self.visits_total / self.applications, 2) if self.applications else None

    @property
    def on_time_share(self) -> float | None:
        return _share(self.on_time, self.decided)

    @property
    def mean_days(self) -> float | None:
        return round(self.days_total / self.decided, 1) if self.decided else None

    @property
    def mean_rating(self) -> float | None:
        return round(self.rating_total / self.ratings, 2) if self.ratings else None


def _share(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _add(total: Performance, one: Performance) -> None:
    total.services += 1
    for name in (
        "applications",
        "online_applications",
        "visits_total",
        "decided",
        "on_time",
        "days_total",
        "ratings",
        "rating_total",
    ):
        setattr(total, name, getattr(total, name) + getattr(one, name))


def performance(*, actor: User) -> list[Performance]:
    """Departments, each with its services, for the services the actor may see the measures
    of. A service counts as fully online when it takes applications online and its guide
    promises no visit (全程网办)."""
    require(actor, "portal.measures.view")
    services = scope_filter(
        actor,
        "portal.measures.view",
        Service.objects.filter(published__isnull=False).select_related("published", "department"),
        "department__path",
    ).order_by("department__name", "code")
    english = (get_language() or "").startswith("en")
    rows: dict[int, Performance] = {}
    departments: dict[int, Performance] = {}
    for service in services:
        version = service.published
        assert version is not None
        content = version.content
        visits = int(content.get("visits") or 0)
        department = departments.setdefault(
            service.department_id,
            Performance(
                key=service.department.code,
                name=service.department.name_en
                if english and service.department.name_en
                else service.department.name,
                department=service.department.name,
            ),
        )
        row = Performance(
            key=service.code,
            name=version.name_en if english and version.name_en else version.name,
            department=department.name,
            fully_online=bool(service.online_application and visits == 0),
            visits=visits,
            promised_days=content.get("promised_limit_days"),
        )
        rows[service.pk] = row
        department.children.append(row)
    applications = Application.objects.filter(service_id__in=list(rows)).values_list(
        "service_id", "created_at", "decided_at", "due_at", "rating"
    )
    for service_id, created_at, decided_at, due_at, rating in applications.iterator():
        row = rows[service_id]
        row.applications += 1
        row.online_applications += row.fully_online
        row.visits_total += row.visits
        if decided_at is not None:
            row.decided += 1
            row.on_time += due_at is None or decided_at <= due_at
            row.days_total += (decided_at - created_at).total_seconds() / 86400
        if rating is not None:
            row.ratings += 1
            row.rating_total += rating
    for department in departments.values():
        for row in department.children:
            _add(department, row)
    return list(departments.values())


def performance_csv(departments: Iterable[Performance]) -> str:
    """One row per service and one per department (its services summed), for spreadsheets."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            _("层级"),
            _("编码"),
            _("名称"),
            _("实施机关"),
            _("全程网办"),
            _("到现场次数"),
            _("承诺时限（工作日）"),
            _("申请件数"),
            _("全程网办申请占比（%）"),
            _("平均到现场次数"),
            _("办结件数"),
            _("按承诺时限办结占比（%）"),
            _("平均办结用时（天）"),
            _("评价件数"),
            _("平均评分（1–5）"),
        ]
    )
    for department in departments:
        for level, row in [(_("部门"), department)] + [(_("事项"), s) for s in department.children]:
            is_service = row is not department
            writer.writerow(
                [
                    level,
                    row.key,
                    row.name,
                    row.department,
                    (_("是") if row.fully_online else _("否")) if is_service else "",
                    row.visits if is_service else "",
                    row.promised_days if is_service and row.promised_days is not None else "",
                    row.applications,
                    _blank(row.online_share),
                    _blank(row.mean_visits),
                    row.decided,
                    _blank(row.on_time_share),
                    _blank(row.mean_days),
                    row.ratings,
                    _blank(row.mean_rating),
                ]
            )
    return out.getvalue()


def _blank(value: float | None) -> str:
    return "" if value is None else str(value)
