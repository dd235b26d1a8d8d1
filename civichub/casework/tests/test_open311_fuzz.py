"""Open311 has no OpenAPI document to fuzz from, so these strategies are written by hand from
the GeoReport v2 resources: every resource in both formats, with and without an API key, with
query and form fields drawn from real values, edge values (dates at the calendar's ends,
numbers beyond 64 bits, NaN, control characters) and arbitrary text. Whatever is sent, the
answer is never a 5xx, and an error is Open311's own error document in the format asked for."""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civichub.testing.open311 import Open311World, build_open311_world

BASE = "/open311/v2"
EXAMPLES = 150

TEXT = st.text(max_size=30)
EDGE_DATES = st.sampled_from(
    [
        "0001-01-01T00:00:00Z",
        "0001-01-01",
        "9999-12-31T23:59:59+14:00",
        "9999-12-31",
        "2026-02-29T00:00:00Z",
        "2026-06-01T00:00:00-12:00",
        "2026-06-01T24:00:00Z",
    ]
)
# Edge values half the time: uniform draws would almost never land at the calendar's ends.
DATES = st.one_of(
    EDGE_DATES,
    st.one_of(st.datetimes().map(lambda d: d.isoformat() + "Z"), st.dates().map(str), TEXT),
)
NUMBERS = st.one_of(
    st.integers().map(str),
    st.floats().map(str),
    st.sampled_from(["", "-0", "1e999", "NaN", "-inf", str(2**63), str(-(2**64)), "0x10"]),
    TEXT,
)
QUERY_FIELDS = {
    "start_date": DATES,
    "end_date": DATES,
    "status": st.one_of(st.sampled_from(["open", "closed", "open,closed"]), TEXT),
    "service_code": st.one_of(st.sampled_from(["pothole", "streetlight", "bulky"]), TEXT),
    "service_request_id": st.one_of(st.sampled_from(["2026-000001", "1,2,3"]), NUMBERS, TEXT),
    "page": NUMBERS,
    "page_size": NUMBERS,
    "lat": NUMBERS,
    "long": NUMBERS,
    "radius": NUMBERS,
    "extensions": st.one_of(st.sampled_from(["true", "false"]), TEXT),
    "jurisdiction_id": TEXT,
}
FORM_FIELDS = {
    "service_code": QUERY_FIELDS["service_code"],
    "lat": NUMBERS,
    "long": NUMBERS,
    "address_string": TEXT,
    "address_id": NUMBERS,
    "description": st.text(max_size=200),
    "email": st.one_of(st.emails(), TEXT),
    "phone": st.one_of(st.from_regex(r"\A1[3-9]\d{9}\Z"), NUMBERS),
    "first_name": TEXT,
    "last_name": TEXT,
    "device_id": TEXT,
    "account_id": NUMBERS,
    "media_url": st.one_of(st.just("https://example.org/a.jpg"), TEXT),
    "attribute[hazard]": st.one_of(st.sampled_from(["none", "severe"]), TEXT),
    "attribute[depth_cm]": NUMBERS,
}


@st.composite
def fields(draw: Any, choices: dict[str, Any]) -> dict[str, str]:
    """A few of the fields (most requests name few, and one bad field ends the reading), each
    with a value from its strategy."""
    names = draw(st.lists(st.sampled_from(sorted(choices)), max_size=3, unique=True))
    return {name: draw(choices[name]) for name in names}


# The request list half the time: it reads the most parameters.
RESOURCES = st.one_of(
    st.just("requests"),
    st.one_of(
        st.sampled_from(["discovery", "services", "servicerequestupdates"]),
        st.sampled_from(["services/pothole", "services/nothing", "tokens/abc"]),
        st.one_of(st.sampled_from(["2026-000001", "0", str(2**64)]), TEXT.filter(str.isalnum)).map(
            lambda r: f"requests/{r}"
        ),
    ),
)


@st.composite
def open311_requests(draw: Any, key: str) -> tuple[str, str, str, dict[str, str]]:
    fmt = draw(st.sampled_from(["json", "xml"]))
    resource = draw(RESOURCES)
    method = "POST" if resource == "requests" and draw(st.booleans()) else "GET"
    values = draw(fields(FORM_FIELDS if method == "POST" else QUERY_FIELDS))
    if draw(st.booleans()):
        values["api_key"] = draw(st.one_of(st.just(key), TEXT))
    return method, f"{BASE}/{resource}.{fmt}", fmt, values


def check_answer(response: Any, fmt: str) -> None:
    assert response.status_code < 500, response.content[:500]
    if fmt == "json":
        document = json.loads(response.content)
        if response.status_code >= 400:
            assert isinstance(document, list) and document
            assert all({"code", "description"} <= set(item) for item in document)
    else:
        root = ET.fromstring(response.content)  # noqa: S314 - the test's own server
        if response.status_code >= 400:
            assert root.tag == "errors" and root.findall("error/description")


@pytest.fixture
def world(db: Any) -> Open311World:
    return build_open311_world()


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    # One world for all the examples of the run: what a request stores stays for the next.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_open311_answers_anything_with_its_own_documents_and_never_a_5xx(
    world: Open311World, data: Any
) -> None:
    method, path, fmt, values = data.draw(open311_requests(world.key))
    client = Client(raise_request_exception=False)
    response = client.post(path, values) if method == "POST" else client.get(path, values)
    check_answer(response, fmt)
