"""The API's shapes of casework's data: the input schemas of intake and the output schemas of
categories, cases, their history and photos, with the functions that fill them (contact details
only for staff; the sender sees a reduced event history)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, Literal

from ninja import Field, Schema

from civichub.casework import selectors
from civichub.casework.models import Case, CaseEvent, Category

Kind = Literal["complaint", "help", "consultation", "suggestion", "praise"]
Crs = Literal["wgs84", "gcj02"]


class AttributeValueOut(Schema):
    key: str
    name: str


class AttributeOut(Schema):
    code: str
    variable: bool
    datatype: str
    required: bool
    datatype_description: str
    description: str
    order: int
    values: list[AttributeValueOut]


class CategoryOut(Schema):
    key: str
    name: str
    name_en: str
    description: str
    group: str
    default_kind: str
    department_id: int | None
    department_name: str
    attributes: list[AttributeOut]


def category_out(category: Category) -> CategoryOut:
    return CategoryOut(
        key=category.key,
        name=category.name,
        name_en=category.name_en,
        description=category.description,
        group=category.group,
        default_kind=category.default_kind,
        department_id=category.department_id,
        department_name=category.department.name if category.department else "",
        attributes=[
            AttributeOut(
                code=a.code,
                variable=a.variable,
                datatype=a.datatype,
                required=a.required,
                datatype_description=a.datatype_description,
                description=a.description,
                order=a.order,
                values=[
                    AttributeValueOut(key=str(v["key"]), name=str(v["name"])) for v in a.values
                ],
            )
            for a in category.attributes.all()
        ],
    )


class PhotoOut(Schema):
    id: int
    content_type: str
    width: int
    height: int
    size: int
    location_kept: bool
    # "ready"; "processing" while a large photo awaits its re-encoding (not served until
    # ready); "failed" when it could not be read (`error` says why; the photo is not kept).
    state: str
    error: str


class RatingOut(Schema):
    value: str
    comment: str
    round: int
    created_at: dt.datetime


class CaseOut(Schema):
    """A case as its sender or staff see it. Contact fields are filled for staff only."""

    id: int
    tracking_number: str
    kind: str
    title: str
    text: str
    status: str
    channel: str
    is_public: bool
    address: str
    latitude: float | None
    longitude: float | None
    crs: str
    category: str | None
    router_confidence: float | None
    department_id: int | None
    department_name: str
    community_id: int | None
    community_name: str
    assignee_id: int | None
    due_at: dt.datetime | None
    due_state: str = Field(description='"overdue", "near" or ""')
    extension_state: str
    merged_into: str | None
    reopen_count: int
    created_at: dt.datetime
    first_replied_at: dt.datetime | None
    closed_at: dt.datetime | None
    attributes: dict[str, Any]
    photos: list[PhotoOut]
    ratings: list[RatingOut]
    contact_name: str | None = None
    contact_phone: str | None = None
    contact_email: str | None = None
    contact_verified: bool | None = None


def case_out(case: Case, *, staff: bool) -> CaseOut:
    return CaseOut(
        id=case.pk,
        tracking_number=case.tracking_number,
        kind=case.kind,
        title=case.title,
        text=case.text,
        status=case.status,
        channel=case.channel,
        is_public=case.is_public,
        address=case.address,
        latitude=case.latitude,
        longitude=case.longitude,
        crs=case.crs,
        category=case.category.key if case.category else None,
        router_confidence=case.router_confidence,
        department_id=case.department_id,
        department_name=case.department.name if case.department else "",
        community_id=case.community_id,
        community_name=case.community.name if case.community else "",
        assignee_id=case.assignee_id,
        due_at=case.due_at,
        due_state=selectors.due_state(case),
        extension_state=case.extension_state,
        merged_into=case.merged_into.tracking_number if case.merged_into else None,
        reopen_count=case.reopen_count,
        created_at=case.created_at,
        first_replied_at=case.first_replied_at,
        closed_at=case.closed_at,
        attributes=case.attributes,
        photos=[PhotoOut.from_orm(p) for p in case.photos.all()],
        ratings=[RatingOut.from_orm(r) for r in case.ratings.all()],
        contact_name=case.contact_name if staff else None,
        contact_phone=case.contact_phone if staff else None,
        contact_email=case.contact_email if staff else None,
        contact_verified=case.contact_verified if staff else None,
    )


class CaseSummaryOut(Schema):
    id: int
    tracking_number: str
    kind: str
    title: str
    status: str
    category: str | None
    department_name: str
    community_name: str
    due_at: dt.datetime | None
    due_state: str
    created_at: dt.datetime


def case_summary_out(case: Case) -> CaseSummaryOut:
    # Built without validation: every value comes typed from the database, and validating them
    # through Ninja's attribute getter cost more than the rest of a list of fifty.
    return CaseSummaryOut.model_construct(
        id=case.pk,
        tracking_number=case.tracking_number,
        kind=case.kind,
        title=case.title,
        status=case.status,
        category=case.category.key if case.category else None,
        department_name=case.department.name if case.department else "",
        community_name=case.community.name if case.community else "",
        due_at=case.due_at,
        due_state=selectors.due_state(case),
        created_at=case.created_at,
    )


class CasePageOut(Schema):
    total: int
    items: list[CaseSummaryOut]


def case_page_out(total: int, cases: Iterable[Case]) -> CasePageOut:
    # Not validated again either: built with validation, each summary went through the
    # attribute getter once more.
    return CasePageOut.model_construct(total=total, items=[case_summary_out(c) for c in cases])


class EventOut(Schema):
    id: int
    kind: str
    actor: str
    public: bool
    text: str
    data: dict[str, Any]
    created_at: dt.datetime


def event_out(event: CaseEvent, *, staff: bool) -> EventOut:
    return EventOut(
        id=event.pk,
        kind=event.kind,
        actor=(event.actor.display_name() if event.actor else "") if staff else "",
        public=event.public,
        text=event.text,
        data=event.data
        if staff
        else {k: v for k, v in event.data.items() if k in {"value", "into", "days", "status"}},
        created_at=event.created_at,
    )


class SubmittedOut(Schema):
    tracking_number: str
    status: str
    due_at: dt.datetime | None
    access_code: str = Field(
        "", description="For senders without an account: keep it to follow the case. Shown once."
    )


class CaseIn(Schema):
    kind: Kind
    title: str = Field("", max_length=200)
    text: str = Field(..., min_length=1, max_length=4000)
    category: str | None = Field(None, max_length=64, description="A category key, if known.")
    attributes: dict[str, Any] = Field(default_factory=dict)
    is_public: bool = False
    address: str = Field("", max_length=300)
    latitude: float | None = None
    longitude: float | None = None
    crs: Crs | None = None
    channel: Literal["api", "web", "phone"] = Field(
        "api", description='"phone": staff logging a call on the caller\'s behalf.'
    )
    contact_name: str = Field("", max_length=100)
    contact_phone: str = Field("", max_length=32)


class AnonymousCaseIn(CaseIn):
    verification_id: int
    verification_token: str = Field(
        ..., min_length=1, max_length=128, description="The token the verification's start gave."
    )
