"""Casework's rules, plugged into core's single check.

A case has two scopes: its department (who handles it) and its community (where it happened).
Staff holding an action's role over either may do the action, so a case shows in the
department's inbox and in the community's. Before routing has set either, the case's scope is
its jurisdiction (the receiving area), where dispatchers triage it.

The sender may view and rate their own case (`owner=True` actions, decided by the owner rule
`is_own_case`); "is this visitor the sender?" is `is_sender`, which also accepts an anonymous
sender's access code. The roles and actions themselves are declared in `casework.actions`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Q, QuerySet

from civichub.casework.actions import (
    ACTIONS,
    DISPATCHER,
    HANDLER,
    HEAD,
    ROLES,
    STAFF,
    WORKER,
    is_own_case,
)
from civichub.casework.codes import access_code_matches
from civichub.core.permissions import allowed, granted_paths, require

if TYPE_CHECKING:
    from civichub.casework.models import Case
    from civichub.core.models import Organisation

__all__ = [
    "ACTIONS",
    "DISPATCHER",
    "HANDLER",
    "HEAD",
    "ROLES",
    "STAFF",
    "WORKER",
    "case_scope_filter",
    "case_scopes",
    "is_own_case",
    "is_sender",
    "may",
    "require_case",
]


def is_sender(user: Any, case: Case, access_code: str = "") -> bool:
    """Whether the visitor sent the case: signed in as its sender, or holding its access code
    (an anonymous sender). The one rule behind every "only the sender may" in casework."""
    return is_own_case(user, case) or (bool(access_code) and access_code_matches(case, access_code))


def case_scopes(case: Case) -> list[Organisation]:
    scopes = [org for org in (case.department, case.community) if org is not None]
    return scopes or [case.jurisdiction]


def may(user: Any, action: str, case: Case) -> bool:
    """Whether `user` may do `action` on `case` (owner rule, department or community scope)."""
    if allowed(user, action, case):
        return True
    return any(allowed(user, action, org) for org in case_scopes(case)[1:])


def require_case(user: Any, action: str, case: Case) -> None:
    if not may(user, action, case):
        require(user, action, case)  # raises the right error for the caller


def case_scope_filter(user: Any, action: str, queryset: QuerySet[Case]) -> QuerySet[Case]:
    """The cases `user` may do `action` on, for inbox lists and statistics."""
    condition = Q(pk__in=[])
    for path in granted_paths(user, action):
        if path == "/":
            return queryset
        condition |= (
            Q(department__path__startswith=path)
            | Q(community__path__startswith=path)
            | Q(
                department__isnull=True, community__isnull=True, jurisdiction__path__startswith=path
            )
        )
    return queryset.filter(condition)
