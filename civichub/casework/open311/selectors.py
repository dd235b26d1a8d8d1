"""The reads behind Open311's GETs. Only public cases are requests to the world; a client's key
also shows the updates of the cases it posted itself."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from civichub.casework.models import (
    Case,
    CaseEvent,
    CaseStatus,
    Category,
    CategoryAttribute,
    EventKind,
    Open311ApiKey,
)
from civichub.casework.open311 import translate
from civichub.casework.open311.conf import open311_settings
from civichub.casework.open311.translate import Open311Error
from civichub.casework.selectors import active_category, jurisdiction


def own_jurisdiction_id() -> str:
    configured = str(open311_settings().jurisdiction_id or "").strip()
    if configured:
        return configured
    return jurisdiction().code


def check_jurisdiction(value: str) -> None:
    """Absent, empty or ours: served. Anything else: 404, as the spec asks."""
    if value and value != own_jurisdiction_id():
        raise Open311Error(404, f"jurisdiction_id: unknown jurisdiction {value}")


def _attributes(category: Category) -> list[CategoryAttribute]:
    return sorted(category.attributes.all(), key=lambda a: a.order)


def services() -> list[dict[str, Any]]:
    categories = Category.objects.filter(active=True).prefetch_related("attributes")
    return [translate.service(c, _attributes(c)) for c in categories]


def service_definition(code: str) -> dict[str, Any]:
    category = Category.objects.filter(key=code, active=True).prefetch_related("attributes").first()
    if category is None:
        raise Open311Error(404, f"service_code: unknown service {code}")
    return translate.service_definition(category, _attributes(category))


@dataclass(frozen=True)
class IntakeService:
    """What POST /requests needs to know of a service before intake: its questions (variable
    attributes, code → datatype) and its type."""

    key: str
    name: str
    service_type: str
    questions: dict[str, str]


def intake_service(code: str) -> IntakeService:
    """The active service and its attributes, from the categories kept in the process (no
    query while they are unchanged)."""
    category = active_category(code)
    if category is None:
        raise Open311Error(404, f"service_code: unknown service {code}")
    questions = {a.code: a.datatype for a in category.attributes.all() if a.variable}
    return IntakeService(
        key=category.key,
        name=category.name,
        service_type=category.service_type,
        questions=questions,
    )


def _public_events() -> QuerySet[CaseEvent]:
    """History the public may read: public events that carry a status, replies only when staff
    marked them for the board."""
    return CaseEvent.objects.filter(public=True, kind__in=list(translate.UPDATE_STATUS)).filter(
        ~Q(kind=EventKind.REPLY) | Q(data__board=True)
    )


def published_cases(*, extended: bool = False) -> QuerySet[Case]:
    queryset = (
        Case.objects.filter(is_public=True)
        .select_related("category", "department", "merged_into")
        .prefetch_related(
            Prefetch(
                "events",
                queryset=CaseEvent.objects.filter(kind=EventKind.REPLY, data__board=True).order_by(
                    "created_at", "id"
                ),
                to_attr="open311_board_replies",
            )
        )
    )
    if extended:
        queryset = queryset.prefetch_related(
            Prefetch(
                "events",
                queryset=_public_events()
                .select_related("organisation")
                .order_by("created_at", "id"),
                to_attr="open311_notes",
            ),
            "ratings",
        )
    return queryset


def _shape(case: Case, *, extended: bool) -> dict[str, Any]:
    publish_place = bool(open311_settings().publish_place)
    board_replies = getattr(case, "open311_board_replies", [])
    if not extended:
        return translate.request(case, board_replies=board_replies, publish_place=publish_place)
    notes: list[CaseEvent] = getattr(case, "open311_notes", [])
    for note in notes:
        note.case = case  # descriptions of duplicates name the primary case
    ratings = sorted(case.ratings.all(), key=lambda r: (r.created_at, r.pk))
    return translate.request(
        case,
        board_replies=board_replies,
        publish_place=publish_place,
        notes=notes,
        satisfaction=ratings[-1].value if ratings else None,
    )


@dataclass(frozen=True)
class RequestQuery:
    ids: list[str]
    service_codes: list[str]
    statuses: list[str]
    start: dt.datetime | None
    end: dt.datetime | None
    offset: int
    limit: int
    extended: bool = False


def requests_find(query: RequestQuery) -> list[dict[str, Any]]:
    """Newest first. service_request_id overrides every other filter."""
    cases = published_cases(extended=query.extended)
    if query.ids:
        cases = cases.filter(tracking_number__in=query.ids)
    else:
        if query.service_codes:
            cases = cases.filter(category__key__in=query.service_codes)
        if set(query.statuses) == {"open"}:
            cases = cases.exclude(status=CaseStatus.CLOSED)
        elif set(query.statuses) == {"closed"}:
            cases = cases.filter(status=CaseStatus.CLOSED)
        if query.start is not None:
            cases = cases.filter(created_at__gte=query.start)
        if query.end is not None:
            cases = cases.filter(created_at__lte=query.end)
    cases = cases.order_by("-created_at", "-id")[query.offset : query.offset + query.limit]
    return [_shape(case, extended=query.extended) for case in cases]


def request_get(service_request_id: str, *, extended: bool = False) -> dict[str, Any]:
    case = published_cases(extended=extended).filter(tracking_number=service_request_id).first()
    if case is None:
        raise Open311Error(404, f"service_request_id: no request {service_request_id}")
    return _shape(case, extended=extended)


def token_get(token: str) -> dict[str, Any]:
    case = Case.objects.filter(extra__open311__token=token).only("tracking_number").first()
    if case is None:
        raise Open311Error(404, f"token: unknown token {token}")
    return {"service_request_id": case.tracking_number, "token": token}


def case_posted_by(*, key: Open311ApiKey, service_request_id: str) -> Case:
    """A case this key posted; any other is not found, whether it exists or not."""
    case = Case.objects.filter(
        tracking_number=service_request_id, extra__open311__key_id=key.pk
    ).first()
    if case is None:
        raise Open311Error(404, f"service_request_id: no request {service_request_id} of yours")
    return case


def updates_find(
    *, key: Open311ApiKey, start: dt.datetime, end: dt.datetime, limit: int
) -> list[dict[str, Any]]:
    """Oldest first, so a poller can resume from the last update it saw. Public cases show what
    the public board shows; cases this key posted show every update their sender sees."""
    own = Q(case__extra__open311__key_id=key.pk)
    events = (
        CaseEvent.objects.filter(
            public=True,
            kind__in=list(translate.UPDATE_STATUS),
            created_at__gte=start,
            created_at__lte=end,
        )
        .filter(own | (Q(case__is_public=True) & (~Q(kind=EventKind.REPLY) | Q(data__board=True))))
        .select_related("case", "case__merged_into", "organisation")
        .order_by("created_at", "id")[:limit]
    )
    return [translate.request_update(event) for event in events]
