"""Bad input of every kind gets the Open311 error document (400, 403 or 404, never HTML, never
a 500) and leaves everything already stored exactly as it was."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from django.test import Client

from civichub.casework.models import Case, CaseEvent, CasePhoto, Open311ApiKey, TrackingCounter
from civichub.core.models import AuditEvent
from civichub.testing.open311 import Open311World, build_open311_world

BASE = "/open311/v2"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def world(db: Any) -> Open311World:
    return build_open311_world()


@pytest.fixture
def client() -> Client:
    return Client()


def _snapshot() -> dict[str, Any]:
    return {
        "cases": list(Case.objects.order_by("pk").values()),
        "events": list(CaseEvent.objects.order_by("pk").values()),
        "photos": CasePhoto.objects.count(),
        "audit": AuditEvent.objects.count(),
        "counters": list(TrackingCounter.objects.values_list("year", "last")),
        "keys": list(Open311ApiKey.objects.values("pk", "revoked_at")),
    }


@pytest.fixture
def untouched(world: Open311World) -> Any:
    """Fails the test if anything stored changed while it ran."""
    before = _snapshot()
    yield
    assert _snapshot() == before


def errors_of(response: Any) -> list[dict[str, Any]]:
    """The error items, from either format; fails on anything but an error document."""
    content_type = response["Content-Type"]
    assert b"<html" not in response.content.lower()
    if content_type.startswith("application/json"):
        items = json.loads(response.content)
        assert isinstance(items, list)
        assert items
        assert all(set(i) == {"code", "description"} for i in items)
        return list(items)
    assert content_type.startswith("text/xml")
    root = ET.fromstring(response.content)  # noqa: S314 (this server's own output)
    assert root.tag == "errors"
    return [
        {"code": int(e.findtext("code") or 0), "description": e.findtext("description")}
        for e in root.findall("error")
    ]


def form(world: Open311World, **changes: str | None) -> dict[str, str]:
    data = {
        "api_key": world.key,
        "service_code": "pothole",
        "lat": "30.0001",
        "long": "120.0001",
        "description": "路面塌陷",
        "attribute[size]": "small",
    }
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def refused(response: Any, status: int, fragment: str) -> None:
    assert response.status_code == status, response.content
    items = errors_of(response)
    assert all(i["code"] == status for i in items)
    assert any(fragment in str(i["description"]) for i in items), items


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_unknown_service_code_is_404(world: Open311World, client: Client, fmt: str) -> None:
    response = client.post(f"{BASE}/requests.{fmt}", form(world, service_code="spaceship"))
    refused(response, 404, "service_code: unknown service spaceship")


@pytest.mark.usefixtures("untouched")
def test_missing_location_is_400(world: Open311World, client: Client) -> None:
    response = client.post(f"{BASE}/requests.json", form(world, lat=None, long=None))
    refused(response, 400, "location: give lat and long, address_string or address_id")


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lat": "north"}, "lat: not a number"),
        ({"lat": "91"}, "lat: out of range"),
        ({"long": "-181"}, "long: out of range"),
        ({"long": "nan"}, "long: out of range"),
        ({"lat": "inf"}, "lat: out of range"),
        ({"long": None}, "lat/long: give both lat and long"),
        ({"email": "not-an-address"}, "email: not a valid email address"),
        ({"media_url": "javascript:alert(1)"}, "media_url: an http(s) URL"),
        ({"media_url": "https://e.org/" + "x" * 600}, "media_url: an http(s) URL"),
        ({"device_id": "d" * 101}, "device_id: at most 100 characters"),
    ],
)
def test_malformed_arguments_are_400(
    world: Open311World, client: Client, changes: dict[str, str | None], message: str
) -> None:
    refused(client.post(f"{BASE}/requests.json", form(world, **changes)), 400, message)


@pytest.mark.usefixtures("untouched")
def test_missing_required_attribute_is_400_naming_it(world: Open311World, client: Client) -> None:
    response = client.post(f"{BASE}/requests.xml", form(world, **{"attribute[size]": None}))
    refused(response, 400, "attribute[size]: This is required.")


@pytest.mark.usefixtures("untouched")
def test_several_problems_are_several_errors(world: Open311World, client: Client) -> None:
    response = client.post(
        f"{BASE}/requests.json",
        form(world, **{"attribute[size]": "huge", "attribute[depth_cm]": "deep"}),
    )
    assert response.status_code == 400
    assert [e["description"] for e in errors_of(response)] == [
        "attribute[depth_cm]: Enter a number.",
        "attribute[size]: Choose one of the listed values.",
    ]


@pytest.mark.usefixtures("untouched")
def test_description_over_4000_characters_is_400(world: Open311World, client: Client) -> None:
    response = client.post(f"{BASE}/requests.json", form(world, description="长" * 4001))
    refused(response, 400, "description: At most 4000 characters.")


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start_date": "yesterday"}, "start_date: not a W3C date and time"),
        ({"start_date": "2026-13-01T00:00:00Z"}, "start_date: not a valid date and time"),
        ({"end_date": "2026-02-30T00:00:00Z"}, "end_date: not a valid date and time"),
        ({"start_date": "2026-01-01T25:00:00Z"}, "start_date: not a valid date and time"),
        ({"start_date": "2026-01-01T00:00:00+25:00"}, "start_date: not a valid date and time"),
        ({"start_date": "2026-01-01T00:00:00"}, "start_date: add the timezone"),
        ({"start_date": "%ZZ"}, "start_date: not a W3C date and time"),
        # Dates Python holds but a window of max_days around them would not: 400, not 500.
        ({"end_date": "0001-01-01T00:00:00Z"}, "end_date: a date from the year 1000 to 8999"),
        ({"start_date": "9999-12-31T00:00:00Z"}, "start_date: a date from the year 1000"),
        ({"start_date": "9999-12-31"}, "start_date: a date from the year 1000"),
        (
            {"start_date": "2026-03-01T00:00:00Z", "end_date": "2026-02-01T00:00:00Z"},
            "end_date: before start_date",
        ),
        (
            {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"},
            "spans more than 90 days",
        ),
        ({"status": "pending"}, "status: pending is not open or closed"),
        ({"page_size": "0"}, "page_size: a whole number from 1 to 1000"),
        ({"page_size": "5000"}, "page_size: a whole number from 1 to 1000"),
        ({"page": "-1"}, "page: a whole number"),
    ],
)
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_bad_request_filters_are_400(
    world: Open311World, client: Client, params: dict[str, str], message: str, fmt: str
) -> None:
    refused(client.get(f"{BASE}/requests.{fmt}", params), 400, message)


@pytest.mark.usefixtures("untouched")
def test_too_many_request_ids_are_400(world: Open311World, client: Client) -> None:
    ids = ",".join(f"2026-{n:06d}" for n in range(1001))
    refused(client.get(f"{BASE}/requests.json", {"service_request_id": ids}), 400, "at most 1000")


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize(
    "path", ["requests.html", "requests.rss", "requests.", "requests.JSON", "discovery.yaml"]
)
def test_unknown_format_suffix_is_404(world: Open311World, client: Client, path: str) -> None:
    refused(client.get(f"{BASE}/{path}"), 404, "Unknown format")
    refused(client.post(f"{BASE}/{path}", form(world)), 404, "Unknown format")


BadBody = Callable[[Open311World], tuple[str, bytes | str, str]]


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (
            lambda w: (f"?api_key={w.key}", '{"service_code": "pothole"}', "application/json"),
            "Send the request as application/x-www-form-urlencoded",
        ),
        (lambda w: ("", "<request/>", "text/xml"), "Send the request as"),
        (
            lambda w: (f"?api_key={w.key}", "service_code=pothole&x=1", "multipart/form-data"),
            "could not be read",
        ),
        (
            lambda w: (
                "",
                f"api_key={w.key}&service_code=pothole&description=%FF%FE&lat=30&long=120",
                FORM,
            ),
            "description: not valid UTF-8",
        ),
        (
            lambda w: (
                "",
                f"api_key={w.key}&service_code=pothole&description=a%00b&lat=30&long=120",
                FORM,
            ),
            "description: contains control characters",
        ),
        (
            lambda w: ("", f"api_key={w.key}&" + "&".join(f"f{i}=1" for i in range(1200)), FORM),
            "could not be read",
        ),
        (
            lambda w: ("", f"api_key={w.key}&description=" + "x" * 3_000_000, FORM),
            "could not be read",
        ),
    ],
    ids=[
        "json-body",
        "xml-body",
        "multipart-without-boundary",
        "invalid-utf8",
        "nul-byte",
        "too-many-fields",
        "too-large",
    ],
)
def test_malformed_form_bodies_are_400(
    world: Open311World, client: Client, build: BadBody, fragment: str
) -> None:
    query, body, content_type = build(world)
    response = client.post(f"{BASE}/requests.json{query}", body, content_type=content_type)
    refused(response, 400, fragment)


@pytest.mark.usefixtures("untouched")
def test_a_request_for_another_jurisdiction_is_404_even_with_a_key(
    world: Open311World, client: Client
) -> None:
    response = client.post(
        f"{BASE}/requests.json", form(world, jurisdiction_id="elsewhere.example.org")
    )
    refused(response, 404, "jurisdiction_id: unknown jurisdiction")


@pytest.mark.usefixtures("untouched")
def test_a_fault_inside_intake_is_a_500_document_and_rolls_back(
    world: Open311World, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from civichub.casework.services import intake

    def broken_event(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk full")

    # The case row is written, then the history event fails: the whole intake must roll back.
    monkeypatch.setattr(intake, "add_event", broken_event)
    response = client.post(f"{BASE}/requests.json", form(world))
    assert response.status_code == 500
    assert errors_of(response)[0]["code"] == 500
