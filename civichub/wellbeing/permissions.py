"""Wellbeing's rules, plugged into core's single check. Everything a household has is scoped by
its community: workers and community heads act within their subtree. A resident with an account
may enrol their own home (core's owner rule for their resident record); family contacts with an
account may see their own household, acknowledge its alerts and mark it away (owner rules)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from civichub.core.registry import ActionDef, RoleDef

WORKER = "community_worker"
HEAD = "community_head"
FEED = "meter_feed"

ROLES = [
    RoleDef(HEAD, _("社区负责人"), "Receives overdue wellbeing visit tasks."),
    RoleDef(FEED, _("表计数据接入"), "A utility's account that sends meter readings."),
]

STAFF = frozenset({WORKER, HEAD})

ACTIONS = [
    ActionDef(
        "wellbeing.household.enrol",
        STAFF,
        owner=True,
        description="Enrol a household with consent; a resident for their own home.",
    ),
    ActionDef(
        "wellbeing.household.view",
        STAFF,
        owner=True,
        description="See a household's readings, alerts and visits (audited).",
    ),
    ActionDef(
        "wellbeing.household.manage",
        STAFF,
        owner=True,
        description="Mark time away, withdraw consent; family contacts for their own household.",
    ),
    ActionDef(
        "wellbeing.alert.acknowledge",
        STAFF,
        owner=True,
        description="Acknowledge an alert; family contacts for their own household.",
    ),
    ActionDef("wellbeing.visit.act", STAFF, description="Accept and record a visit."),
    ActionDef(
        "wellbeing.readings.ingest",
        frozenset({FEED, "operator"}),
        description="Send meter readings.",
    ),
]


def _is_family(user: Any, household: Any) -> bool:
    """The resident themselves, or one of the household's family contacts."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.resident_id is not None and user.resident_id == household.resident_id:
        return True
    return bool(household.contacts.filter(user_id=user.pk).exists())


def is_own_household(user: Any, household: Any) -> bool:
    return _is_family(user, household)


def is_own_alert(user: Any, alert: Any) -> bool:
    return _is_family(user, alert.household)
