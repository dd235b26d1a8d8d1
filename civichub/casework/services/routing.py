"""Routing (system): a received case gets its category, department and community after
intake commits; the periodic sweep routes and acknowledges any case a lost task missed.

`after_intake` (routing, then the acknowledgement) is the task intake enqueues after commit;
`route_case` and `acknowledge_case` do each on its own. They are declared here, beside the
services they call, so that intake needs nothing above the services layer; `casework.tasks`
lists them with the periodic tasks."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django_tasks import task

from civichub.casework import routing as category_router
from civichub.casework import routing_rules
from civichub.casework.conf import casework_settings
from civichub.casework.models import Case, CaseStatus, Category, CategorySource, EventKind
from civichub.casework.permissions import DISPATCHER, HANDLER, HEAD, WORKER
from civichub.casework.services._shared import (
    add_event,
    case_context,
    locked,
    notify,
    save_case,
    staff_at,
)
from civichub.core.audit import audit_record
from civichub.core.context import acting
from civichub.core.models import Organisation, OrganisationKind

logger = logging.getLogger("civichub.casework")


def local_department(
    department: Organisation | None, community: Organisation | None
) -> Organisation | None:
    """The department that serves the case's place: with the profile's
    `route_to_local_department`, a department of the same function under the nearest area above
    the community (a district's education bureau rather than the city's); else `department`."""
    if (
        department is None
        or community is None
        or not department.function
        or not casework_settings().route_to_local_department
    ):
        return department
    ancestors = [int(pk) for pk in community.path.strip("/").split("/") if pk]
    candidates = Organisation.objects.filter(
        kind=OrganisationKind.DEPARTMENT,
        function=department.function,
        parent_id__in=ancestors,
    ).select_related("parent")
    best = max(candidates, key=lambda o: o.depth, default=None)
    return best or department


@transaction.atomic
def case_route(*, case_id: int, now: dt.datetime | None = None) -> Case:
    """Routes a `received` case: category (the sender's, or the router's), department from the
    category, community from the place. Confident → `assigned` to the department; otherwise
    `triage`. A no-op for a case already routed, so running it twice is harmless."""
    case = locked(Case.objects.get(pk=case_id))
    if case.status != CaseStatus.RECEIVED:
        return case
    now = now or timezone.now()
    conf = casework_settings()
    threshold = float(conf.triage_threshold)
    case.routing_attempts += 1
    category = case.category
    confidence: float | None = 1.0 if category is not None else None
    if category is None:
        key, confidence = category_router.classify(f"{case.title}\n{case.text}")
        case.router_category_key = key or ""
        case.router_confidence = confidence
        if key is not None:
            category = (
                Category.objects.filter(key=key, active=True).select_related("department").first()
            )
            if category is not None:
                case.category = category
                case.category_source = CategorySource.ROUTER
    community = routing_rules.route_community(case, float(conf.nearest_community_max_m))
    case.community = community
    confident = (
        category is not None
        and category.department is not None
        and (case.category_source == CategorySource.SENDER or (confidence or 0) >= threshold)
    )
    if confident and category is not None:
        case.department = local_department(category.department, community)
        case.status = CaseStatus.ASSIGNED
    else:
        case.status = CaseStatus.TRIAGE
    case.routed_at = now
    case.routing_error = ""
    save_case(
        case,
        [
            "routing_attempts",
            "router_category_key",
            "router_confidence",
            "category",
            "category_source",
            "community",
            "department",
            "status",
            "routed_at",
            "routing_error",
        ],
    )
    add_event(
        case,
        EventKind.ROUTED,
        actor=None,
        public=case.status == CaseStatus.ASSIGNED,
        data={
            "category": category.key if category else None,
            "confidence": confidence,
            "department": case.department.code if case.department else None,
            "community": community.code if community else None,
            "status": case.status,
        },
        at=now,
    )
    audit_record(
        actor=None,
        action="casework.case.route",
        obj=case,
        changes={
            "status": case.status,
            "category": category.key if category else None,
            "confidence": confidence,
        },
    )
    recipients = staff_at(case.department, [HANDLER, HEAD]) + staff_at(community, [WORKER])
    if case.status == CaseStatus.TRIAGE:
        recipients += staff_at(case.jurisdiction, [DISPATCHER])
    notify(
        recipients,
        "casework.case_new",
        case_context(case),
        actor=None,
        dedupe_key=f"casework.new:{case.pk}:{case.status}",
    )
    return case


@transaction.atomic
def case_routing_failed(*, case_id: int, error: str) -> None:
    """Records a failed routing attempt; the case stays `received` for the sweep."""
    case = locked(Case.objects.get(pk=case_id))
    case.routing_attempts += 1
    case.routing_error = error[:300]
    save_case(case, ["routing_attempts", "routing_error"])
    add_event(case, EventKind.ROUTING_FAILED, actor=None, data={"error": error[:300]})


@transaction.atomic
def case_acknowledge(*, case_id: int) -> bool:
    """Tells the sender their tracking number and deadline. Idempotent through the outbox's
    dedupe key; returns False when there is nobody to tell."""
    case = Case.objects.select_related("department", "community").get(pk=case_id)
    if case.extra.get("acknowledged"):
        return False
    recipients = [case.submitter_id] if case.submitter_id else []
    notify(
        recipients,
        "casework.case_received",
        case_context(case),
        actor=None,
        dedupe_key=f"casework.received:{case.pk}",
    )
    Case.objects.filter(pk=case.pk).update(extra={**case.extra, "acknowledged": True})
    return bool(recipients)


@dataclass
class SweepResult:
    routed: int = 0
    failed: int = 0
    acknowledged: int = 0


def cases_sweep(*, now: dt.datetime | None = None) -> SweepResult:
    """Routes cases left `received` longer than the profile's `routing_sweep_minutes`, and
    acknowledges cases whose acknowledgement was lost. Each case in its own transaction, so one
    bad case does not hold up the rest."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(minutes=int(casework_settings().routing_sweep_minutes))
    result = SweepResult()
    stale = Case.objects.filter(status=CaseStatus.RECEIVED, created_at__lte=cutoff)
    for case_id in stale.order_by("created_at").values_list("pk", flat=True)[:2000]:
        try:
            case_route(case_id=case_id, now=now)
            result.routed += 1
        except Exception as exc:
            logger.exception("routing case %s failed", case_id)
            case_routing_failed(case_id=case_id, error=f"{type(exc).__name__}: {exc}")
            result.failed += 1
    unacknowledged = Case.objects.filter(created_at__lte=cutoff, submitter__isnull=False).exclude(
        extra__has_key="acknowledged"
    )
    for case_id in unacknowledged.values_list("pk", flat=True)[:2000]:
        if case_acknowledge(case_id=case_id):
            result.acknowledged += 1
    return result


@task()
def route_case(case_id: int) -> str:
    """Routes one case. On failure the attempt is recorded and the task fails; the case stays
    `received` and the periodic sweep routes it later."""
    with acting(channel="task"):
        try:
            case = case_route(case_id=int(case_id))
        except Exception as exc:
            case_routing_failed(case_id=int(case_id), error=f"{type(exc).__name__}: {exc}")
            raise
        return case.status


@task()
def acknowledge_case(case_id: int) -> bool:
    with acting(channel="task"):
        return case_acknowledge(case_id=int(case_id))


@task()
def after_intake(case_id: int) -> str:
    """What intake schedules after commit, in one task (one enqueue on the request's path
    instead of two): routes the case, then acknowledges it, telling the sender the department
    routing found. A routing failure is recorded, the sender is still acknowledged, and the task
    then fails; the sweep routes the case later."""
    with acting(channel="task"):
        try:
            status = case_route(case_id=int(case_id)).status
        except Exception as exc:
            case_routing_failed(case_id=int(case_id), error=f"{type(exc).__name__}: {exc}")
            case_acknowledge(case_id=int(case_id))
            raise
        case_acknowledge(case_id=int(case_id))
        return str(status)
