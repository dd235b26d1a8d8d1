"""Core's API: the signed-in account, tokens, organisations, residents and the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from civichub.core import selectors, services
from civichub.core.errors import NotFound
from civichub.core.http import request_user
from civichub.core.models import Organisation, Resident
from civichub.core.permissions import action_def, allowed

router = Router(tags=["core"])


class RoleOut(Schema):
    role: str
    organisation_id: int
    organisation_name: str


class MeOut(Schema):
    id: int
    username: str
    display_name: str
    language: str
    resident_id: int | None
    roles: list[RoleOut]


@router.get("/me", response=MeOut, summary="The signed-in account and its roles")
def me(request: HttpRequest) -> MeOut:
    user = request_user(request)
    return MeOut(
        id=user.pk,
        username=user.username,
        display_name=user.display_name(),
        language=user.language,
        resident_id=user.resident_id,
        roles=[
            RoleOut(role=role, organisation_id=org.pk, organisation_name=org.name)
            for role, org in selectors.user_roles(user=user)
        ],
    )


class TokenIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: dt.datetime
    token: str | None = Field(None, description="The secret; returned once, at creation.")


@router.post("/tokens", response={201: TokenOut}, summary="Create an API token")
def token_create(request: HttpRequest, payload: TokenIn) -> Status[TokenOut]:
    token, secret = services.api_token_create(actor=request_user(request), name=payload.name)
    return Status(
        201,
        TokenOut(
            id=token.pk,
            name=token.name,
            prefix=token.prefix,
            created_at=token.created_at,
            token=secret,
        ),
    )


@router.delete("/tokens/{token_id}", response={204: None}, summary="Revoke an API token")
def token_revoke(request: HttpRequest, token_id: int) -> Status[None]:
    user = request_user(request)
    token = selectors.api_token_get(user=user, pk=token_id)
    services.api_token_revoke(actor=user, token=token)
    return Status(204, None)


class OrganisationOut(Schema):
    id: int
    kind: str
    function: str
    name: str
    name_en: str
    code: str
    parent_id: int | None
    depth: int


@router.get(
    "/organisations",
    response=list[OrganisationOut],
    auth=None,
    summary="The organisation tree (public)",
)
def organisation_list(
    request: HttpRequest, kind: str | None = None, parent_id: int | None = None
) -> list[Organisation]:
    parent = selectors.organisation_get(pk=parent_id) if parent_id else None
    return list(selectors.organisation_list(kind=kind, parent=parent)[:2000])


@router.get("/organisations/{org_id}", response=OrganisationOut, auth=None)
def organisation_get(request: HttpRequest, org_id: int) -> Organisation:
    return selectors.organisation_get(pk=org_id)


class ResidentOut(Schema):
    id: int
    name: str
    name_en: str
    phone: str
    address: str
    community_id: int
    latitude: float | None
    longitude: float | None
    crs: str
    wgs84_latitude: float | None
    wgs84_longitude: float | None
    identity_masked: str


class ResidentPageOut(Schema):
    total: int
    items: list[ResidentOut]


class PurposeQuery(Schema):
    purpose: str = Field(
        ...,
        min_length=1,
        max_length=200,
        description="Why the personal data is viewed; recorded in the audit log.",
    )


@router.get("/residents", response=ResidentPageOut, summary="Residents in the caller's scope")
def resident_list(
    request: HttpRequest,
    purpose: Query[PurposeQuery],
    community_id: int | None = None,
    q: str = "",
    offset: int = Query(0, ge=0),
    limit: int = Query(50, ge=1, le=200),
) -> ResidentPageOut:
    community = selectors.organisation_get(pk=community_id) if community_id else None
    page = selectors.resident_list(
        actor=request_user(request),
        purpose=purpose.purpose,
        community=community,
        query=q,
        offset=offset,
        limit=limit,
    )
    return ResidentPageOut(total=page.total, items=[ResidentOut.from_orm(r) for r in page.items])


@router.get("/residents/{resident_id}", response=ResidentOut)
def resident_get(request: HttpRequest, resident_id: int, purpose: Query[PurposeQuery]) -> Resident:
    return selectors.resident_get(
        actor=request_user(request), pk=resident_id, purpose=purpose.purpose
    )


class ResidentIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    name_en: str = Field("", max_length=100)
    phone: str = Field("", max_length=32)
    address: str = Field("", max_length=300)
    community_id: int
    latitude: float | None = None
    longitude: float | None = None
    crs: Literal["wgs84", "gcj02"] = "gcj02"
    identity_number: str | None = Field(None, max_length=18)


@router.post("/residents", response={201: ResidentOut}, summary="Register a resident")
def resident_create(request: HttpRequest, payload: ResidentIn) -> Status[Resident]:
    community = selectors.organisation_get(pk=payload.community_id)
    data = payload.dict(exclude={"community_id"})
    return Status(
        201, services.resident_create(actor=request_user(request), community=community, **data)
    )


class ResidentPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    name_en: str | None = Field(None, max_length=100)
    phone: str | None = Field(None, max_length=32)
    address: str | None = Field(None, max_length=300)
    latitude: float | None = None
    longitude: float | None = None
    crs: Literal["wgs84", "gcj02"] | None = None
    community_id: int | None = None
    identity_number: str | None = Field(None, max_length=18)


@router.patch("/residents/{resident_id}", response=ResidentOut)
def resident_update(request: HttpRequest, resident_id: int, payload: ResidentPatch) -> Resident:
    user = request_user(request)
    resident = selectors.resident_get(actor=user, pk=resident_id, purpose="record update")
    changes = payload.dict(exclude_unset=True, exclude={"community_id", "identity_number"})
    community = (
        selectors.organisation_get(pk=payload.community_id) if payload.community_id else None
    )
    return services.resident_update(
        actor=user,
        resident=resident,
        changes=changes,
        community=community,
        identity_number=payload.identity_number,
    )


class IdentityOut(Schema):
    identity_number: str


@router.post(
    "/residents/{resident_id}/identity",
    response=IdentityOut,
    summary="Reveal the full identity number (audited, registrars only)",
)
def resident_identity(request: HttpRequest, resident_id: int, payload: PurposeQuery) -> IdentityOut:
    user = request_user(request)
    resident = selectors.resident_get(actor=user, pk=resident_id, purpose=payload.purpose)
    number = selectors.resident_identity_reveal(
        actor=user, resident=resident, purpose=payload.purpose
    )
    return IdentityOut(identity_number=number)


class AuditEventOut(Schema):
    id: int
    at: dt.datetime
    actor_label: str
    action: str
    object_type: str
    object_id: str
    object_label: str
    purpose: str
    changes: dict[str, object]
    ip_address: str | None
    request_id: str


class AuditPageOut(Schema):
    total: int
    items: list[AuditEventOut]


@router.get("/audit", response=AuditPageOut, summary="Search the audit log (auditors)")
def audit_search(
    request: HttpRequest,
    actor: str = "",
    action: str = "",
    object_type: str = "",
    object_id: str = "",
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    offset: int = Query(0, ge=0),
    limit: int = Query(50, ge=1, le=500),
) -> AuditPageOut:
    items, total = selectors.audit_search(
        actor=request_user(request),
        filters=selectors.AuditFilter(
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            since=since,
            until=until,
        ),
        offset=offset,
        limit=limit,
    )
    return AuditPageOut(total=total, items=[AuditEventOut.from_orm(e) for e in items])


class PermissionCheckOut(Schema):
    action: str
    allowed: bool


@router.get(
    "/permissions/{action}",
    response=PermissionCheckOut,
    summary="Whether the caller may do an action (optionally on an organisation)",
)
def permission_check(
    request: HttpRequest, action: str, organisation_id: int | None = None
) -> PermissionCheckOut:
    try:
        action_def(action)
    except LookupError:
        raise NotFound(_("没有名为 %(action)s 的权限操作。") % {"action": action}) from None
    obj = selectors.organisation_get(pk=organisation_id) if organisation_id else None
    return PermissionCheckOut(action=action, allowed=allowed(request_user(request), action, obj))
