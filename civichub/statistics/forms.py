"""The figures page's filters, parsed leniently: a value that does not parse falls back to its
default, as the page's form only ever sends valid ones."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.http import QueryDict
from django.utils import timezone

from civichub.statistics.selectors import PERIODS


@dataclass(frozen=True)
class FigureFilter:
    since: dt.date
    until: dt.date
    period: str
    measure: str
    organisation_id: int | None
    area_id: int | None


def _day(value: str, default: dt.date) -> dt.date:
    try:
        return dt.date.fromisoformat(value) if value else default
    except ValueError:
        return default


def _id(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) < 19 else None


def figure_filter(query: QueryDict) -> FigureFilter:
    today = timezone.localdate()
    period = query.get("period", "week")
    return FigureFilter(
        since=_day(query.get("since", ""), today - dt.timedelta(days=90)),
        until=_day(query.get("until", ""), today),
        period=period if period in PERIODS else "week",
        measure=query.get("measure", "") or "casework.received",
        organisation_id=_id(query.get("organisation", "")),
        area_id=_id(query.get("area", "")),
    )


def month_of(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(f"{value}-01") if value else None
    except ValueError:
        return None
