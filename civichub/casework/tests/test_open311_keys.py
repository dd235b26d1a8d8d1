"""Open311 API keys: `civichub open311 create-key|revoke-key|list-keys`, hash-only storage,
audit, and the key's effect on POST."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from civichub.casework.models import Case, Open311ApiKey
from civichub.casework.open311.keys import open311_key_authenticate, open311_key_create
from civichub.core.errors import PermissionDenied
from civichub.core.models import AuditEvent
from civichub.testing.city import staff_user
from civichub.testing.open311 import Open311World, build_open311_world


@pytest.fixture
def world(db: Any) -> Open311World:
    return build_open311_world()


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("open311", *args, stdout=out)
    return out.getvalue().strip()


def post_with(key: str) -> Any:
    return Client().post(
        "/open311/v2/requests.json",
        {
            "api_key": key,
            "service_code": "streetlight",
            "address_string": "桃源路 8 号",
            "description": "路灯闪烁",
        },
    )


def test_create_key_prints_a_key_that_posts_and_only_its_hash_is_stored(
    world: Open311World,
) -> None:
    key = run("create-key", "--name", "city-app")
    assert key.startswith("o311_")
    assert len(key) > 40
    stored = Open311ApiKey.objects.get(name="city-app", revoked_at__isnull=True)
    assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in json.dumps(list(Open311ApiKey.objects.values()), default=str)
    response = post_with(key)
    assert response.status_code == 200
    number = json.loads(response.content)[0]["service_request_id"]
    assert Case.objects.get(tracking_number=number).extra["open311"]["key"] == "city-app"
    audit = AuditEvent.objects.get(action="casework.open311_key.create", object_id=str(stored.pk))
    assert audit.actor_label == "system:cli"
    assert key not in json.dumps(audit.changes)


def test_revoked_key_is_refused_and_revocation_is_audited(world: Open311World) -> None:
    key = run("create-key", "--name", "old-app")
    assert post_with(key).status_code == 200
    assert run("revoke-key", "--name", "old-app").startswith("revoked old-app")
    assert post_with(key).status_code == 403
    stored = Open311ApiKey.objects.get(name="old-app")
    assert stored.revoked_at is not None
    assert AuditEvent.objects.filter(
        action="casework.open311_key.revoke", object_id=str(stored.pk), actor_label="system:cli"
    ).exists()


def test_a_name_is_unique_among_active_keys_and_can_be_reissued_after_revoking(
    world: Open311World,
) -> None:
    first = run("create-key", "--name", "partner")
    with pytest.raises(CommandError, match="revoke it first"):
        run("create-key", "--name", "partner")
    run("revoke-key", "--name", "partner")
    second = run("create-key", "--name", "partner")
    assert second != first
    assert post_with(first).status_code == 403
    assert post_with(second).status_code == 200
    assert Open311ApiKey.objects.filter(name="partner").count() == 2


def test_revoking_an_unknown_name_and_a_blank_name_are_command_errors(
    world: Open311World,
) -> None:
    with pytest.raises(CommandError, match="No active key named ghost"):
        run("revoke-key", "--name", "ghost")
    with pytest.raises(CommandError, match="Name the client"):
        run("create-key", "--name", "  ")


def test_list_keys_shows_names_and_prefixes_never_keys(world: Open311World) -> None:
    key = run("create-key", "--name", "listed")
    listing = run("list-keys")
    assert "listed\to311_" in listing
    assert "fixmystreet" in listing
    assert key not in listing
    assert key[:12] in listing


def test_only_operators_issue_keys_through_the_service(world: Open311World) -> None:
    handler = staff_user("department_handler", world.city.health_a)
    with pytest.raises(PermissionDenied):
        open311_key_create(actor=handler, name="sneaky")
    operator = staff_user("operator", world.city.city)
    _key, secret = open311_key_create(actor=operator, name="by-operator")
    assert open311_key_authenticate(secret) is not None


def test_use_of_a_key_is_recorded(world: Open311World) -> None:
    key = Open311ApiKey.objects.get(name=world.key_name)
    assert key.last_used_at is None
    assert post_with(world.key).status_code == 200
    key.refresh_from_db()
    assert key.last_used_at is not None
