"""Casework's measures for the statistics module (declared in the manifest): messages received,
hours to the first reply, hours to the first closing and the senders' satisfaction, read from
the case history (`CaseEvent`, append-only) after a watermark, the last event id counted.

A figure counts under the department responsible for the case when it is rolled up (the
jurisdiction while none is), in the case's community, by the case's service (its category). A
rating replaced by the sender's later one (after a reopened case's second reply) takes the
earlier rating back from the day it counted on, so each case counts once, with its latest
rating, as in casework's own statistics; a duplicate's merge takes its message back from the
messages received."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Min
from django.utils import timezone
from django.utils.translation import get_language

from civichub.casework.models import Case, CaseEvent, Category, EventKind, RatingValue
from civichub.core.measures import Collected, Contribution

RECEIVED = "casework.received"
RESPONSE_HOURS = "casework.response_hours"
RESOLUTION_HOURS = "casework.resolution_hours"
SATISFACTION = "casework.satisfaction"

_COUNTED = {EventKind.SUBMITTED, EventKind.REPLY, EventKind.CLOSED, EventKind.RATED}
_GOOD = {RatingValue.SATISFIED, RatingValue.BASIC}


def _day(at: dt.datetime) -> dt.date:
    return timezone.localtime(at).date()


def _hours(start: dt.datetime, end: dt.datetime) -> float:
    return round((end - start).total_seconds() / 3600, 4)


def case_measures(*, after: str, until: dt.datetime, limit: int) -> Collected:
    """Contributions of the case events after event id `after`, up to the first one dated at or
    after `until` (ids are taken in order, so a late commit with a smaller id is never skipped
    while the events before it settle)."""
    last = int(after or 0)
    batch = list(
        CaseEvent.objects.filter(pk__gt=last)
        .order_by("pk")
        .values("pk", "kind", "case_id", "created_at", "data")[: limit + 1]
    )
    more = len(batch) > limit
    events: list[dict[str, Any]] = []
    for event in batch[:limit]:
        if event["created_at"] >= until:
            more = False
            break
        events.append(dict(event))
        last = event["pk"]
    counted = [e for e in events if e["kind"] in _COUNTED]
    contributions = _contributions(counted) if counted else []
    merged = [e for e in events if e["kind"] == EventKind.MERGED and "into" in (e["data"] or {})]
    if merged:
        contributions += _merged(merged)
    return Collected(contributions=contributions, watermark=str(last), more=more)


def _contributions(events: list[dict[str, Any]]) -> list[Contribution]:
    case_ids = {e["case_id"] for e in events}
    cases = {
        row["pk"]: row
        for row in Case.objects.filter(pk__in=case_ids).values(
            "pk",
            "created_at",
            "department_id",
            "jurisdiction_id",
            "community_id",
            "merged_into_id",
            "category__key",
        )
    }
    firsts = {
        (row["case_id"], row["kind"]): row["first"]
        for row in CaseEvent.objects.filter(
            case_id__in=case_ids, kind__in=[EventKind.REPLY, EventKind.CLOSED]
        )
        .values("case_id", "kind")
        .annotate(first=Min("pk"))
    }
    ratings: dict[tuple[int, Any], dict[str, Any]] = {
        (row["case_id"], (row["data"] or {}).get("round")): dict(row)
        for row in CaseEvent.objects.filter(case_id__in=case_ids, kind=EventKind.RATED).values(
            "case_id", "created_at", "data"
        )
    }
    out: list[Contribution] = []
    for event in events:
        case = cases.get(event["case_id"])
        if case is None:
            continue
        # a merged duplicate's message is counted, then taken back by its merge (whichever
        # step each falls in); its other figures count only while it is not merged
        if case["merged_into_id"] is not None and event["kind"] != EventKind.SUBMITTED:
            continue
        where: dict[str, Any] = {
            "organisation_id": case["department_id"] or case["jurisdiction_id"],
            "area_id": case["community_id"],
            "breakdown": case["category__key"] or "",
        }
        day = _day(event["created_at"])
        kind = event["kind"]
        if kind == EventKind.SUBMITTED:
            out.append(Contribution(RECEIVED, _day(case["created_at"]), **where))
        elif kind in {EventKind.REPLY, EventKind.CLOSED}:
            if firsts.get((event["case_id"], kind)) == event["pk"]:
                measure = RESPONSE_HOURS if kind == EventKind.REPLY else RESOLUTION_HOURS
                hours = _hours(case["created_at"], event["created_at"])
                out.append(Contribution(measure, day, value=hours, **where))
        else:
            out.extend(_rating(event, ratings, day, where))
    return out


def _merged(events: list[dict[str, Any]]) -> list[Contribution]:
    """A duplicate merged into another case is taken back from the messages received."""
    out = []
    for row in Case.objects.filter(pk__in={e["case_id"] for e in events}).values(
        "pk", "created_at", "department_id", "jurisdiction_id", "community_id", "category__key"
    ):
        out.append(
            Contribution(
                RECEIVED,
                _day(row["created_at"]),
                row["department_id"] or row["jurisdiction_id"],
                row["community_id"],
                row["category__key"] or "",
                value=-1,
                count=-1,
            )
        )
    return out


def _rating(
    event: dict[str, Any],
    ratings: dict[tuple[int, Any], dict[str, Any]],
    day: dt.date,
    where: dict[str, Any],
) -> list[Contribution]:
    data = event["data"] or {}
    good = 1.0 if data.get("value") in _GOOD else 0.0
    out = [Contribution(SATISFACTION, day, value=good, **where)]
    earlier = ratings.get((event["case_id"], (data.get("round") or 1) - 1))
    if earlier is not None:
        was_good = 1.0 if (earlier["data"] or {}).get("value") in _GOOD else 0.0
        out.append(
            Contribution(
                SATISFACTION, _day(earlier["created_at"]), value=-was_good, count=-1, **where
            )
        )
    return out


def service_names() -> dict[str, str]:
    """The services (categories) by key, in the request's language."""
    english = (get_language() or "").startswith("en")
    return {
        key: (name_en if english and name_en else name)
        for key, name, name_en in Category.objects.values_list("key", "name", "name_en")
    }
