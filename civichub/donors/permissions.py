"""Emergency blood donors' rules, plugged into core's single check. Hospital staff create
requests and record arrivals for their hospital; the blood centre sees and manages the registry
and every request in its subtree; a donor with an account sees and manages their own record."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from civichub.core.registry import ActionDef, RoleDef

HOSPITAL = "hospital_staff"
CENTRE = "blood_centre"

ROLES = [
    RoleDef(HOSPITAL, _("医院输血科"), "Creates emergency blood requests for a hospital."),
    RoleDef(CENTRE, _("血站"), "Keeps the donor registry and follows every request."),
]

ACTIONS = [
    ActionDef(
        "donors.donor.view",
        frozenset({CENTRE, "operator"}),
        owner=True,
        description="See the registry (no address: a community and a distance band); audited.",
    ),
    ActionDef(
        "donors.donor.manage",
        frozenset({CENTRE, "operator"}),
        owner=True,
        description="Register, import, verify, pause, record donations and deferrals.",
    ),
    ActionDef(
        "donors.request.create",
        frozenset({HOSPITAL, CENTRE, "operator"}),
        description="Create an emergency blood request for a hospital.",
    ),
    ActionDef(
        "donors.request.view",
        frozenset({HOSPITAL, CENTRE, "operator"}),
        description="See requests and their call-ups on the request board.",
    ),
    ActionDef(
        "donors.request.manage",
        frozenset({HOSPITAL, CENTRE, "operator"}),
        description="Record arrivals, donations and no-shows; close or cancel a request.",
    ),
]


def is_own_donor(user: Any, donor: Any) -> bool:
    """A registered donor with an account, for their own record."""
    return bool(getattr(user, "is_authenticated", False) and donor.user_id == user.pk)
