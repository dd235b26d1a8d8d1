"""The permission check as a matrix: every core role × action × object in and out of scope.

The expected table is written out here by hand, independently of the registry, so a change to
who may do what has to change this specification too."""

from __future__ import annotations

from typing import Any

import pytest

from civichub.core import services
from civichub.core.errors import NotAuthenticated, PermissionDenied
from civichub.core.models import Resident
from civichub.core.permissions import allowed, require, scope_filter

ROLES = [
    "community_worker",
    "department_handler",
    "department_head",
    "publisher",
    "auditor",
    "operator",
    "registrar",
]
STAFF = set(ROLES)

EXPECTED: dict[str, set[str]] = {
    "core.organisation.manage": {"operator"},
    "core.user.manage": {"operator"},
    "core.role.manage": {"operator"},
    "core.admin.access": {"operator", "auditor"},
    "core.dashboard.view": STAFF,
    "core.resident.view": {"community_worker", "registrar", "department_head"},
    "core.resident.create": {"community_worker", "registrar"},
    "core.resident.change": {"community_worker", "registrar"},
    "core.resident.view_identity": {"registrar"},
    "core.audit.view": {"auditor"},
}
# Which object stands for "in scope" / "out of scope" for each action.
RESIDENT_ACTIONS = {"core.resident.view", "core.resident.change", "core.resident.view_identity"}
ORGANISATION_ACTIONS = {
    "core.organisation.manage",
    "core.role.manage",
    "core.resident.create",
    "core.dashboard.view",
}


@pytest.fixture
def world(city: Any) -> dict[str, Any]:
    inside = services.resident_create(actor=None, name="王小明", community=city.community_a1)
    outside = services.resident_create(actor=None, name="李小红", community=city.community_b1)
    return {"city": city, "inside": inside, "outside": outside}


def _objects(action: str, world: dict[str, Any]) -> tuple[Any, Any]:
    city = world["city"]
    if action in RESIDENT_ACTIONS:
        return world["inside"], world["outside"]
    if action in ORGANISATION_ACTIONS:
        return city.community_a2, city.community_b1
    return None, None


MATRIX = [(role, action) for role in ROLES for action in EXPECTED]


@pytest.mark.parametrize(("role", "action"), MATRIX, ids=[f"{r}-{a}" for r, a in MATRIX])
def test_role_action_matrix_in_and_out_of_scope(
    world: dict[str, Any], make_user: Any, role: str, action: str
) -> None:
    user = make_user(role, world["city"].subdistrict_a)
    inside, outside = _objects(action, world)
    should = role in EXPECTED[action]
    # Without an object the question is "may this user do it anywhere?"
    assert allowed(user, action) is should
    if inside is not None:
        assert allowed(user, action, inside) is should
        # Never outside the subtree the role is held over.
        assert allowed(user, action, outside) is False


def test_role_at_the_city_root_covers_every_district(world: dict[str, Any], make_user: Any) -> None:
    worker = make_user("community_worker", world["city"].city)
    assert allowed(worker, "core.resident.view", world["inside"])
    assert allowed(worker, "core.resident.view", world["outside"])


def test_department_role_does_not_reach_the_area_around_it(
    world: dict[str, Any], make_user: Any
) -> None:
    head = make_user("department_head", world["city"].health_a)
    assert allowed(head, "core.resident.view")  # somewhere: its own subtree
    assert not allowed(head, "core.resident.view", world["inside"])


def test_resident_may_view_and_change_own_record_only(world: dict[str, Any]) -> None:
    own = services.user_create(actor=None, username="wxm", password=None, resident=world["inside"])
    assert allowed(own, "core.resident.view", world["inside"])
    assert allowed(own, "core.resident.change", world["inside"])
    assert not allowed(own, "core.resident.view", world["outside"])
    assert not allowed(own, "core.resident.view_identity", world["inside"])
    assert not allowed(own, "core.audit.view")


def test_anonymous_may_only_do_public_actions(world: dict[str, Any]) -> None:
    from django.contrib.auth.models import AnonymousUser

    anonymous = AnonymousUser()
    assert allowed(anonymous, "core.organisation.view")
    for action in EXPECTED:
        assert not allowed(anonymous, action, world["inside"])
    with pytest.raises(NotAuthenticated):
        require(anonymous, "core.audit.view")


def test_inactive_user_loses_every_role(world: dict[str, Any], make_user: Any) -> None:
    user = make_user("registrar", world["city"].city)
    user.is_active = False
    assert not allowed(user, "core.resident.view", world["inside"])


def test_superuser_is_operator_everywhere_but_reads_no_personal_data(world: dict[str, Any]) -> None:
    from civichub.core.models import User

    root = User.objects.create_superuser("root", "root@example.org", "x" * 12)
    assert allowed(root, "core.organisation.manage", world["city"].community_b1)
    assert not allowed(root, "core.resident.view", world["inside"])


def test_require_raises_permission_denied_naming_the_action(
    world: dict[str, Any], make_user: Any
) -> None:
    user = make_user("publisher", world["city"].city)
    with pytest.raises(PermissionDenied) as info:
        require(user, "core.resident.view", world["inside"])
    assert "core.resident.view" in info.value.message


def test_unknown_action_is_a_programming_error(world: dict[str, Any], make_user: Any) -> None:
    user = make_user("operator", world["city"].city)
    with pytest.raises(LookupError):
        allowed(user, "core.no_such_action")


def test_scope_filter_lists_only_the_subtree(world: dict[str, Any], make_user: Any) -> None:
    worker = make_user("community_worker", world["city"].community_a1)
    visible = scope_filter(worker, "core.resident.view", Resident.objects.all(), "community__path")
    assert list(visible) == [world["inside"]]


def test_revoked_role_stops_working_at_once(world: dict[str, Any], make_user: Any) -> None:
    worker = make_user("community_worker", world["city"].community_a1)
    assert allowed(worker, "core.resident.view", world["inside"])
    services.role_revoke(actor=None, assignment=worker.role_assignments.get())
    assert not allowed(worker, "core.resident.view", world["inside"])
