"""The core API: problem format for every error, both kinds of authentication, and responses
that match the committed OpenAPI document (checked by the api_as client)."""

from __future__ import annotations

from typing import Any

import pytest

from civichub.core import services
from civichub.core.models import AuditEvent

PROBLEM = "application/problem+json"


@pytest.fixture
def resident(city: Any) -> Any:
    return services.resident_create(
        actor=None,
        name="王小明",
        community=city.community_a1,
        identity_number="11010519491231002X",
        phone="13800000000",
    )


def test_committed_openapi_document_matches_the_code() -> None:
    from civichub.core.management.commands.openapi import DEFAULT_PATH, current_schema

    assert DEFAULT_PATH.read_text() == current_schema(), (
        "docs/openapi.json is out of date: run `civichub openapi` and review the diff"
    )


def test_committed_openapi_document_is_valid_openapi() -> None:
    import json

    from openapi_spec_validator import validate

    from civichub.core.management.commands.openapi import DEFAULT_PATH

    validate(json.loads(DEFAULT_PATH.read_text()))


def test_no_two_schemas_of_the_api_share_a_name() -> None:
    """Django Ninja names each OpenAPI component after its schema class: two modules' classes of
    one name become one component, and the document then describes one of them wrongly (it
    happened: casework's and the portal's `EventOut`, wellbeing's and the data hub's
    `BatchOut`)."""
    from ninja import Schema

    from civichub.core.management.commands.openapi import current_schema

    current_schema()  # imports every module's router and schemas
    modules: dict[str, set[str]] = {}
    pending = list(Schema.__subclasses__())
    while pending:
        schema = pending.pop()
        pending.extend(schema.__subclasses__())
        if schema.__module__.startswith("civichub.") and ".tests" not in schema.__module__:
            modules.setdefault(schema.__name__, set()).add(schema.__module__)
    shared = {name: sorted(found) for name, found in modules.items() if len(found) > 1}
    assert not shared, f"schema classes sharing a name (rename one): {shared}"


def test_anonymous_call_gets_401_problem(api_as: Any) -> None:
    response = api_as(None).get("/api/me")
    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == 401 and body["title"] == "Authentication required"
    assert "Bearer" in body["detail"]


def test_bearer_token_authenticates(api_as: Any, city: Any, make_user: Any) -> None:
    user = make_user("community_worker", city.community_a1, username="worker1")
    _, secret = services.api_token_create(actor=user, name="cli")
    response = api_as(token=secret).get("/api/me")
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "worker1"
    assert body["roles"] == [
        {
            "role": "community_worker",
            "organisation_id": city.community_a1.pk,
            "organisation_name": "桃源社区",
        }
    ]


def test_wrong_bearer_token_is_401(api_as: Any) -> None:
    assert api_as(token="chb_nonsense").get("/api/me").status_code == 401


def test_session_write_without_csrf_token_is_refused(city: Any, make_user: Any) -> None:
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("community_worker", city.community_a1))
    response = client.post("/api/tokens", data={"name": "x"}, content_type="application/json")
    assert response.status_code in (401, 403)
    assert response["Content-Type"] == PROBLEM


def test_session_write_with_csrf_token_works(api_as: Any, city: Any, make_user: Any) -> None:
    user = make_user("community_worker", city.community_a1)
    response = api_as(user).post("/api/tokens", {"name": "脚本"})
    assert response.status_code == 201
    assert response.json()["token"].startswith("chb_")


def test_resident_read_requires_a_purpose_and_audits_it(
    api_as: Any, city: Any, make_user: Any, resident: Any
) -> None:
    client = api_as(make_user("community_worker", city.community_a1))
    missing = client.get(f"/api/residents/{resident.pk}")
    assert missing.status_code == 422
    assert "purpose" in missing.json()["errors"]
    ok = client.get(f"/api/residents/{resident.pk}", purpose="入户走访")
    assert ok.status_code == 200
    assert ok.json()["identity_masked"] == "*" * 14 + "002X"
    assert "11010519491231002X" not in ok.content.decode()
    assert AuditEvent.objects.filter(action="resident.view", purpose="入户走访").count() == 1


def test_resident_out_of_scope_is_403_problem(
    api_as: Any, city: Any, make_user: Any, resident: Any
) -> None:
    client = api_as(make_user("community_worker", city.community_b1))
    response = client.get(f"/api/residents/{resident.pk}", purpose="x")
    assert response.status_code == 403
    assert response.json()["title"] == "Permission denied"


def test_unknown_resident_is_404_problem(api_as: Any, city: Any, make_user: Any) -> None:
    client = api_as(make_user("community_worker", city.community_a1))
    response = client.get("/api/residents/999999", purpose="x")
    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM


def test_problem_detail_and_field_messages_follow_the_readers_language(
    api_as: Any, city: Any, make_user: Any
) -> None:
    client = api_as(make_user("registrar", city.district_a))
    payload = {"name": " ", "community_id": city.community_a1.pk}
    chinese = client.post("/api/residents", payload).json()
    client.headers["Accept-Language"] = "en"
    english = client.post("/api/residents", payload).json()
    # The title is machine-facing and stays English; the detail and field messages are sentences
    # for people, in Chinese by default and in English for an English reader.
    assert chinese["title"] == english["title"] == "Validation failed"
    assert chinese["detail"] == "请填写姓名。" and chinese["errors"] == {"name": ["请填写姓名。"]}
    assert english["detail"] == "Enter the name." and english["errors"] == {
        "name": ["Enter the name."]
    }


def test_create_resident_with_field_errors_says_which_fields(
    api_as: Any, city: Any, make_user: Any
) -> None:
    client = api_as(make_user("registrar", city.district_a))
    client.headers["Accept-Language"] = "en"
    response = client.post(
        "/api/residents",
        {
            "name": "赵六",
            "community_id": city.community_a1.pk,
            "identity_number": "110105194912310021",
            "latitude": 39.9,
        },
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert set(errors) == {"identity_number", "location"}
    assert "check digit" in errors["identity_number"][0]


def test_wrong_json_types_are_422_with_the_field_named(
    api_as: Any, city: Any, make_user: Any
) -> None:
    client = api_as(make_user("registrar", city.district_a))
    response = client.post("/api/residents", {"name": "赵六", "community_id": "abc"})
    assert response.status_code == 422
    assert "community_id" in response.json()["errors"]


def test_create_and_patch_resident(api_as: Any, city: Any, make_user: Any) -> None:
    client = api_as(make_user("registrar", city.district_a))
    created = client.post(
        "/api/residents",
        {
            "name": "赵六",
            "community_id": city.community_a1.pk,
            "latitude": 39.91,
            "longitude": 116.40,
            "crs": "gcj02",
            "identity_number": "11010519491231002X",
        },
    )
    assert created.status_code == 201
    rid = created.json()["id"]
    patched = client.patch(f"/api/residents/{rid}", {"phone": "13912345678"})
    assert patched.status_code == 200 and patched.json()["phone"] == "13912345678"


def test_registrar_reveals_identity_number_with_a_purpose(
    api_as: Any, city: Any, make_user: Any, resident: Any
) -> None:
    client = api_as(make_user("registrar", city.city))
    response = client.post(f"/api/residents/{resident.pk}/identity", {"purpose": "户籍核验"})
    assert response.status_code == 200
    assert response.json() == {"identity_number": "11010519491231002X"}
    worker = api_as(make_user("community_worker", city.community_a1))
    refused = worker.post(f"/api/residents/{resident.pk}/identity", {"purpose": "看看"})
    assert refused.status_code == 403


def test_audit_api_is_for_auditors(api_as: Any, city: Any, make_user: Any, resident: Any) -> None:
    refused = api_as(make_user("community_worker", city.city)).get("/api/audit")
    assert refused.status_code == 403
    response = api_as(make_user("auditor", city.city)).get("/api/audit", action="resident.create")
    assert response.status_code == 200
    assert response.json()["total"] == 1
    assert response.json()["items"][0]["object_id"] == str(resident.pk)


def test_organisations_are_public(api_as: Any, city: Any) -> None:
    response = api_as(None).get("/api/organisations", kind="community")
    assert response.status_code == 200
    assert {o["code"] for o in response.json()} == {"T1.1.1.1", "T1.1.1.2", "T1.2.1.1"}


def test_unexpected_error_is_500_problem_without_a_traceback(
    api_as: Any,
    city: Any,
    make_user: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from civichub.core import selectors

    def explode(**kwargs: Any) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(selectors, "user_roles", explode)
    response = api_as(make_user("community_worker", city.city)).get("/api/me")
    assert response.status_code == 500
    text = response.content.decode()
    assert "Traceback" not in text and "secret internal detail" not in text
    assert response.json()["title"] == "Internal error"


def test_unknown_api_path_is_a_404_problem(city: Any) -> None:
    from django.test import Client

    response = Client().get("/api/no/such/thing", headers={"Accept-Language": "en"})
    assert response.status_code == 404
    body = response.json()
    assert body["title"] == "Not found"
    assert body["detail"] == "The page you asked for does not exist."


def test_permission_probe(api_as: Any, city: Any, make_user: Any) -> None:
    client = api_as(make_user("community_worker", city.community_a1))
    inside = client.get("/api/permissions/core.resident.view", organisation_id=city.community_a1.pk)
    outside = client.get(
        "/api/permissions/core.resident.view", organisation_id=city.community_b1.pk
    )
    assert inside.json()["allowed"] is True and outside.json()["allowed"] is False
    assert client.get("/api/permissions/core.nope").status_code == 404


def test_no_two_api_schemas_share_a_name() -> None:
    """Ninja keeps only one of two schema classes with the same name, silently; the document
    would then describe one router's responses with another's schema."""
    from collections import defaultdict

    from ninja import Schema

    from civichub.api import api

    seen: dict[str, set[str]] = defaultdict(set)
    for _prefix, router in api._routers:
        for path_view in router.path_operations.values():
            for operation in path_view.operations:
                models = list(operation.models) + [
                    m for m in operation.response_models.values() if m is not None
                ]
                for model in models:
                    for cls in getattr(model, "__mro__", ()):
                        if isinstance(cls, type) and issubclass(cls, Schema) and cls is not Schema:
                            seen[cls.__name__].add(f"{cls.__module__}.{cls.__qualname__}")
    clashes = {name: sorted(where) for name, where in seen.items() if len(where) > 1}
    assert clashes == {}


def test_the_api_rate_limit_counts_each_clients_requests_in_windows_of_its_period() -> None:
    from django.core.cache import cache
    from django.test import RequestFactory

    from civichub.api import WindowRateThrottle

    cache.clear()
    throttle = WindowRateThrottle("3/m")
    throttle.clock = lambda: 130.0  # type: ignore[method-assign]  # the window 120-180 s
    client = RequestFactory().get("/api/casework/board", REMOTE_ADDR="192.0.2.9")
    other = RequestFactory().get("/api/casework/board", REMOTE_ADDR="192.0.2.10")
    assert [throttle.allow_request(client) for _ in range(4)] == [True, True, True, False]
    assert throttle.wait() == 50.0  # until the window ends
    assert throttle.allow_request(other)
    throttle.clock = lambda: 180.0  # type: ignore[method-assign]
    assert throttle.allow_request(client)
