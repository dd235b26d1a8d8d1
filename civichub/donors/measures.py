"""Donors' measures for the statistics module (declared in the manifest): blood requests
created, by component, after a watermark (the last request id counted); the first acceptance and
the closing of a request, read after a watermark of the last time and id counted
("<time>|<id>", as a request is accepted and closed long after it is created); and call-ups
sent, after the last call-up id counted. All count under the requesting hospital. Only counts
and durations leave the module: no donor, patient or place."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q
from django.utils import timezone

from civichub.core.measures import Collected, Contribution
from civichub.donors.models import (
    BloodRequest,
    CallUp,
    Component,
    PatientABO,
    PatientRhD,
    RequestStatus,
)

REQUESTS = "donors.requests"
REQUESTS_BY_GROUP = "donors.requests_by_group"
MET = "donors.met"
FULFILMENT = "donors.fulfilment"
ACCEPTANCE_MINUTES = "donors.acceptance_minutes"
MET_HOURS = "donors.met_hours"
CALL_UPS = "donors.call_ups"


def _day(at: dt.datetime) -> dt.date:
    return timezone.localtime(at).date()


def request_measures(*, after: str, until: dt.datetime, limit: int) -> Collected:
    last = int(after or 0)
    batch = list(
        BloodRequest.objects.filter(pk__gt=last)
        .order_by("pk")
        .values("pk", "created_at", "component", "patient_abo", "patient_rhd", "hospital_id")[
            : limit + 1
        ]
    )
    more = len(batch) > limit
    out: list[Contribution] = []
    for request in batch[:limit]:
        if request["created_at"] >= until:
            more = False
            break
        day = _day(request["created_at"])
        group = f"{request['patient_abo']}_{request['patient_rhd']}"
        out.append(
            Contribution(REQUESTS, day, request["hospital_id"], breakdown=request["component"])
        )
        out.append(Contribution(REQUESTS_BY_GROUP, day, request["hospital_id"], breakdown=group))
        last = request["pk"]
    return Collected(contributions=out, watermark=str(last), more=more)


def _timed(field: str, after: str, until: dt.datetime, limit: int) -> tuple[list[Any], bool]:
    """Requests whose `field` is set before `until` and after the watermark "<time>|<id>",
    in that order, at most `limit` (and whether more are left)."""
    queryset = BloodRequest.objects.filter(**{f"{field}__isnull": False, f"{field}__lt": until})
    if after:
        at_text, _sep, pk_text = after.partition("|")
        at = dt.datetime.fromisoformat(at_text)
        queryset = queryset.filter(
            Q(**{f"{field}__gt": at}) | Q(**{field: at, "pk__gt": int(pk_text)})
        )
    batch = list(
        queryset.order_by(field, "pk").values(
            "pk", "created_at", field, "status", "component", "hospital_id"
        )[: limit + 1]
    )
    return batch[:limit], len(batch) > limit


def _mark(field: str, row: dict[str, Any]) -> str:
    return f"{row[field].isoformat()}|{row['pk']}"


def acceptance_measures(*, after: str, until: dt.datetime, limit: int) -> Collected:
    """Minutes from a request's creation to its first acceptance, on the day it was accepted."""
    rows, more = _timed("first_accepted_at", after, until, limit)
    out: list[Contribution] = []
    watermark = after
    for row in rows:
        minutes = round((row["first_accepted_at"] - row["created_at"]).total_seconds() / 60, 4)
        out.append(
            Contribution(
                ACCEPTANCE_MINUTES,
                _day(row["first_accepted_at"]),
                row["hospital_id"],
                breakdown=row["component"],
                value=minutes,
            )
        )
        watermark = _mark("first_accepted_at", row)
    return Collected(contributions=out, watermark=watermark, more=more)


def closing_measures(*, after: str, until: dt.datetime, limit: int) -> Collected:
    """Requests closed, on the day they closed: met ones, the hours they took, and the share of
    closed requests that were met (the rest were cancelled)."""
    rows, more = _timed("closed_at", after, until, limit)
    out: list[Contribution] = []
    watermark = after
    for row in rows:
        day = _day(row["closed_at"])
        where: dict[str, Any] = {
            "organisation_id": row["hospital_id"],
            "breakdown": row["component"],
        }
        met = row["status"] == RequestStatus.MET
        out.append(Contribution(FULFILMENT, day, value=1.0 if met else 0.0, **where))
        if met:
            hours = round((row["closed_at"] - row["created_at"]).total_seconds() / 3600, 4)
            out.append(Contribution(MET, day, **where))
            out.append(Contribution(MET_HOURS, day, value=hours, **where))
        watermark = _mark("closed_at", row)
    return Collected(contributions=out, watermark=watermark, more=more)


def call_up_measures(*, after: str, until: dt.datetime, limit: int) -> Collected:
    last = int(after or 0)
    batch = list(
        CallUp.objects.filter(pk__gt=last)
        .order_by("pk")
        .values("pk", "called_at", "request__component", "request__hospital_id")[: limit + 1]
    )
    more = len(batch) > limit
    out: list[Contribution] = []
    for call_up in batch[:limit]:
        if call_up["called_at"] >= until:
            more = False
            break
        out.append(
            Contribution(
                CALL_UPS,
                _day(call_up["called_at"]),
                call_up["request__hospital_id"],
                breakdown=call_up["request__component"],
            )
        )
        last = call_up["pk"]
    return Collected(contributions=out, watermark=str(last), more=more)


def component_names() -> dict[str, str]:
    return {str(value): str(label) for value, label in Component.choices}


def group_names() -> dict[str, str]:
    """The patient's blood group as recorded on the request ("A_pos": "A RhD 阳性")."""
    return {
        f"{abo}_{rhd}": f"{abo_label} {rhd_label}"
        for abo, abo_label in PatientABO.choices
        for rhd, rhd_label in PatientRhD.choices
    }
