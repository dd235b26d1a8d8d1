"""Open311 GeoReport v2: one test (or a few) per point of the conformance checklist in the
research notes (spec + `georeport` 0.3.1 + `open311` 1.1), named after the point. The live
clients (point 20) are in test_open311_clients.py, bad input in test_open311_bad_input.py."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from django.test import Client
from django.utils import timezone

from civichub.casework import services
from civichub.casework.models import Case, CaseEvent, EventKind
from civichub.casework.open311 import selectors
from civichub.core import geo
from civichub.core.models import AuditEvent
from civichub.testing.open311 import (
    SENDER_ACCOUNT,
    SENDER_DEVICE,
    SENDER_EMAIL,
    SENDER_NAME,
    SENDER_PHONE,
    Open311World,
    build_open311_world,
)

BASE = "/open311/v2"
SPEC_REQUEST_FIELDS = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
]
SERVICE_FIELDS = [
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
]
ATTRIBUTE_FIELDS = [
    "variable",
    "code",
    "datatype",
    "required",
    "datatype_description",
    "order",
    "description",
]
DATATYPES = {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}


@pytest.fixture
def world(db: Any) -> Open311World:
    return build_open311_world()


@pytest.fixture
def client() -> Client:
    return Client()


def get(client: Client, path: str, **params: str) -> Any:
    return client.get(f"{BASE}/{path}", params)


def post(client: Client, fmt: str, data: dict[str, Any], query: str = "") -> Any:
    return client.post(f"{BASE}/requests.{fmt}{query}", data)


def as_json(response: Any) -> Any:
    return json.loads(response.content.decode("utf-8"))


def as_xml(response: Any) -> ET.Element:
    return ET.fromstring(response.content)  # noqa: S314 (this server's own output)


def ids_of(response: Any) -> list[str]:
    return [r["service_request_id"] for r in as_json(response)]


def pothole_form(world: Open311World, **extra: str) -> dict[str, Any]:
    form: dict[str, Any] = {
        "api_key": world.key,
        "service_code": "pothole",
        "lat": "30.0001",
        "long": "120.0001",
        "description": "井盖旁边的路面塌了一块。",
        "attribute[size]": "small",
    }
    form.update(extra)
    return form


def is_w3c_utc(value: str) -> bool:
    parsed = dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
    return value.endswith("Z") and parsed.utcoffset() == dt.timedelta(0) and parsed.year > 1970


# 1. The format comes only from the suffix -----------------------------------------------------


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "text/xml", "text/html"])
def test_1_format_chosen_only_by_suffix_whatever_the_accept_header(
    world: Open311World, client: Client, accept: str | None
) -> None:
    headers = {"Accept": accept} if accept else {}
    resources = [
        "discovery",
        "services",
        "services/pothole",
        "service/pothole",
        "requests",
        f"requests/{world.open_case.tracking_number}",
    ]
    for resource in resources:
        for fmt, media_type in (("xml", "text/xml"), ("json", "application/json")):
            response = client.get(f"{BASE}/{resource}.{fmt}", headers=headers)
            assert response.status_code == 200, (resource, fmt)
            assert response["Content-Type"].split(";")[0] == media_type
            if fmt == "json":
                json.loads(response.content)
            else:
                as_xml(response)


@pytest.mark.parametrize("path", ["services.html", "services.rss", "services.", "requests.csv"])
def test_1_unknown_suffix_is_404(world: Open311World, client: Client, path: str) -> None:
    response = client.get(f"{BASE}/{path}", headers={"Accept": "application/json"})
    assert response.status_code == 404
    errors = as_xml(response)
    assert errors.tag == "errors"
    assert errors.findtext("error/code") == "404"
    assert "format" in (errors.findtext("error/description") or "")


# 2. Services ----------------------------------------------------------------------------------


def test_2_services_list_xml_and_bare_json_array_with_every_field(
    world: Open311World, client: Client
) -> None:
    services_json = as_json(get(client, "services.json"))
    assert isinstance(services_json, list)
    assert [s["service_code"] for s in services_json] == ["pothole", "streetlight", "bulky-waste"]
    for service in services_json:
        assert list(service) == SERVICE_FIELDS
        assert service["metadata"] in (True, False)
        assert service["type"] in ("realtime", "batch", "blackbox")
    pothole = services_json[0]
    assert pothole["metadata"] is True
    assert pothole["keywords"] == "坑,路面,pothole"
    assert pothole["group"] == "道路"
    assert services_json[1]["metadata"] is False
    assert services_json[2]["type"] == "batch"

    root = as_xml(get(client, "services.xml"))
    assert root.tag == "services"
    xml_services = root.findall("service")
    assert len(xml_services) == 3
    assert [child.tag for child in xml_services[0]] == SERVICE_FIELDS
    assert xml_services[0].findtext("metadata") == "true"
    assert xml_services[1].findtext("metadata") == "false"


# 3. jurisdiction_id ---------------------------------------------------------------------------


def test_3_jurisdiction_absent_empty_or_ours_behave_the_same_unknown_is_404(
    world: Open311World, client: Client
) -> None:
    ours = world.city.city.code  # the receiving organisation's code by default
    absent = get(client, "services.json")
    empty = get(client, "services.json", jurisdiction_id="")
    own = get(client, "services.json", jurisdiction_id=ours)
    assert absent.status_code == empty.status_code == own.status_code == 200
    assert absent.content == empty.content == own.content
    for path in ("services.json", "services/pothole.json", "requests.json", "tokens/x.json"):
        unknown = get(client, path, jurisdiction_id="elsewhere.example.org")
        assert unknown.status_code == 404, path
        assert "jurisdiction_id" in as_json(unknown)[0]["description"]


def test_3_configured_jurisdiction_id_replaces_the_default(
    world: Open311World, client: Client, settings: Any
) -> None:
    settings.CIVICHUB_OPEN311 = {"jurisdiction_id": "qingshan.example.gov.cn"}
    assert (
        get(client, "services.json", jurisdiction_id="qingshan.example.gov.cn").status_code == 200
    )
    assert get(client, "services.json", jurisdiction_id=world.city.city.code).status_code == 404
    created = post(
        client, "json", pothole_form(world), query="?jurisdiction_id=qingshan.example.gov.cn"
    )
    assert created.status_code == 200


# 4. Service definitions -----------------------------------------------------------------------


def test_4_service_definition_and_the_singular_alias(world: Open311World, client: Client) -> None:
    plural = get(client, "services/pothole.json")
    singular = get(client, "service/pothole.json")
    assert plural.status_code == singular.status_code == 200
    assert plural.content == singular.content
    definition = as_json(plural)
    assert isinstance(definition, dict)
    assert definition["service_code"] == "pothole"
    assert [a["code"] for a in definition["attributes"]] == [
        "size",
        "hazards",
        "depth_cm",
        "seen_at",
        "landmark",
        "details",
        "safety",
    ]
    root = as_xml(get(client, "service/pothole.xml"))
    assert root.tag == "service_definition"
    assert root.findtext("service_code") == "pothole"
    size = root.find("attributes/attribute")
    assert size is not None
    assert [v.findtext("key") for v in size.findall("values/value")] == ["small", "large"]
    empty = as_json(get(client, "services/streetlight.json"))
    assert empty == {"service_code": "streetlight", "attributes": []}


def test_4_unknown_service_definition_is_404(world: Open311World, client: Client) -> None:
    for path in ("services/nothing.json", "service/nothing.xml"):
        response = get(client, path)
        assert response.status_code == 404
    assert as_json(get(client, "services/nothing.json"))[0]["code"] == 404


# 5. Attributes --------------------------------------------------------------------------------


def test_5_each_attribute_has_the_spec_fields_and_list_types_carry_values(
    world: Open311World, client: Client
) -> None:
    attributes = as_json(get(client, "services/pothole.json"))["attributes"]
    orders = [a["order"] for a in attributes]
    assert len(set(orders)) == len(orders)
    assert all(isinstance(o, int) and o >= 1 for o in orders)
    for attribute in attributes:
        assert list(attribute)[: len(ATTRIBUTE_FIELDS)] == ATTRIBUTE_FIELDS
        assert attribute["datatype"] in DATATYPES
        assert isinstance(attribute["variable"], bool)
        assert isinstance(attribute["required"], bool)
        if attribute["datatype"] in ("singlevaluelist", "multivaluelist"):
            assert attribute["values"]
            assert all(set(v) == {"key", "name"} for v in attribute["values"])
        else:
            assert "values" not in attribute
    by_code = {a["code"]: a for a in attributes}
    assert by_code["size"]["required"] is True
    assert by_code["size"]["datatype_description"] == "选择一项"
    assert by_code["safety"]["variable"] is False
    assert {a["datatype"] for a in attributes} == DATATYPES


# 6. Path-safe string identifiers --------------------------------------------------------------


def test_6_service_codes_and_request_ids_are_path_safe_json_strings(
    world: Open311World, client: Client
) -> None:
    codes = [s["service_code"] for s in as_json(get(client, "services.json"))]
    requests = as_json(get(client, "requests.json"))
    created = as_json(post(client, "json", pothole_form(world)))[0]
    identifiers = [*codes, *(r["service_request_id"] for r in requests)]
    identifiers.append(created["service_request_id"])
    for identifier in identifiers:
        assert isinstance(identifier, str)
        assert identifier and "/" not in identifier and " " not in identifier
        assert "." not in identifier  # the suffix starts at the last dot
    for request in requests:
        assert isinstance(request["service_code"], str)
        path = f"requests/{request['service_request_id']}.json"
        assert get(client, path).status_code == 200


# 7. POST bodies -------------------------------------------------------------------------------


def test_7_post_accepts_form_bodies_with_or_without_charset(
    world: Open311World, client: Client
) -> None:
    from urllib.parse import urlencode

    body = urlencode(pothole_form(world, description="路面塌陷，约半米宽。"))
    for content_type in (
        "application/x-www-form-urlencoded; charset=utf-8",
        "application/x-www-form-urlencoded",
    ):
        response = client.post(f"{BASE}/requests.json", body, content_type=content_type)
        assert response.status_code == 200, response.content
        number = as_json(response)[0]["service_request_id"]
        assert Case.objects.get(tracking_number=number).text == "路面塌陷，约半米宽。"


def test_7_post_merges_query_string_and_body_parameters(
    world: Open311World, client: Client
) -> None:
    from urllib.parse import urlencode

    ours = world.city.city.code
    form = pothole_form(world)
    key = form.pop("api_key")
    # api_key and jurisdiction_id in the query, the rest in the body (the open311 client)
    in_query = client.post(
        f"{BASE}/requests.xml?{urlencode({'api_key': key, 'jurisdiction_id': ours})}",
        urlencode(form),
        content_type="application/x-www-form-urlencoded",
    )
    # both in the body (the spec's example and FixMyStreet), the query carrying them empty
    in_body = client.post(
        f"{BASE}/requests.xml?api_key=&jurisdiction_id=",
        urlencode({**form, "api_key": key, "jurisdiction_id": ours}),
        content_type="application/x-www-form-urlencoded",
    )
    for response in (in_query, in_body):
        assert response.status_code == 200, response.content
        assert as_xml(response).findtext("request/service_request_id")


def test_7_post_decodes_percent_encoded_utf8(world: Open311World, client: Client) -> None:
    body = (
        f"api_key={world.key}&service_code=pothole&lat=30.0001&long=120.0001"
        "&attribute%5Bsize%5D=large&attribute%5Blandmark%5D=%E6%A1%83%E6%BA%90%E8%B7%AF"
        "&description=%E8%B7%AF%E9%9D%A2%E5%A1%8C%E9%99%B7%0A%E7%AC%AC%E4%BA%8C%E8%A1%8C"
    )
    response = client.post(
        f"{BASE}/requests.json", body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200, response.content
    case = Case.objects.get(tracking_number=as_json(response)[0]["service_request_id"])
    assert case.text == "路面塌陷\n第二行"  # line breaks are allowed in descriptions
    assert case.attributes == {"size": "large", "landmark": "桃源路"}


# 8. api_key ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "", "o311_not-a-key"])
def test_8_missing_empty_or_invalid_api_key_on_post_is_403(
    world: Open311World, client: Client, key: str | None
) -> None:
    form = pothole_form(world)
    form.pop("api_key")
    if key is not None:
        form["api_key"] = key
    before = Case.objects.count()
    for fmt in ("json", "xml"):
        response = post(client, fmt, form)
        assert response.status_code == 403
        if fmt == "json":
            assert "api_key" in as_json(response)[0]["description"]
        else:
            assert as_xml(response).findtext("error/code") == "403"
    assert Case.objects.count() == before


def test_8_revoked_key_is_403(world: Open311World, client: Client) -> None:
    from civichub.casework.open311.keys import open311_key_revoke

    open311_key_revoke(actor=None, name=world.key_name)
    assert post(client, "json", pothole_form(world)).status_code == 403


def test_8_gets_never_need_a_key(world: Open311World, client: Client) -> None:
    for path in ("discovery.json", "services.json", "services/pothole.json", "requests.json"):
        assert get(client, path).status_code == 200


# 9. POST validation ---------------------------------------------------------------------------


def test_9_missing_service_code_is_400_unknown_is_404(world: Open311World, client: Client) -> None:
    form = pothole_form(world)
    form.pop("service_code")
    missing = post(client, "json", form)
    assert missing.status_code == 400
    assert as_json(missing)[0]["description"] == "service_code: required"
    unknown = post(client, "json", pothole_form(world, service_code="nothing"))
    assert unknown.status_code == 404
    assert "nothing" in as_json(unknown)[0]["description"]


def test_9_a_location_is_required_any_one_of_three(world: Open311World, client: Client) -> None:
    form = pothole_form(world)
    del form["lat"], form["long"]
    missing = post(client, "json", form)
    assert missing.status_code == 400
    assert "location" in as_json(missing)[0]["description"]
    half = post(client, "json", {**form, "lat": "30.0"})
    assert half.status_code == 400
    assert "lat/long" in as_json(half)[0]["description"]
    assert post(client, "json", {**form, "address_string": "桃源路 1 号"}).status_code == 200
    assert post(client, "json", {**form, "address_id": "ADDR-0042"}).status_code == 200


def test_9_missing_required_attribute_is_400_naming_it(world: Open311World, client: Client) -> None:
    form = pothole_form(world)
    del form["attribute[size]"]
    response = post(client, "json", form)
    assert response.status_code == 400
    assert as_json(response) == [{"code": 400, "description": "attribute[size]: This is required."}]
    xml = post(client, "xml", form)
    assert xml.status_code == 400
    assert as_xml(xml).findtext("error/description") == "attribute[size]: This is required."


def test_9_errors_are_in_english_whatever_language_the_client_asks_for(
    world: Open311World, client: Client
) -> None:
    # GeoReport v2's names and this layer's own messages are English; the casework service's
    # messages (Chinese source strings) are given in English too, so no document mixes the two.
    form = pothole_form(world, **{"attribute[depth_cm]": "deep"})
    del form["attribute[size]"]
    response = client.post(f"{BASE}/requests.json", form, headers={"Accept-Language": "zh-hans"})
    assert response.status_code == 400
    assert [e["description"] for e in as_json(response)] == [
        "attribute[depth_cm]: Enter a number.",
        "attribute[size]: This is required.",
    ]


def test_9_description_over_4000_characters_is_400(world: Open311World, client: Client) -> None:
    assert post(client, "json", pothole_form(world, description="坑" * 4000)).status_code == 200
    response = post(client, "json", pothole_form(world, description="坑" * 4001))
    assert response.status_code == 400
    assert as_json(response)[0]["description"].startswith("description:")


def test_9_multivaluelist_from_repeated_attribute_brackets(
    world: Open311World, client: Client
) -> None:
    response = client.post(
        f"{BASE}/requests.json",
        "&".join(
            [
                f"api_key={world.key}",
                "service_code=pothole",
                "address_string=%E6%A1%83%E6%BA%90%E8%B7%AF",
                "attribute%5Bsize%5D=small",
                "attribute%5Bhazards%5D%5B%5D=cars",
                "attribute%5Bhazards%5D%5B%5D=walkers",
                "attribute%5Bdepth_cm%5D=12.5",
                "attribute%5Bseen_at%5D=2026-11-29T08%3A30%3A00%2B08%3A00",
            ]
        ),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200, response.content
    case = Case.objects.get(tracking_number=as_json(response)[0]["service_request_id"])
    assert case.attributes["hazards"] == ["cars", "walkers"]
    assert case.attributes["depth_cm"] == 12.5
    assert case.attributes["seen_at"] == "2026-11-29T08:30:00+08:00"


@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        ("size", "huge", "attribute[size]: Choose one of the listed values."),
        ("hazards", "planes", "attribute[hazards]: Not among the listed values: planes."),
        ("depth_cm", "deep", "attribute[depth_cm]: Enter a number."),
        ("seen_at", "yesterday", "attribute[seen_at]: Enter a date and time in ISO 8601 format."),
    ],
)
def test_9_list_values_numbers_and_datetimes_are_checked(
    world: Open311World, client: Client, attribute: str, value: str, message: str
) -> None:
    response = post(client, "json", pothole_form(world, **{f"attribute[{attribute}]": value}))
    assert response.status_code == 400
    assert message in [e["description"] for e in as_json(response)]


def test_9_unknown_attributes_are_kept_not_refused(world: Open311World, client: Client) -> None:
    response = post(client, "json", pothole_form(world, **{"attribute[fixmystreet_id]": "4711"}))
    assert response.status_code == 200
    case = Case.objects.get(tracking_number=as_json(response)[0]["service_request_id"])
    assert case.extra["open311"]["attributes"] == {"fixmystreet_id": "4711"}
    assert "fixmystreet_id" not in case.attributes


# 10. POST success -----------------------------------------------------------------------------


def test_10_post_success_is_one_request_with_its_id(world: Open311World, client: Client) -> None:
    response = post(client, "json", pothole_form(world))
    assert response.status_code == 200
    created = as_json(response)
    assert isinstance(created, list)
    assert len(created) == 1
    assert set(created[0]) == {"service_request_id", "service_notice", "account_id"}
    case = Case.objects.get(tracking_number=created[0]["service_request_id"])
    assert case.tracking_number in created[0]["service_notice"]

    xml = as_xml(post(client, "xml", pothole_form(world)))
    assert xml.tag == "service_requests"
    assert len(xml.findall("request")) == 1
    assert xml.findtext("request/service_request_id")
    assert xml.find("request/token") is None


def test_10_post_goes_through_casework_intake(world: Open311World, client: Client) -> None:
    response = post(
        client,
        "json",
        pothole_form(
            world,
            email="poster@example.org",
            first_name="Ada",
            last_name="Li",
            phone="13700000000",
            device_id="dev-1",
            media_url="https://photos.example.org/p/1.jpg",
        ),
    )
    case = Case.objects.get(tracking_number=as_json(response)[0]["service_request_id"])
    assert case.channel == "open311"
    assert case.category == world.pothole
    assert case.crs == "wgs84"
    assert (case.wgs84_latitude, case.wgs84_longitude) == (30.0001, 120.0001)
    assert case.contact_name == "Ada Li"
    assert case.contact_email == "poster@example.org"
    assert case.is_public is True
    assert case.extra["open311"]["media_url"] == "https://photos.example.org/p/1.jpg"
    assert case.events.get().kind == EventKind.SUBMITTED
    audit = AuditEvent.objects.get(action="casework.case.submit", object_id=str(case.pk))
    assert audit.actor_label == "system:open311:fixmystreet"


def test_10_batch_services_return_a_token_instead(world: Open311World, client: Client) -> None:
    form = pothole_form(world, service_code="bulky-waste")
    del form["attribute[size]"]
    created = as_json(post(client, "json", form))[0]
    assert "service_request_id" not in created
    assert created["token"]
    xml = as_xml(post(client, "xml", form))
    assert xml.findtext("request/token")
    assert xml.find("request/service_request_id") is None


# 11. Tokens -----------------------------------------------------------------------------------


def test_11_token_gives_the_request_id_unknown_is_404(world: Open311World, client: Client) -> None:
    form = pothole_form(world, service_code="bulky-waste")
    del form["attribute[size]"]
    token = as_json(post(client, "json", form))[0]["token"]
    found = as_json(get(client, f"tokens/{token}.json"))
    case = Case.objects.get(extra__open311__token=token)
    assert found == [{"service_request_id": case.tracking_number, "token": token}]
    xml = as_xml(get(client, f"tokens/{token}.xml"))
    assert xml.tag == "service_requests"
    assert xml.findtext("request/service_request_id") == case.tracking_number
    assert xml.findtext("request/token") == token
    missing = get(client, "tokens/no-such-token.json")
    assert missing.status_code == 404
    assert as_json(missing)[0]["code"] == 404


# 12. GET requests filters ---------------------------------------------------------------------


def test_12_default_is_the_last_90_days_newest_first(world: Open311World, client: Client) -> None:
    assert ids_of(get(client, "requests.json")) == [
        world.gcj_case.tracking_number,
        world.duplicate_case.tracking_number,
        world.closed_case.tracking_number,
        world.open_case.tracking_number,
    ]


def test_12_service_request_id_list_overrides_every_other_filter(
    world: Open311World, client: Client
) -> None:
    wanted = f"{world.old_case.tracking_number},{world.closed_case.tracking_number}"
    response = get(
        client,
        "requests.json",
        service_request_id=wanted,
        service_code="pothole",
        status="open",
        start_date="2026-01-01T00:00:00Z",
        end_date="2026-01-02T00:00:00Z",
    )
    assert sorted(ids_of(response)) == sorted(wanted.split(","))


def test_12_service_code_and_status_comma_lists(world: Open311World, client: Client) -> None:
    potholes = ids_of(get(client, "requests.json", service_code="pothole"))
    assert potholes == [
        world.gcj_case.tracking_number,
        world.duplicate_case.tracking_number,
        world.open_case.tracking_number,
    ]
    both = ids_of(get(client, "requests.json", service_code="pothole,streetlight"))
    assert len(both) == 4
    closed = ids_of(get(client, "requests.json", status="closed"))
    assert closed == [world.duplicate_case.tracking_number, world.closed_case.tracking_number]
    opened = ids_of(get(client, "requests.json", status="open"))
    assert opened == [world.gcj_case.tracking_number, world.open_case.tracking_number]
    assert len(ids_of(get(client, "requests.json", status="open,closed"))) == 4


@pytest.mark.parametrize(
    "start",
    [
        "{day}T00:00:00Z",
        "{day}T08:00:00+08:00",
        "{day}T08:00:00+0800",
        "{day}T00:00:00.123456Z",
        "{day}t00:00:00z",
        "{day}",
    ],
)
def test_12_dates_are_parsed_leniently(world: Open311World, client: Client, start: str) -> None:
    day = (timezone.now() - dt.timedelta(days=150)).date().isoformat()
    end = (timezone.now() - dt.timedelta(days=61)).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = get(client, "requests.json", start_date=start.format(day=day), end_date=end)
    assert response.status_code == 200, response.content
    assert ids_of(response) == [world.old_case.tracking_number]


def test_12_a_plus_left_unencoded_and_percent_encoding_are_understood(
    world: Open311World, client: Client
) -> None:
    start = (timezone.now() - dt.timedelta(days=4)).astimezone(dt.timezone(dt.timedelta(hours=8)))
    text = start.strftime("%Y-%m-%dT%H:%M:%S")
    raw_plus = client.get(f"{BASE}/requests.json?start_date={text}+08:00")
    encoded = client.get(f"{BASE}/requests.json?start_date={text}%2B08%3A00")
    assert raw_plus.status_code == encoded.status_code == 200
    assert ids_of(raw_plus) == ids_of(encoded)
    assert len(ids_of(encoded)) == 4


def test_12_a_span_over_90_days_is_400(world: Open311World, client: Client) -> None:
    response = get(
        client,
        "requests.json",
        start_date="2026-01-01T00:00:00Z",
        end_date="2026-04-01T00:00:01Z",
    )
    assert response.status_code == 400
    assert "90 days" in as_json(response)[0]["description"]
    exactly_90 = get(
        client, "requests.json", start_date="2026-01-01T00:00:00Z", end_date="2026-04-01T00:00:00Z"
    )
    assert exactly_90.status_code == 200


def test_12_a_time_without_timezone_is_400(world: Open311World, client: Client) -> None:
    response = get(client, "requests.json", start_date="2026-11-01T00:00:00")
    assert response.status_code == 400
    assert as_json(response)[0]["description"] == "start_date: add the timezone (Z or ±HH:MM)"


def test_12_at_most_1000_requests_by_default(
    world: Open311World, client: Client, settings: Any
) -> None:
    from civichub.casework.open311.conf import Open311Settings

    DEFAULTS = dataclasses.asdict(Open311Settings())
    assert DEFAULTS["max_requests"] == 1000
    settings.CIVICHUB_OPEN311 = {"max_requests": 2}
    assert len(ids_of(get(client, "requests.json"))) == 2


# 13. Empty results ----------------------------------------------------------------------------


def test_13_an_empty_result_is_200_and_an_empty_container(
    world: Open311World, client: Client
) -> None:
    params = {"start_date": "2020-01-01T00:00:00Z", "end_date": "2020-01-02T00:00:00Z"}
    json_response = get(client, "requests.json", **params)
    assert json_response.status_code == 200
    assert as_json(json_response) == []
    xml_response = get(client, "requests.xml", **params)
    assert xml_response.status_code == 200
    root = as_xml(xml_response)
    assert root.tag == "service_requests"
    assert list(root) == []
    unknown_code = get(client, "requests.json", service_code="nothing")
    assert unknown_code.status_code == 200
    assert as_json(unknown_code) == []


# 14. Every request has every field ------------------------------------------------------------


def test_14_every_request_has_all_spec_fields_and_proper_types(
    world: Open311World, client: Client
) -> None:
    requests = as_json(get(client, "requests.json"))
    assert requests
    for request in requests:
        assert list(request) == SPEC_REQUEST_FIELDS
        assert request["status"] in ("open", "closed")
        assert is_w3c_utc(request["requested_datetime"])
        assert is_w3c_utc(request["updated_datetime"])
        assert isinstance(request["lat"], float)
        assert isinstance(request["long"], float)
    xml = as_xml(get(client, "requests.xml"))
    for element in xml.findall("request"):
        assert [child.tag for child in element] == SPEC_REQUEST_FIELDS
        assert (element.findtext("requested_datetime") or "").endswith("Z")


def test_14_closed_requests_carry_their_closing_time_and_notes(
    world: Open311World, client: Client
) -> None:
    closed = as_json(get(client, f"requests/{world.closed_case.tracking_number}.json"))[0]
    assert closed["status"] == "closed"
    closed_at = world.closed_case.closed_at
    assert closed_at is not None
    assert closed["updated_datetime"] == closed_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert closed["status_notes"] == "路灯已更换。"
    assert closed["agency_responsible"] == world.city.health_a.name
    duplicate = as_json(get(client, f"requests/{world.duplicate_case.tracking_number}.json"))[0]
    assert duplicate["status"] == "closed"
    assert duplicate["status_notes"] == f"Duplicate of {world.open_case.tracking_number}"
    opened = as_json(get(client, f"requests/{world.open_case.tracking_number}.json"))[0]
    assert opened["status"] == "open"  # replied, waiting for the rating: still open
    assert opened["expected_datetime"] is not None


def test_14_lat_long_are_wgs84_converted_from_the_stored_system(
    world: Open311World, client: Client
) -> None:
    request = as_json(get(client, f"requests/{world.gcj_case.tracking_number}.json"))[0]
    lat, lng = geo.gcj02_to_wgs84(30.1, 120.1)
    assert request["lat"] == pytest.approx(lat, abs=1e-7)
    assert request["long"] == pytest.approx(lng, abs=1e-7)
    assert abs(request["lat"] - 30.1) > 1e-4  # GCJ-02 is offset by hundreds of metres


def test_14_missing_values_are_null_not_epoch(world: Open311World, client: Client) -> None:
    form = pothole_form(world, address_string="桃源路 3 号")
    del form["lat"], form["long"]
    number = as_json(post(client, "json", form))[0]["service_request_id"]
    request = as_json(get(client, f"requests/{number}.json"))[0]
    assert request["lat"] is None
    assert request["long"] is None
    assert request["zipcode"] is None
    assert request["media_url"] is None
    assert "1970" not in json.dumps(request)
    element = as_xml(get(client, f"requests/{number}.xml")).find("request")
    assert element is not None
    assert element.findtext("lat") == ""
    assert element.findtext("address") == "桃源路 3 号"


def test_14_submitters_personal_data_never_appears(world: Open311World, client: Client) -> None:
    bodies = []
    for fmt in ("json", "xml"):
        bodies.append(get(client, f"requests.{fmt}", extensions="true").content)
        for case in (world.open_case, world.closed_case, world.gcj_case):
            bodies.append(get(client, f"requests/{case.tracking_number}.{fmt}").content)
    text = b"".join(bodies).decode("utf-8")
    for secret in (
        SENDER_NAME,
        SENDER_PHONE,
        SENDER_EMAIL,
        SENDER_DEVICE,
        SENDER_ACCOUNT,
        world.key_name,
    ):
        assert secret not in text
    assert world.private_case.text not in text
    assert get(client, f"requests/{world.private_case.tracking_number}.json").status_code == 404


def test_14_place_can_be_withheld_by_the_profile(
    world: Open311World, client: Client, settings: Any
) -> None:
    settings.CIVICHUB_OPEN311 = {"publish_place": False}
    request = as_json(get(client, f"requests/{world.open_case.tracking_number}.json"))[0]
    assert (request["lat"], request["long"], request["address"]) == (None, None, None)


# 15. One request ------------------------------------------------------------------------------


def test_15_one_request_uses_the_list_wrapper(world: Open311World, client: Client) -> None:
    number = world.open_case.tracking_number
    one = as_json(get(client, f"requests/{number}.json"))
    assert isinstance(one, list)
    assert len(one) == 1
    assert one[0]["service_request_id"] == number
    root = as_xml(get(client, f"requests/{number}.xml"))
    assert root.tag == "service_requests"
    assert [r.findtext("service_request_id") for r in root.findall("request")] == [number]
    missing = get(client, "requests/2099-999999.json")
    assert missing.status_code == 404
    assert as_json(missing)[0]["code"] == 404


# 16. Errors -----------------------------------------------------------------------------------


def test_16_every_error_is_an_error_document_never_html(
    world: Open311World, client: Client
) -> None:
    cases = [
        client.get(f"{BASE}/nothing-here"),
        client.get(f"{BASE}/"),
        client.get(f"{BASE}/services/pothole/extra.json"),
        client.delete(f"{BASE}/requests.json"),
        client.put(f"{BASE}/services.xml"),
        client.post(f"{BASE}/services.json"),
    ]
    for response in cases:
        assert response.status_code in (400, 404)
        assert response["Content-Type"].split(";")[0] in ("text/xml", "application/json")
        assert b"<html" not in response.content.lower()
        body = response.content.decode("utf-8")
        if response["Content-Type"].startswith("application/json"):
            items = json.loads(body)
            assert all(set(i) == {"code", "description"} for i in items)
        else:
            root = as_xml(response)
            assert root.tag == "errors"
            assert root.find("error/code") is not None
            assert root.find("error/description") is not None


def test_16_faults_are_500_error_documents_with_the_request_id(
    world: Open311World, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> list[dict[str, Any]]:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(selectors, "services", broken)
    response = client.get(f"{BASE}/services.json", headers={"X-Request-ID": "req-0001"})
    assert response.status_code == 500
    error = as_json(response)[0]
    assert error["code"] == 500
    assert "req-0001" in error["description"]
    assert "fire" not in error["description"]
    xml = client.get(f"{BASE}/services.xml")
    assert xml.status_code == 500
    assert as_xml(xml).findtext("error/code") == "500"


# 17. Headers and the XML declaration ----------------------------------------------------------


def test_17_content_types_and_xml_declaration(world: Open311World, client: Client) -> None:
    xml = get(client, "services.xml")
    assert xml["Content-Type"] == "text/xml; charset=utf-8"
    assert xml.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    js = get(client, "services.json")
    assert js["Content-Type"] == "application/json; charset=utf-8"
    assert "路面坑洼" in js.content.decode("utf-8")  # UTF-8, not \u escapes


def test_17_charset_suffix_is_configurable(
    world: Open311World, client: Client, settings: Any
) -> None:
    settings.CIVICHUB_OPEN311 = {"charset_in_content_type": False}
    assert get(client, "discovery.xml")["Content-Type"] == "text/xml"
    assert get(client, "discovery.json")["Content-Type"] == "application/json"


# 18. Discovery --------------------------------------------------------------------------------


def test_18_discovery_document(world: Open311World, client: Client, settings: Any) -> None:
    settings.CIVICHUB_OPEN311 = {"contact": "12345@qingshan.example.gov.cn"}
    found = as_json(get(client, "discovery.json"))
    assert set(found) == {"changeset", "contact", "key_service", "endpoints"}
    assert found["contact"] == "12345@qingshan.example.gov.cn"
    assert dt.datetime.fromisoformat(found["changeset"]) < timezone.now()
    (endpoint,) = found["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "http://testserver/open311/v2"
    assert endpoint["type"] in ("production", "test")
    assert endpoint["formats"] == ["text/xml", "application/json"]
    assert endpoint["changeset"] == found["changeset"]
    root = as_xml(get(client, "discovery.xml"))
    assert root.tag == "discovery"
    assert [f.text for f in root.findall("endpoints/endpoint/formats/format")] == [
        "text/xml",
        "application/json",
    ]
    assert root.findtext("key_service")


# 19. Extensions, strictly opt-in --------------------------------------------------------------


def test_19_pagination_is_opt_in(world: Open311World, client: Client) -> None:
    everything = ids_of(get(client, "requests.json"))
    first = ids_of(get(client, "requests.json", page="1", page_size="3"))
    second = ids_of(get(client, "requests.json", page="2", page_size="3"))
    assert first + second == everything
    assert len(first) == 3


def test_19_extensions_true_adds_extended_attributes_and_notes(
    world: Open311World, client: Client
) -> None:
    number = world.open_case.tracking_number
    plain = as_json(get(client, f"requests/{number}.json"))[0]
    assert list(plain) == SPEC_REQUEST_FIELDS
    extended = as_json(get(client, f"requests/{number}.json", extensions="true"))[0]
    assert list(extended) == [*SPEC_REQUEST_FIELDS, "extended_attributes", "notes"]
    assert extended["extended_attributes"]["casework_status"] == "replied"
    assert extended["extended_attributes"]["department"] == world.city.health_a.name
    assert [n["type"] for n in extended["notes"]] == ["routed", "reply"]
    assert extended["notes"][1]["description"] == "已安排养护队本周修补。"
    duplicate = as_json(
        get(client, f"requests/{world.duplicate_case.tracking_number}.json", extensions="true")
    )[0]
    assert duplicate["extended_attributes"]["duplicate_of"] == number
    xml = as_xml(get(client, "requests.xml", extensions="true"))
    assert xml.find("request/notes/note/type") is not None


def _window(days_back: float = 5) -> dict[str, str]:
    now = timezone.now()
    return {
        "start_date": (now - dt.timedelta(days=days_back)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end_date": (now + dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def test_19_service_request_updates_follow_the_mysociety_schema(
    world: Open311World, client: Client
) -> None:
    response = get(client, "servicerequestupdates.json", api_key=world.key, **_window())
    assert response.status_code == 200
    updates = as_json(response)
    assert updates
    for update in updates:
        assert list(update)[:6] == [
            "update_id",
            "service_request_id",
            "status",
            "updated_datetime",
            "description",
            "media_url",
        ]
        assert isinstance(update["update_id"], str)
        assert is_w3c_utc(update["updated_datetime"])
    closed = [u for u in updates if u["service_request_id"] == world.closed_case.tracking_number]
    assert [u["status"] for u in closed] == ["open", "in_progress", "closed"]
    assert closed[1]["description"] == "路灯已更换。"
    assert closed[0]["description"] == f"Sent to {world.city.health_a.name}"
    duplicate = [
        u for u in updates if u["service_request_id"] == world.duplicate_case.tracking_number
    ]
    assert duplicate[-1]["status"] == "duplicate"
    assert world.open_case.tracking_number in duplicate[-1]["description"]
    times = [u["updated_datetime"] for u in updates]
    assert times == sorted(times)
    xml = as_xml(get(client, "servicerequestupdates.xml", api_key=world.key, **_window()))
    assert xml.tag == "service_request_updates"
    assert len(xml.findall("request_update")) == len(updates)


def test_19_updates_need_a_key_and_both_dates_or_neither(
    world: Open311World, client: Client
) -> None:
    window = _window()
    assert get(client, "servicerequestupdates.json", **window).status_code == 403
    bad_key = get(client, "servicerequestupdates.json", api_key="o311_wrong", **window)
    assert bad_key.status_code == 403
    one = get(
        client, "servicerequestupdates.json", api_key=world.key, start_date=window["start_date"]
    )
    assert one.status_code == 400
    assert "both or neither" in as_json(one)[0]["description"]
    neither = get(client, "servicerequestupdates.json", api_key=world.key)
    assert neither.status_code == 200
    assert as_json(neither)


def test_19_updates_show_board_replies_only_unless_the_key_posted_the_case(
    world: Open311World, client: Client, settings: Any
) -> None:
    from civichub.casework.open311.keys import open311_key_create

    _other, other_key = open311_key_create(actor=None, name="city-app")
    web_case = services.case_submit(
        actor=world.resident,
        kind="complaint",
        title="噪音",
        text="楼下夜里施工。",
        channel="web",
        is_public=True,
        category_key="streetlight",
    ).case
    services.case_route(case_id=web_case.pk)
    services.case_reply(actor=world.handler, case=web_case, text="只给来信人看。", public=False)
    mine = as_json(get(client, "servicerequestupdates.json", api_key=world.key, **_window()))
    theirs = as_json(get(client, "servicerequestupdates.json", api_key=other_key, **_window()))
    texts = [u["description"] for u in mine + theirs]
    assert "只给来信人看。" not in texts
    assert {u["service_request_id"] for u in mine} == {u["service_request_id"] for u in theirs}
    # a private case posted through this key shows its updates to this key only
    settings.CIVICHUB_OPEN311 = {"submissions_public": False}
    number = as_json(post(client, "json", pothole_form(world)))[0]["service_request_id"]
    private = Case.objects.get(tracking_number=number)
    assert private.is_public is False
    services.case_route(case_id=private.pk)
    services.case_reply(actor=world.handler, case=private, text="给贵平台的答复。", public=True)
    mine = as_json(get(client, "servicerequestupdates.json", api_key=world.key, **_window()))
    theirs = as_json(get(client, "servicerequestupdates.json", api_key=other_key, **_window()))
    assert "给贵平台的答复。" in {
        u["description"] for u in mine if u["service_request_id"] == number
    }
    assert number not in {u["service_request_id"] for u in theirs}
    assert get(client, f"requests/{number}.json").status_code == 404


def test_19_posted_updates_become_internal_notes_without_changing_the_status(
    world: Open311World, client: Client
) -> None:
    number = world.open_case.tracking_number
    update = {
        "api_key": world.key,
        "service_request_id": number,
        "update_id": "fms-77",
        "status": "CLOSED",
        "updated_datetime": "2026-11-29T10:00:00+00:00",
        "description": "Looks fixed to me",
        "email": "commenter@example.org",
        "first_name": "Ada",
    }
    response = client.post(f"{BASE}/servicerequestupdates.json", update)
    assert response.status_code == 200, response.content
    (created,) = as_json(response)
    note = CaseEvent.objects.get(pk=int(created["update_id"]))
    assert note.case_id == world.open_case.pk
    assert note.kind == EventKind.NOTE
    assert note.public is False
    assert note.text == "fixmystreet (CLOSED, update fms-77): Looks fixed to me"
    world.open_case.refresh_from_db()
    assert world.open_case.status == "replied"
    audit = AuditEvent.objects.filter(action="casework.case.note").latest("at")
    assert audit.actor_label == "system:open311:fixmystreet"
    xml = as_xml(client.post(f"{BASE}/servicerequestupdates.xml", update))
    assert xml.tag == "service_request_updates"
    assert xml.findtext("request_update/update_id")
    # a note is not a status update: it is not echoed back to the poller
    polled = as_json(get(client, "servicerequestupdates.json", api_key=world.key, **_window()))
    assert "Looks fixed to me" not in json.dumps(polled, ensure_ascii=False)


def test_19_posted_updates_need_a_key_the_fields_and_a_request_of_that_key(
    world: Open311World, client: Client
) -> None:
    update = {
        "api_key": world.key,
        "service_request_id": world.open_case.tracking_number,
        "update_id": "1",
        "status": "OPEN",
        "description": "Still there",
    }
    path = f"{BASE}/servicerequestupdates.json"
    before = CaseEvent.objects.count()
    assert client.post(path, {**update, "api_key": ""}).status_code == 403
    missing = client.post(path, {"api_key": world.key})
    assert missing.status_code == 400
    assert [e["description"] for e in as_json(missing)] == [
        "service_request_id: required",
        "update_id: required",
        "status: required",
        "description: required",
    ]
    bad_status = client.post(path, {**update, "status": "EXPLODED"})
    assert bad_status.status_code == 400
    bad_time = client.post(path, {**update, "updated_datetime": "soon"})
    assert bad_time.status_code == 400
    # a public case that came in through the web form is not this key's to comment on
    others = client.post(path, {**update, "service_request_id": world.gcj_case.tracking_number})
    assert others.status_code == 404
    assert client.post(path, {**update, "service_request_id": "2099-000001"}).status_code == 404
    assert CaseEvent.objects.count() == before
