"""The permission check as a matrix: every core role × action × object in and out of scope.

The expected table is written out here by hand, independently of the registry, so a change to
who may do what has to change this specification too."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import Q

from civichub.core import services
from civichub.core.errors import NotAuthenticated, PermissionDenied
from civichub.core.models import Organisation, Resident
from civichub.core.permissions import (
    allowed,
    clear_cache,
    granted_paths,
    require,
    scope_filter,
    scope_path,
)

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


def test_require_raises_permission_denied_naming_the_action_for_developers_not_people(
    world: dict[str, Any], make_user: Any
) -> None:
    user = make_user("publisher", world["city"].city)
    with pytest.raises(PermissionDenied) as info:
        require(user, "core.resident.view", world["inside"])
    # The exception (and the refusal's audit record) names it; the sentence people read does not.
    assert info.value.extra["action"] == "core.resident.view"
    assert "core.resident.view" not in info.value.message


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


# Every branch of the check, each pinned by a test that fails when the branch is changed.


def test_object_outside_the_tree_needs_a_role_held_at_a_top_level_organisation(
    world: dict[str, Any], make_user: Any
) -> None:
    """An account is not in the organisation tree: managing one needs the role at the city (or
    the root), not below it; a role held lower down does not reach it whatever the object."""
    city = world["city"]
    account = make_user(None, None)
    assert scope_path(account) is None
    at_city = make_user("operator", city.city)
    at_district = make_user("operator", city.district_a)
    at_community = make_user("operator", city.community_a1)
    registrar_at_city = make_user("registrar", city.city)
    assert allowed(at_city, "core.user.manage", account)
    assert not allowed(at_district, "core.user.manage", account)
    assert not allowed(at_community, "core.user.manage", account)
    assert not allowed(registrar_at_city, "core.user.manage", account)  # not the action's role
    # Holding the role lower down as well as at the city is enough: any grant at the top counts.
    services.role_grant(actor=None, user=at_district, role="operator", organisation=city.city)
    assert allowed(at_district, "core.user.manage", account)


def test_object_outside_the_tree_is_within_reach_of_an_operator_of_the_whole_tree(
    world: dict[str, Any],
) -> None:
    from civichub.core.models import User

    root = User.objects.create_superuser("root", "root@example.org", "x" * 12)
    assert allowed(root, "core.user.manage", User.objects.create_user("someone"))


def test_role_held_over_several_subtrees_reaches_each_of_them(
    world: dict[str, Any], make_user: Any
) -> None:
    city = world["city"]
    worker = make_user("community_worker", city.community_b1)
    services.role_grant(
        actor=None, user=worker, role="community_worker", organisation=city.community_a1
    )
    assert allowed(worker, "core.resident.view", world["inside"])  # in community_a1
    assert allowed(worker, "core.resident.view", world["outside"])  # in community_b1
    assert not allowed(worker, "core.resident.view", city.community_a2)


def test_role_does_not_reach_the_organisations_above_it(
    world: dict[str, Any], make_user: Any
) -> None:
    city = world["city"]
    operator = make_user("operator", city.subdistrict_a)
    assert allowed(operator, "core.organisation.manage", city.subdistrict_a)
    assert allowed(operator, "core.organisation.manage", city.community_a1)
    assert not allowed(operator, "core.organisation.manage", city.district_a)
    assert not allowed(operator, "core.organisation.manage", city.city)


def test_object_scoped_by_its_organisation_whatever_its_type(
    world: dict[str, Any], make_user: Any
) -> None:
    """Any object exposing `organisation` is checked where that organisation sits, even one that
    is not a database row (no owner rule applies to it)."""
    from types import SimpleNamespace

    city = world["city"]
    report = SimpleNamespace(organisation=city.community_a1)
    worker = make_user("community_worker", city.community_a1)
    other = make_user("community_worker", city.community_b1)
    own = services.user_create(actor=None, username="wxm", password=None, resident=world["inside"])
    assert allowed(worker, "core.resident.view", report)
    assert not allowed(other, "core.resident.view", report)
    assert not allowed(own, "core.resident.view", report)


def test_resident_owns_only_their_own_record_and_nothing_else(world: dict[str, Any]) -> None:
    """Ownership is decided per object by the owner rule of its model: without an object, or on
    an object of a model with no owner rule, a resident without a role may do nothing."""
    city = world["city"]
    own = services.user_create(actor=None, username="wxm", password=None, resident=world["inside"])
    assert not allowed(own, "core.resident.view")
    assert not allowed(own, "core.resident.view", city.community_a1)  # no owner rule: no
    assert not allowed(own, "core.resident.change", city.community_a1)
    with pytest.raises(PermissionDenied):
        require(own, "core.resident.view", world["outside"])
    require(own, "core.resident.view", world["inside"])


def test_no_user_at_all_may_only_do_public_actions(world: dict[str, Any]) -> None:
    """A check with no user (as a system task might ask) holds no role and owns nothing."""
    assert allowed(None, "core.organisation.view")
    assert not allowed(None, "core.resident.view")
    assert not allowed(None, "core.resident.view", world["inside"])
    assert granted_paths(None, "core.resident.view") == []


def test_roles_are_read_once_per_user_object_until_the_cache_is_cleared(
    world: dict[str, Any], make_user: Any, django_assert_num_queries: Any
) -> None:
    from civichub.core.models import User

    city = world["city"]
    worker = make_user("community_worker", city.community_a1)
    with django_assert_num_queries(1):
        assert allowed(worker, "core.resident.view", world["inside"])
        assert not allowed(worker, "core.resident.view", world["outside"])
    # A grant through another copy of the account is unseen by this one until it forgets.
    services.role_grant(
        actor=None,
        user=User.objects.get(pk=worker.pk),
        role="community_worker",
        organisation=city.community_b1,
    )
    assert not allowed(worker, "core.resident.view", world["outside"])
    clear_cache(worker)
    assert allowed(worker, "core.resident.view", world["outside"])


def test_require_lets_an_allowed_user_through_without_a_refusal(
    world: dict[str, Any], make_user: Any
) -> None:
    from civichub.core.audit import REFUSAL_ACTION
    from civichub.core.models import AuditEvent

    worker = make_user("community_worker", world["city"].community_a1)
    require(worker, "core.resident.view", world["inside"])  # raises if refused
    assert not AuditEvent.objects.filter(action=REFUSAL_ACTION).exists()


def test_scope_filter_through_a_relation_lists_the_whole_subtree(
    world: dict[str, Any], make_user: Any
) -> None:
    city = world["city"]
    neighbour = services.resident_create(actor=None, name="赵小刚", community=city.community_a2)
    worker = make_user("community_worker", city.subdistrict_a)
    visible = scope_filter(worker, "core.resident.view", Resident.objects.all(), "community__path")
    assert set(visible) == {world["inside"], neighbour}


def test_scope_filter_lists_nothing_for_a_role_that_is_not_the_actions(
    world: dict[str, Any], make_user: Any
) -> None:
    publisher = make_user("publisher", world["city"].city)
    residents = Resident.objects.all()
    assert not scope_filter(publisher, "core.resident.view", residents, "community__path")
    assert granted_paths(publisher, "core.resident.view") == []


def test_scope_filter_of_a_public_action_lists_everything(world: dict[str, Any]) -> None:
    from django.contrib.auth.models import AnonymousUser

    visible = scope_filter(
        AnonymousUser(), "core.organisation.view", Organisation.objects.all(), "path"
    )
    assert visible.count() == Organisation.objects.count()


def test_scope_filter_for_the_whole_tree_adds_no_condition(world: dict[str, Any]) -> None:
    """An operator of the whole tree lists every row without a path condition (which would
    cost a scan of every resident of a city for nothing)."""
    from civichub.core.models import User

    root = User.objects.create_superuser("root", "root@example.org", "x" * 12)
    everything = Organisation.objects.all()
    visible = scope_filter(root, "core.organisation.manage", everything, "path")
    assert str(visible.query) == str(everything.query)


def test_scope_filter_on_a_path_stored_on_the_row(world: dict[str, Any], make_user: Any) -> None:
    city = world["city"]
    operator = make_user("operator", city.subdistrict_a)
    visible = scope_filter(operator, "core.organisation.manage", Organisation.objects.all(), "path")
    assert set(visible) == {city.subdistrict_a, city.community_a1, city.community_a2}


def test_scope_filter_on_a_path_column_that_is_not_a_relation(
    world: dict[str, Any], make_user: Any
) -> None:
    """Audit rows keep the organisation's path in a column of their own (`organisation_path`)."""
    from civichub.core.audit import audit_record
    from civichub.core.models import AuditEvent

    city = world["city"]
    auditor = make_user("auditor", city.district_b)
    for organisation in (city.community_a1, city.community_b1, city.district_b):
        audit_record(actor=None, action="test.path", organisation=organisation)
    rows = AuditEvent.objects.filter(action="test.path")
    visible = scope_filter(auditor, "core.audit.view", rows, "organisation_path")
    assert sorted(e.organisation_path for e in visible) == sorted(
        [city.community_b1.path, city.district_b.path]
    )
    assert not scope_filter(make_user(None, None), "core.audit.view", rows, "organisation_path")


def test_scope_filter_adds_the_users_own_objects_for_owner_actions_only(
    world: dict[str, Any],
) -> None:
    from django.contrib.auth.models import AnonymousUser

    own = services.user_create(actor=None, username="wxm", password=None, resident=world["inside"])
    mine = Q(pk=world["inside"].pk)
    residents = Resident.objects.all()
    assert list(scope_filter(own, "core.resident.view", residents, "community__path", mine)) == [
        world["inside"]
    ]
    assert not scope_filter(own, "core.resident.view_identity", residents, "community__path", mine)
    assert not scope_filter(own, "core.resident.view", residents, "community__path")
    anonymous = AnonymousUser()
    assert not scope_filter(anonymous, "core.resident.view", residents, "community__path", mine)
