"""Traceability's rules, plugged into core's single check. Regulators (market supervision)
register participants and start recalls within their subtree; node operators and supply-chain
systems capture events; a stall's own members acknowledge the recalls sent to it (owner rule);
the shopper's page and the Digital Link resolver are public."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from civichub.core.registry import ActionDef, RoleDef

REGULATOR = "food_regulator"
OPERATOR = "trace_operator"
FEED = "trace_feed"

ROLES = [
    RoleDef(REGULATOR, _("食品追溯监管员"), "Registers participants, starts recalls."),
    RoleDef(OPERATOR, _("追溯节点操作员"), "Records receiving, slaughter, inspection, sale."),
    RoleDef(FEED, _("追溯数据接入"), "A supply-chain system that captures EPCIS events."),
]

CAPTURERS = frozenset({REGULATOR, OPERATOR, FEED, "operator"})

ACTIONS = [
    ActionDef(
        "traceability.participant.manage",
        frozenset({REGULATOR, "operator"}),
        description="Register farms, slaughterhouses, markets, stalls and their products.",
    ),
    ActionDef(
        "traceability.event.capture",
        CAPTURERS,
        description="Capture EPCIS events (API, staff forms, CSV).",
    ),
    ActionDef(
        "traceability.event.view",
        CAPTURERS,
        description="Query the EPCIS repository and read a lot's full trace.",
    ),
    ActionDef(
        "traceability.query.manage",
        CAPTURERS,
        description="Create and delete named EPCIS queries (views on the events).",
    ),
    ActionDef(
        "traceability.lot.view",
        frozenset(),
        public=True,
        description="The shopper's page of a lot: origin, inspections, market, stall, recalls.",
    ),
    ActionDef(
        "traceability.recall.start",
        frozenset({REGULATOR}),
        description="Mark a lot suspect and notify every participant downstream.",
    ),
    ActionDef(
        "traceability.recall.view",
        frozenset({REGULATOR}),
        owner=True,
        description="See a recall and its acknowledgements; a stall its own notice.",
    ),
    ActionDef(
        "traceability.recall.acknowledge",
        frozenset(),
        owner=True,
        description="A participant's members acknowledge a recall and report what they withdrew.",
    ),
]


def is_participant_member(user: Any, notice: Any) -> bool:
    """The recall notice was sent to a participant the user works for."""
    if not getattr(user, "is_authenticated", False):
        return False
    return bool(notice.participant.members.filter(pk=user.pk).exists())


def is_recall_recipient(user: Any, recall: Any) -> bool:
    """One of the recall's notices went to a participant the user works for."""
    if not getattr(user, "is_authenticated", False):
        return False
    return bool(recall.notices.filter(participant__members=user).exists())
