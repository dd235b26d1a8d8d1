"""The portal's measures for the statistics module (declared in the manifest): applications
submitted, by service; decisions, by outcome (approved or refused); days from submission to
decision, the share approved and the share decided within the promised time limit, by
service. All are read from the applications' history
(`ApplicationEvent`, append-only) after a watermark, the last event id counted, and count under
the department responsible for the service. Only counts and durations leave the module: no
applicant, answer or material."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.utils import timezone
from django.utils.translation import get_language

from civichub.core.measures import Collected, Contribution
from civichub.portal.models import ApplicationEvent, ApplicationStatus, Service

SUBMITTED = "portal.submitted"
DECIDED = "portal.decided"
DECISION_DAYS = "portal.decision_days"
APPROVAL = "portal.approval"
ON_TIME = "portal.on_time"

_DECISIONS = {ApplicationStatus.APPROVED, ApplicationStatus.REFUSED}
_COUNTED = {ApplicationStatus.SUBMITTED, *_DECISIONS}


def application_measures(*, after: str, until: dt.datetime, limit: int) -> Collected:
    """Contributions of the application events after event id `after`, up to the first one
    dated at or after `until` (ids in order, so a late commit with a smaller id is never
    skipped while the events before it settle)."""
    last = int(after or 0)
    batch = list(
        ApplicationEvent.objects.filter(pk__gt=last)
        .order_by("pk")
        .values(
            "pk",
            "status",
            "created_at",
            "application__created_at",
            "application__due_at",
            "application__service__code",
            "application__service__department_id",
        )[: limit + 1]
    )
    more = len(batch) > limit
    out: list[Contribution] = []
    for event in batch[:limit]:
        if event["created_at"] >= until:
            more = False
            break
        last = event["pk"]
        if event["status"] in _COUNTED:
            out.extend(_contributions(event))
    return Collected(contributions=out, watermark=str(last), more=more)


def _contributions(event: Mapping[str, Any]) -> list[Contribution]:
    day = timezone.localtime(event["created_at"]).date()
    department = event["application__service__department_id"]
    service = event["application__service__code"]
    status = event["status"]
    if status == ApplicationStatus.SUBMITTED:
        return [Contribution(SUBMITTED, day, department, breakdown=service)]
    days = (event["created_at"] - event["application__created_at"]).total_seconds() / 86400
    approved = 1.0 if status == ApplicationStatus.APPROVED else 0.0
    due = event["application__due_at"]
    on_time = 1.0 if due is None or event["created_at"] <= due else 0.0
    return [
        Contribution(ON_TIME, day, department, breakdown=service, value=on_time),
        Contribution(DECIDED, day, department, breakdown=str(status)),
        Contribution(DECISION_DAYS, day, department, breakdown=service, value=round(days, 4)),
        Contribution(APPROVAL, day, department, breakdown=service, value=approved),
    ]


def service_names() -> dict[str, str]:
    """The services by code, under their published name in the request's language."""
    english = (get_language() or "").startswith("en")
    return {
        code: (name_en if english and name_en else name or code)
        for code, name, name_en in Service.objects.values_list(
            "code", "published__name", "published__name_en"
        )
    }


def decision_names() -> dict[str, str]:
    return {str(status): str(ApplicationStatus(status).label) for status in _DECISIONS}
