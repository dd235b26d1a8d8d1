from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.utils import translation

from civichub.core import crypto, selectors, services
from civichub.core.errors import Conflict, PermissionDenied, ValidationFailed
from civichub.core.models import AuditEvent, Resident

VALID_ID = "11010519491231002X"  # the worked example of GB 11643-1999


def test_organisation_tree_paths_nest(city: Any) -> None:
    assert city.community_a1.path.startswith(city.subdistrict_a.path)
    assert city.subdistrict_a.path.startswith(city.district_a.path)
    assert city.community_a1.depth == 3
    assert city.community_a1.is_within(city.city)
    assert not city.community_b1.is_within(city.district_a)


@pytest.mark.parametrize(
    ("kind", "parent_code", "field"),
    [
        ("community", "T1", "kind"),  # a community cannot sit under the city
        ("district", None, "parent"),  # only a city may be the root
        ("department", "T1.1", "function"),  # a department needs a function
    ],
)
def test_organisation_create_refuses_a_misplaced_node(
    city: Any, kind: str, parent_code: str | None, field: str
) -> None:
    parent = city.all[parent_code] if parent_code else None
    with pytest.raises(ValidationFailed) as info:
        services.organisation_create(actor=None, kind=kind, name="X", code="NEW", parent=parent)
    assert set(info.value.errors) == {field}


def test_organisation_code_is_unique(city: Any) -> None:
    with pytest.raises(Conflict):
        services.organisation_create(
            actor=None, kind="district", name="重复", code="T1.1", parent=city.city
        )


def test_organisation_create_needs_the_operator_role(city: Any, make_user: Any) -> None:
    worker = make_user("community_worker", city.city)
    with pytest.raises(PermissionDenied):
        services.organisation_create(
            actor=worker,
            kind="community",
            name="新社区",
            code="T1.1.1.9",
            parent=city.subdistrict_a,
        )
    operator = make_user("operator", city.city)
    created = services.organisation_create(
        actor=operator, kind="community", name="新社区", code="T1.1.1.9", parent=city.subdistrict_a
    )
    event = AuditEvent.objects.get(action="organisation.create", object_id=str(created.pk))
    assert event.actor == operator
    assert event.organisation_path == created.path


def test_identity_number_is_encrypted_at_rest_and_found_by_keyed_hash(
    city: Any, make_user: Any
) -> None:
    resident = services.resident_create(
        actor=None, name="张三", community=city.community_a1, identity_number=VALID_ID.lower()
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM core_resident WHERE id = %s", [resident.pk])
        raw_row = repr(cursor.fetchone())
    assert VALID_ID not in raw_row and VALID_ID[:14] not in raw_row
    assert resident.identity_masked == "*" * 14 + "002X"
    assert resident.birth_year == 1949
    assert resident.identity_encrypted is not None
    assert crypto.decrypt_identity(resident.identity_encrypted) == VALID_ID
    registrar = make_user("registrar", city.district_a)
    found = selectors.resident_find_by_identity(
        actor=registrar, identity_number=VALID_ID, purpose="户籍核验"
    )
    assert found == resident


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("11010519491231002", "17 digits"),
        ("110105194912310021", "check digit"),
        ("110105194902300021", "date of birth"),
    ],
)
def test_resident_create_rejects_a_bad_identity_number(
    city: Any, number: str, problem: str
) -> None:
    # Three reasons share the field: the (English) message says which one.
    with pytest.raises(ValidationFailed) as info, translation.override("en"):
        services.resident_create(
            actor=None, name="张三", community=city.community_a1, identity_number=number
        )
    assert problem in info.value.errors["identity_number"][0]
    assert not Resident.objects.exists()


def test_the_same_identity_number_cannot_be_registered_twice(city: Any) -> None:
    services.resident_create(
        actor=None, name="张三", community=city.community_a1, identity_number=VALID_ID
    )
    with pytest.raises(Conflict):
        services.resident_create(
            actor=None, name="张三", community=city.community_b1, identity_number=VALID_ID
        )


def test_resident_must_live_in_a_community(city: Any) -> None:
    with pytest.raises(ValidationFailed) as info:
        services.resident_create(actor=None, name="张三", community=city.subdistrict_a)
    assert "community" in info.value.errors


def test_gcj02_location_is_kept_with_its_system_and_converted(city: Any) -> None:
    import eviltransform

    resident = services.resident_create(
        actor=None,
        name="张三",
        community=city.community_a1,
        latitude=39.91010,
        longitude=116.40374,
        crs="gcj02",
    )
    expected = eviltransform.gcj2wgs_exact(39.91010, 116.40374)
    assert resident.crs == "gcj02" and resident.latitude == 39.91010
    assert resident.wgs84_latitude == pytest.approx(expected[0], abs=1e-6)
    assert resident.wgs84_longitude == pytest.approx(expected[1], abs=1e-6)


def test_half_a_coordinate_is_refused(city: Any) -> None:
    with pytest.raises(ValidationFailed) as info:
        services.resident_create(
            actor=None, name="张三", community=city.community_a1, latitude=39.9
        )
    assert "location" in info.value.errors


def test_resident_update_audits_what_changed(city: Any, make_user: Any) -> None:
    worker = make_user("community_worker", city.community_a1)
    resident = services.resident_create(
        actor=worker, name="张三", community=city.community_a1, phone="13800000000"
    )
    services.resident_update(
        actor=worker, resident=resident, changes={"phone": "13900000000", "name": "张三"}
    )
    event = AuditEvent.objects.get(action="resident.update")
    assert event.changes == {"phone": ["13800000000", "13900000000"]}
    assert event.actor == worker


def test_resident_update_refuses_fields_that_are_not_editable(city: Any) -> None:
    resident = services.resident_create(actor=None, name="张三", community=city.community_a1)
    with pytest.raises(ValidationFailed) as info:
        services.resident_update(actor=None, resident=resident, changes={"identity_hash": "x"})
    assert "identity_hash" in info.value.errors


def test_moving_a_resident_needs_scope_over_the_new_community(city: Any, make_user: Any) -> None:
    worker = make_user("community_worker", city.community_a1)
    resident = services.resident_create(actor=worker, name="张三", community=city.community_a1)
    with pytest.raises(PermissionDenied):
        services.resident_update(
            actor=worker, resident=resident, changes={}, community=city.community_b1
        )
    resident.refresh_from_db()
    assert resident.community == city.community_a1


def test_api_token_is_stored_only_as_a_hash_and_can_be_revoked(city: Any, make_user: Any) -> None:
    user = make_user("operator", city.city)
    token, secret = services.api_token_create(actor=user, name="集成")
    assert secret not in token.token_hash and secret.startswith("chb_")
    assert services.api_token_authenticate(secret) == user
    services.api_token_revoke(actor=user, token=token)
    assert services.api_token_authenticate(secret) is None


def test_password_change_checks_the_old_password_and_is_audited(city: Any, make_user: Any) -> None:
    user = make_user(None, None, password="old password 123")
    with pytest.raises(ValidationFailed):
        services.user_set_password(
            actor=user, user=user, old_password="wrong", new_password="brand new pass 456"
        )
    with pytest.raises(ValidationFailed):
        services.user_set_password(
            actor=user, user=user, old_password="old password 123", new_password="123"
        )
    services.user_set_password(
        actor=user, user=user, old_password="old password 123", new_password="brand new pass 456"
    )
    user.refresh_from_db()
    assert user.check_password("brand new pass 456")
    assert AuditEvent.objects.filter(action="user.password_change", actor=user).count() == 1


def test_role_grant_twice_is_a_conflict(city: Any, make_user: Any) -> None:
    user = make_user("auditor", city.city)
    with pytest.raises(Conflict):
        services.role_grant(actor=None, user=user, role="auditor", organisation=city.city)
    with pytest.raises(ValidationFailed):
        services.role_grant(actor=None, user=user, role="emperor", organisation=city.city)


def test_password_change_tells_the_account_holder(city: Any, make_user: Any) -> None:
    from civichub.notify.models import Notification

    user = make_user(None, None, password="old password 123")
    services.user_set_password(
        actor=user, user=user, old_password="old password 123", new_password="brand new pass 456"
    )
    notice = Notification.objects.get(recipient=user)
    assert notice.dispatch.kind == "core.password_changed"
