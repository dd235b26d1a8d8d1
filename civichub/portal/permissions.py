"""The portal's rules, plugged into core's single check. The service guide and search are
public; staff of the competent department draft guides and handle applications, its head
reviews and publishes; a resident acts on their own applications (owner rule)."""

from __future__ import annotations

from typing import Any

from civichub.core.registry import ActionDef

EDITORS = frozenset({"department_handler", "department_head", "operator"})
REVIEWERS = frozenset({"department_head", "operator"})
HANDLERS = frozenset({"department_handler", "department_head", "operator"})

ACTIONS = [
    ActionDef(
        "portal.service.view",
        frozenset(),
        public=True,
        description="Read the published service guide and search it.",
    ),
    ActionDef(
        "portal.service.edit",
        EDITORS,
        description="Draft a department's service guide and send it for review.",
    ),
    ActionDef(
        "portal.service.publish",
        REVIEWERS,
        description="Review a draft service guide and publish or return it.",
    ),
    ActionDef(
        "portal.measures.view",
        HANDLERS,
        description="See a department's service measures (online share, visits, time, "
        "satisfaction).",
    ),
    ActionDef(
        "portal.dataset.edit",
        REVIEWERS,
        description="Describe a department's open datasets and publish or withdraw them.",
    ),
    ActionDef(
        "portal.application.view",
        HANDLERS,
        owner=True,
        description="See an application: its applicant, or the competent department's staff.",
    ),
    ActionDef(
        "portal.application.act",
        frozenset(),
        owner=True,
        description="The applicant's own steps: add materials, withdraw, rate.",
    ),
    ActionDef(
        "portal.application.handle",
        HANDLERS,
        description="Accept, ask for more materials, approve or refuse an application.",
    ),
]


def is_own_application(user: Any, application: Any) -> bool:
    return bool(user.is_authenticated and application.applicant_id == user.pk)
