"""Casework's rules, plugged into core's single check.

A case has two scopes: its department (who handles it) and its community (where it happened).
Staff holding an action's role over either may do the action, so a case shows in the
department's inbox and in the community's. Before routing has set either, the case's scope is
its jurisdiction (the receiving area), where dispatchers triage it.

This module is imported by the manifest before models load, so core's check is imported
inside the functions. The sender may view and rate
their own case (`owner=True` actions, decided by `is_own_case`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from civichub.casework.codes import access_code_matches
from civichub.core.registry import ActionDef, RoleDef

if TYPE_CHECKING:
    from civichub.casework.models import Case
    from civichub.core.models import Organisation

WORKER = "community_worker"
HANDLER = "department_handler"
HEAD = "department_head"
DISPATCHER = "case_dispatcher"

ROLES = [
    RoleDef(
        DISPATCHER,
        _("热线调度员"),
        "Receives messages, triages those the router is unsure of, transfers and merges.",
    ),
]

STAFF = frozenset({WORKER, HANDLER, HEAD, DISPATCHER})

ACTIONS = [
    ActionDef(
        "casework.case.submit",
        frozenset(),
        public=True,
        description="Send a message (signed in, or anonymous with a verified contact).",
    ),
    ActionDef(
        "casework.board.view",
        frozenset(),
        public=True,
        description="Read the public board of public messages and replies.",
    ),
    ActionDef(
        "casework.case.view",
        STAFF,
        owner=True,
        description="Read a case and its history; senders read their own.",
    ),
    ActionDef(
        "casework.case.rate",
        frozenset(),
        owner=True,
        description="Rate the answer to one's own message.",
    ),
    ActionDef(
        "casework.case.log_call",
        STAFF,
        description="Log a phone call as a message on the caller's behalf.",
    ),
    ActionDef(
        "casework.case.triage",
        frozenset({DISPATCHER, HEAD}),
        description="Set the category and department of a case in the triage queue.",
    ),
    ActionDef(
        "casework.case.assign",
        frozenset({HEAD, DISPATCHER, WORKER}),
        description="Give a case to a handler.",
    ),
    ActionDef(
        "casework.case.transfer",
        frozenset({HANDLER, HEAD, DISPATCHER, WORKER}),
        description="Send a case to another department, with a reason.",
    ),
    ActionDef(
        "casework.case.reply", frozenset({HANDLER, HEAD, WORKER}), description="Answer the sender."
    ),
    ActionDef(
        "casework.case.close", frozenset({HANDLER, HEAD, WORKER}), description="Close a case."
    ),
    ActionDef(
        "casework.case.extend_request",
        frozenset({HANDLER, HEAD, WORKER}),
        description="Ask for more time.",
    ),
    ActionDef(
        "casework.case.extend_approve",
        frozenset({HEAD}),
        description="Approve or refuse a request for more time.",
    ),
    ActionDef(
        "casework.case.merge",
        frozenset({HANDLER, HEAD, DISPATCHER}),
        description="Merge a duplicate into another case.",
    ),
    ActionDef("casework.case.note", STAFF, description="Add an internal (or public) note."),
    ActionDef(
        "casework.stats.view",
        frozenset({HEAD, DISPATCHER}),
        description="Statistics and their CSV export.",
    ),
    ActionDef(
        "casework.taxonomy.manage",
        frozenset({"operator"}),
        description="Categories, community areas and the working calendar.",
    ),
]


def is_own_case(user: Any, case: Case) -> bool:
    """Whether `user` is signed in as the case's sender (the owner rule of `casework.case`)."""
    return bool(
        getattr(user, "is_authenticated", False)
        and case.submitter_id is not None
        and case.submitter_id == user.pk
    )


def is_sender(user: Any, case: Case, access_code: str = "") -> bool:
    """Whether the visitor sent the case: signed in as its sender, or holding its access code
    (an anonymous sender). The one rule behind every "only the sender may" in casework."""
    return is_own_case(user, case) or (bool(access_code) and access_code_matches(case, access_code))


def case_scopes(case: Case) -> list[Organisation]:
    scopes = [org for org in (case.department, case.community) if org is not None]
    return scopes or [case.jurisdiction]


def may(user: Any, action: str, case: Case) -> bool:
    """Whether `user` may do `action` on `case` (owner rule, department or community scope)."""
    from civichub.core.permissions import allowed

    if allowed(user, action, case):
        return True
    return any(allowed(user, action, org) for org in case_scopes(case)[1:])


def require_case(user: Any, action: str, case: Case) -> None:
    from civichub.core.permissions import require

    if not may(user, action, case):
        require(user, action, case)  # raises the right error for the caller


def case_scope_filter(user: Any, action: str, queryset: QuerySet[Case]) -> QuerySet[Case]:
    """The cases `user` may do `action` on, for inbox lists and statistics."""
    from civichub.core.permissions import granted_paths

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
