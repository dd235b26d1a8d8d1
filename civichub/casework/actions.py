"""The roles and permission actions casework declares in its manifest, and its owner rule (a
sender's own case). The manifest is read while the apps load, before any model can be
imported, so this module imports none; the checks that use core's permission check are in
`casework.permissions`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext_lazy as _

from civichub.core.registry import ActionDef, RoleDef

if TYPE_CHECKING:
    from civichub.casework.models import Case

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
