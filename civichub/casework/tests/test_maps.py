"""Casework's maps without a browser: the form's hidden pin and its coordinate system, the
communities' areas served in the base map's system, the place on the staff page, the board's
places by community (never the pin), and the tile host the Content-Security-Policy allows."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from civichub.casework import services
from civichub.casework.models import Case
from civichub.casework.tests.conftest import PIN_A1, PIN_A2, PIN_B1, Casework
from civichub.core import geo
from civichub.settings import tile_sources

pytestmark = pytest.mark.django_db

GCJ02_TILES = {"map_tiles_crs": "gcj02"}


def client_for(user: Any) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def json_block(page: str, element_id: str) -> Any:
    found = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', page)
    assert found, f"no {element_id} on the page"
    return json.loads(found.group(1))


def test_form_takes_the_place_as_a_hidden_pin_and_shows_no_coordinate_boxes(cw: Casework) -> None:
    page = client_for(cw.resident).get(reverse("casework:submit")).content.decode()

    assert 'type="number"' not in page
    for name in ("latitude", "longitude", "crs"):
        assert re.search(rf'<input type="hidden" name="{name}"', page), name
    # The map's part of the form stays hidden until the script draws the map.
    assert re.search(r'<fieldset class="field place-picker" id="place-picker" hidden>', page)
    assert 'data-map="pick"' in page and 'data-crs="wgs84"' in page
    assert "<script>" not in page  # no inline script: the CSP stays strict


def test_pin_in_the_maps_coordinate_system_reaches_its_community(
    cw: Casework, settings: Any, after_commit: Callable[[], Any]
) -> None:
    # Coordinates that name no system are taken as WGS-84 here: only the form's crs field
    # says the pin is GCJ-02.
    settings.CIVICHUB_PROFILE = {**GCJ02_TILES, "default_crs": "wgs84"}
    # The pin as a GCJ-02 map draws PIN_A2.
    lat, lng = geo.wgs84_to_gcj02(*PIN_A2)
    assert geo.distance_m(lat, lng, *PIN_A2) > 200  # far enough to land outside A2 unconverted
    form = {"kind": "complaint", "text": "路灯坏了。", "latitude": lat, "longitude": lng}

    with after_commit():
        response = client_for(cw.resident).post(
            reverse("casework:submit"), {**form, "crs": "gcj02"}
        )

    assert response.status_code == 302
    case = Case.objects.get()
    assert case.crs == "gcj02" and case.community == cw.city.community_a2
    assert case.wgs84_latitude is not None and case.wgs84_longitude is not None
    assert geo.distance_m(case.wgs84_latitude, case.wgs84_longitude, *PIN_A2) < 0.01


def test_without_a_pin_the_address_places_the_message(
    cw: Casework, after_commit: Callable[[], Any]
) -> None:
    with after_commit():
        response = client_for(cw.resident).post(
            reverse("casework:submit"),
            {"kind": "help", "text": "楼道灯不亮。", "address": "桃源路 8 号 2 单元"},
        )

    assert response.status_code == 302
    case = Case.objects.get()
    assert case.latitude is None and case.community == cw.city.community_a1


def test_a_half_pin_is_refused_above_the_form(cw: Casework) -> None:
    response = client_for(cw.resident).post(
        reverse("casework:submit"), {"kind": "help", "text": "楼道灯不亮。", "latitude": "30"}
    )

    assert response.status_code == 200
    assert "请同时填写纬度和经度，或都不填写。" in response.content.decode()
    assert not Case.objects.exists()


def test_community_areas_are_served_in_the_maps_coordinate_system(
    cw: Casework, settings: Any
) -> None:
    ring = [[120.3, 30.2], [120.31, 30.2], [120.31, 30.21], [120.3, 30.2]]
    services.community_area_set(
        actor=None,
        community=cw.city.community_b1,
        centre_latitude=PIN_B1[0],
        centre_longitude=PIN_B1[1],
        polygon={"type": "Polygon", "coordinates": [ring]},
    )

    def features() -> dict[str, Any]:
        response = Client().get(reverse("casework:map_areas"))
        assert response.status_code == 200
        return {f["properties"]["name"]: f for f in response.json()["features"]}

    plain = features()
    assert plain["桃源社区"]["geometry"] == {"type": "Point", "coordinates": [120.0, 30.0]}
    assert plain["桃源社区"]["properties"]["radius_m"] == 500
    assert plain["松风社区"]["geometry"]["coordinates"] == [ring]

    settings.CIVICHUB_PROFILE = GCJ02_TILES
    shifted = features()
    lat, lng = geo.wgs84_to_gcj02(*PIN_A1)
    assert shifted["桃源社区"]["geometry"]["coordinates"] == [round(lng, 7), round(lat, 7)]
    corner = shifted["松风社区"]["geometry"]["coordinates"][0][0]
    assert corner == pytest.approx(list(reversed(geo.wgs84_to_gcj02(30.2, 120.3))), abs=1e-6)


def test_staff_see_the_place_on_the_message_page(cw: Casework, submit: Callable[..., Case]) -> None:
    case = submit(address="桃源路 8 号")

    page = client_for(cw.worker_a1).get(reverse("casework:case", args=[case.tracking_number]))

    points = json_block(page.content.decode(), "case-map-points")
    assert points == [{"lat": PIN_A1[0], "lng": PIN_A1[1], "label": "桃源路 8 号", "url": ""}]


def test_inbox_map_leads_to_each_message_with_a_place(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    placed = submit()
    submit(latitude=None, longitude=None, address="桃源路 8 号")

    page = client_for(cw.worker_a1).get(reverse("casework:inbox")).content.decode()

    points = json_block(page, "inbox-map-points")
    assert [p["url"] for p in points] == [reverse("casework:case", args=[placed.tracking_number])]


def test_board_places_a_message_at_its_community_never_its_pin(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    pin = (PIN_A2[0] + 0.001, PIN_A2[1] + 0.001)
    case = submit(latitude=pin[0], longitude=pin[1], is_public=True, category_key="health")
    assert case.community == cw.city.community_a2 and case.department is not None

    page = Client().get(reverse("casework:board")).content.decode()

    points = json_block(page, "board-map-points")
    assert [(p["lat"], p["lng"]) for p in points] == [PIN_A2]
    assert points[0]["label"] == "杏花社区：本页 1 条留言"
    assert str(pin[0]) not in page and str(pin[1]) not in page


@pytest.mark.parametrize(
    ("template", "sources"),
    [
        ("", []),
        ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", ["https://tile.openstreetmap.org"]),
        (
            "https://t{s}.tianditu.gov.cn/vec_w/wmts?TILEMATRIX={z}&tk={key}",
            ["https://*.tianditu.gov.cn"],
        ),
        ("/tiles/{z}/{x}/{y}.png", []),  # the platform's own tiles: 'self' already allows them
    ],
)
def test_csp_allows_only_the_configured_tile_host(template: str, sources: list[str]) -> None:
    assert tile_sources(template) == sources


def test_the_tile_key_goes_into_the_template(cw: Casework, settings: Any) -> None:
    settings.CIVICHUB_PROFILE = {
        "map_tiles": "https://t{s}.tianditu.gov.cn/vec_w/wmts?tk={key}",
        "map_tiles_key": "k123",
        "map_tiles_subdomains": "01234567",
    }

    page = client_for(cw.resident).get(reverse("casework:submit")).content.decode()

    assert 'data-tiles="https://t{s}.tianditu.gov.cn/vec_w/wmts?tk=k123"' in page
    assert 'data-subdomains="01234567"' in page
