"""No input a client can send makes the API answer 500, and every error under /api/ is a JSON
problem: numbers beyond the database's integers, dates at the calendar's ends, times with an
offset, nulls for required columns, bodies too large or unreadable, a method a path lacks."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from pydantic import BaseModel, ValidationError

from civichub.broadcast.mastodon import services as mastodon_services
from civichub.core import services
from civichub.core.bounds import INT64_MAX, bound_model

PROBLEM = "application/problem+json"
BEYOND_INT64 = str(INT64_MAX + 1)


@pytest.fixture
def registrar(city: Any, make_user: Any) -> Any:
    return make_user("registrar", city.district_a)


@pytest.fixture
def resident(city: Any) -> Any:
    return services.resident_create(
        actor=None, name="王小明", community=city.community_a1, address="桃源路 1 号"
    )


def errors_of(response: Any) -> dict[str, list[str]]:
    assert response["Content-Type"] == PROBLEM, response.content[:300]
    return dict(response.json().get("errors", {}))


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/residents", {"purpose": "名册"}),
        ("/api/notifications/", {}),
        ("/api/casework/board", {}),
        ("/api/casework/cases/mine", {}),
    ],
)
def test_an_offset_beyond_64_bits_is_a_422_naming_it(
    api_as: Any, registrar: Any, path: str, params: dict[str, str]
) -> None:
    response = api_as(registrar).get(path, offset=BEYOND_INT64, **params)
    assert response.status_code == 422
    assert "offset" in errors_of(response)


def test_an_id_beyond_64_bits_in_the_path_is_a_422(api_as: Any, registrar: Any) -> None:
    response = api_as(registrar).get(f"/api/residents/{BEYOND_INT64}", purpose="走访")
    assert response.status_code == 422
    assert "resident_id" in errors_of(response)


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00", "0001-01-01T00:00:00Z", "9999-12-31"])
def test_an_audit_window_at_the_calendars_ends_is_a_422(
    api_as: Any, city: Any, make_user: Any, since: str
) -> None:
    auditor = make_user("auditor", city.city)
    response = api_as(auditor).get("/api/audit", since=since)
    assert response.status_code == 422
    assert "since" in errors_of(response)
    assert api_as(auditor).get("/api/audit", offset=BEYOND_INT64).status_code == 422


def test_a_null_clears_an_optional_text_field_of_a_resident(
    api_as: Any, registrar: Any, resident: Any
) -> None:
    response = api_as(registrar).patch(f"/api/residents/{resident.pk}", {"address": None})
    assert response.status_code == 200
    assert response.json()["address"] == ""
    resident.refresh_from_db()
    assert resident.address == ""


def test_a_null_for_a_field_that_must_hold_a_value_is_a_422(
    api_as: Any, registrar: Any, resident: Any
) -> None:
    response = api_as(registrar).patch(f"/api/residents/{resident.pk}", {"name": None})
    assert response.status_code == 422
    assert "name" in errors_of(response)
    resident.refresh_from_db()
    assert resident.name == "王小明"


def bearer(user: Any) -> dict[str, str]:
    _, token = services.api_token_create(actor=user, name="x")
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("text", ["走访\u0000", "走访\ud800"])
def test_text_a_database_cannot_store_is_a_422_naming_the_field(
    api_as: Any, registrar: Any, resident: Any, text: str
) -> None:
    # PostgreSQL refuses NUL in text and no database encodes an unpaired surrogate; JSON
    # carries both as escapes.
    response = api_as(registrar).post(f"/api/residents/{resident.pk}/identity", {"purpose": text})
    assert response.status_code == 422
    assert "purpose" in errors_of(response)


def test_a_json_body_over_the_limit_is_a_413_naming_the_limit(registrar: Any) -> None:
    # A plain client: the contract client's validator would itself read the body too large.
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = json.dumps({"name": "x" * (limit + 1)})
    response = Client().post(
        "/api/tokens", body, content_type="application/json", headers=bearer(registrar)
    )
    assert response.status_code == 413
    body = response.json()
    assert response["Content-Type"] == PROBLEM
    assert body["max_bytes"] == limit and str(limit) in body["detail"]


def test_a_json_body_over_the_limit_in_the_mastodon_api_is_a_413_in_its_format(
    registrar: Any,
) -> None:
    app, _secret = mastodon_services.client_app_register(name="app", scopes_text="read write")
    _token, secret = mastodon_services.token_for_password(
        app=app, user=registrar, scope_text="read write"
    )
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = json.dumps({"status": "x" * (limit + 1)})
    response = Client().post(
        "/api/v1/statuses",
        body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 413
    assert str(limit) in response.json()["error"]


def test_a_multipart_upload_without_a_boundary_is_a_400_problem(city: Any, make_user: Any) -> None:
    response = Client().post(
        "/api/casework/cases/X123/photos",
        b"--x\r\n",
        content_type="multipart/form-data",
        headers=bearer(make_user("community_worker", city.community_a1)),
    )
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("put", "/api/tokens", {"POST"}), ("options", "/api/me", {"GET"})],
)
def test_a_method_a_path_lacks_is_a_405_problem_with_allow(
    city: Any, make_user: Any, method: str, path: str, allowed: set[str]
) -> None:
    call = getattr(Client(), method)
    response = call(path, headers=bearer(make_user("community_worker", city.community_a1)))
    assert response.status_code == 405
    assert response["Content-Type"] == PROBLEM
    assert {m.strip() for m in response["Allow"].split(",")} == allowed
    assert response.json()["title"] == "Method not allowed"


@pytest.mark.django_db
def test_an_unknown_path_under_the_api_is_a_404_problem() -> None:
    response = Client().get("/api/no-such-thing")
    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM


# The bounds themselves ------------------------------------------------------------------------


class _Child(BaseModel):
    count: int = 0


class _Input(BaseModel):
    offset: int = 0
    name: str = ""
    tags: dict[str, str] = {}
    ids: list[int] = []
    parent_id: int | None = None
    at: dt.datetime | None = None
    day: dt.date | None = None
    starts: dt.time | None = None
    child: _Child | None = None


bound_model(_Input)


@pytest.mark.parametrize(
    "value",
    [
        {"offset": INT64_MAX + 1},
        {"ids": [1, INT64_MAX + 1]},
        {"parent_id": -(INT64_MAX + 2)},
        {"child": {"count": INT64_MAX + 1}},
        {"at": "0001-01-01T00:00:00"},
        {"at": "9999-12-31T23:59:59+08:00"},
        {"day": "0001-01-01"},
        {"starts": "22:00+08:00"},
        {"name": "a\u0000b"},
        {"tags": {"\ud800": "x"}},
    ],
)
def test_bounded_models_refuse_values_the_database_or_calendar_cannot_take(
    value: dict[str, Any],
) -> None:
    with pytest.raises(ValidationError):
        _Input.model_validate(value)


def test_bounded_models_take_ordinary_values() -> None:
    value = _Input.model_validate(
        {
            "offset": INT64_MAX,
            "ids": [1],
            "at": "2026-05-01T08:00:00+08:00",
            "day": "2026-05-01",
            "starts": "22:00",
            "name": "王小明 🙂",
            "child": {"count": 3},
        }
    )
    assert value.offset == INT64_MAX and value.child is not None and value.child.count == 3
