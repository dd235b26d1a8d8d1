"""Reads that pages, the API and tasks share. Reads of personal data check permission and write
an audit row with the stated purpose, in the same call, so no caller can forget either."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.core import crypto
from civichub.core.audit import audit_record
from civichub.core.errors import NotFound, ValidationFailed
from civichub.core.models import ApiToken, AuditEvent, Organisation, Resident, User
from civichub.core.paging import Page
from civichub.core.permissions import granted_paths, require, scope_filter

DEFAULT_PURPOSE = "casework"


def _purpose(purpose: str) -> str:
    purpose = purpose.strip()
    if not purpose:
        raise ValidationFailed.on("purpose", _("请说明查看个人信息的事由。"))
    return purpose


def organisation_list(
    *, kind: str | None = None, parent: Organisation | None = None
) -> QuerySet[Organisation]:
    queryset = Organisation.objects.all()
    if kind:
        queryset = queryset.filter(kind=kind)
    if parent is not None:
        queryset = queryset.filter(parent=parent)
    return queryset


def organisation_get(*, pk: int) -> Organisation:
    try:
        return Organisation.objects.get(pk=pk)
    except Organisation.DoesNotExist:
        raise NotFound(_("没有编号为 %(pk)s 的组织机构。") % {"pk": pk}) from None


def organisation_by_code(*, code: str) -> Organisation:
    try:
        return Organisation.objects.get(code=code)
    except Organisation.DoesNotExist:
        raise NotFound(_("没有代码为 %(code)s 的组织机构。") % {"code": code}) from None


@transaction.atomic
def resident_get(*, actor: User | None, pk: int, purpose: str) -> Resident:
    try:
        resident = Resident.objects.select_related("community").get(pk=pk)
    except Resident.DoesNotExist:
        raise NotFound(_("没有编号为 %(pk)s 的居民。") % {"pk": pk}) from None
    if actor is not None:
        require(actor, "core.resident.view", resident)
    audit_record(actor=actor, action="resident.view", obj=resident, purpose=_purpose(purpose))
    return resident


@transaction.atomic
def resident_identity_reveal(*, actor: User, resident: Resident, purpose: str) -> str:
    require(actor, "core.resident.view_identity", resident)
    audit_record(
        actor=actor, action="resident.view_identity", obj=resident, purpose=_purpose(purpose)
    )
    if not resident.identity_encrypted:
        return ""
    return crypto.decrypt_identity(resident.identity_encrypted)


@transaction.atomic
def resident_find_by_identity(
    *, actor: User, identity_number: str, purpose: str
) -> Resident | None:
    """Exact lookup by identity number through the keyed hash; audited like a view."""
    digests = crypto.identity_lookup_hashes(identity_number)
    resident = (
        Resident.objects.select_related("community").filter(identity_hash__in=digests).first()
    )
    if resident is None:
        audit_record(
            actor=actor,
            action="resident.lookup",
            object_type="core.resident",
            purpose=_purpose(purpose),
            changes={"found": False},
        )
        return None
    require(actor, "core.resident.view", resident)
    audit_record(
        actor=actor,
        action="resident.lookup",
        obj=resident,
        purpose=_purpose(purpose),
        changes={"found": True},
    )
    return resident


ResidentPage = Page[Resident]


@transaction.atomic
def resident_list(
    *,
    actor: User,
    purpose: str,
    community: Organisation | None = None,
    query: str = "",
    offset: int = 0,
    limit: int = 50,
) -> Page[Resident]:
    require(actor, "core.resident.view")
    queryset = scope_filter(
        actor,
        "core.resident.view",
        Resident.objects.select_related("community"),
        "community__path",
        owner_q=Q(pk=actor.resident_id) if actor.resident_id else None,
    )
    if community is not None:
        queryset = queryset.filter(community__path__startswith=community.path)
    if query:
        queryset = queryset.filter(Q(name__contains=query) | Q(name_en__icontains=query))
    total = queryset.count()
    items = list(queryset.order_by("pk")[offset : offset + min(limit, 200)])
    audit_record(
        actor=actor,
        action="resident.list",
        object_type="core.resident",
        organisation=community,
        purpose=_purpose(purpose),
        changes={"query": query, "shown": [r.pk for r in items]},
    )
    return Page(items=items, total=total, offset=offset, limit=min(limit, 200))


@dataclass
class AuditFilter:
    actor: str = ""
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def audit_scope(actor: Any, queryset: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
    """Auditors see events in their subtree; auditors at the root also see system-wide ones."""
    scope = Q(pk__in=[])
    for path in granted_paths(actor, "core.audit.view"):
        scope |= Q(organisation_path__startswith=path)
        if path.count("/") <= 2:
            scope |= Q(organisation_path="")
    return queryset.filter(scope)


def audit_search(
    *, actor: User, filters: AuditFilter, offset: int = 0, limit: int = 50
) -> tuple[list[AuditEvent], int]:
    """Auditors see the events in their subtree; root auditors also see system-wide events."""
    require(actor, "core.audit.view")
    queryset = audit_scope(actor, AuditEvent.objects.all())
    conditions: dict[str, Any] = {}
    if filters.actor:
        conditions["actor_label__icontains"] = filters.actor
    if filters.action:
        conditions["action__startswith"] = filters.action
    if filters.object_type:
        conditions["object_type"] = filters.object_type
    if filters.object_id:
        conditions["object_id"] = filters.object_id
    if filters.since:
        conditions["at__gte"] = filters.since
    if filters.until:
        conditions["at__lt"] = filters.until
    queryset = queryset.filter(**conditions)
    total = queryset.count()
    return list(queryset.order_by("-at", "-id")[offset : offset + min(limit, 500)]), total


def api_token_get(*, user: User, pk: int) -> ApiToken:
    """One of the user's own API tokens."""
    token = ApiToken.objects.filter(pk=pk, user=user).first()
    if token is None:
        raise NotFound(_("没有编号为 %(pk)s 的令牌。") % {"pk": pk})
    return token


def active_user_get(*, pk: int) -> User:
    """An account that can sign in and be notified."""
    user = User.objects.filter(pk=pk, is_active=True).first()
    if user is None:
        raise NotFound(_("没有编号为 %(pk)s 的有效账号。") % {"pk": pk})
    return user


def user_roles(*, user: User) -> list[tuple[str, Organisation]]:
    return [(a.role, a.organisation) for a in user.role_assignments.select_related("organisation")]


# Dashboard figures (the tiles of core's manifest) ---------------------------------------------


def resident_count(user: User) -> int:
    """Residents the user may look up, for the dashboard."""
    return scope_filter(
        user, "core.resident.view", Resident.objects.all(), "community__path"
    ).count()


def audit_today_count(user: User) -> int:
    """Audit rows recorded today (local time) within the user's scope, for the dashboard."""
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return audit_search(actor=user, filters=AuditFilter(since=start), limit=1)[1]
