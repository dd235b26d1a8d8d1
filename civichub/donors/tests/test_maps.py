"""The donors' maps: the board's requests at their hospital, and a request's page with the
hospital and the coarse areas of its called and accepting donors, never a donor's own cell or
point (staff see a community and a distance band, on the map an area of about 5 km²)."""

from __future__ import annotations

import json
import re
from typing import Any

import h3
import pytest
from django.test import Client

from civichub.donors import selectors, services
from civichub.donors.models import CallUp

pytestmark = pytest.mark.django_db


def _points(html: str, block: str) -> list[dict[str, Any]]:
    found = re.search(rf'<script id="{block}" type="application/json">(.*?)</script>', html, re.S)
    assert found is not None, f"no {block} on the page"
    return list(json.loads(found.group(1)))


def test_a_requests_map_shows_the_hospital_and_only_the_donors_coarse_areas(
    staff: Any, make_donor: Any, make_request: Any
) -> None:
    near = make_donor("A", km=1.0)
    same_area = make_donor("A", km=1.2)
    far = make_donor("O", km=4.0)
    declined = make_donor("O", km=3.0)
    request = make_request(units=3)
    services.call_up_wave(request_id=request.pk)
    called = {c.donor_id: c for c in CallUp.objects.filter(request=request)}
    assert set(called) == {near.pk, same_area.pk, far.pk, declined.pk}
    services.call_up_respond(call_up=called[near.pk], accept=True)
    services.call_up_respond(call_up=called[declined.pk], accept=False)

    client = Client()
    client.force_login(staff["hospital"])
    html = client.get(f"/donors/requests/{request.pk}/").content.decode()
    points = _points(html, "request-map-points")

    hospital, *areas = points
    assert hospital["label"].startswith("东湖区人民医院（献血地点）")
    assert hospital["lat"] == pytest.approx(request.latitude, abs=1e-6)
    # One marker per search cell of the called and accepting donors, at the cell's centre:
    # never a donor's own (finer) cell centre; a declined donor is not on the map.
    expected = {near.search_cell, same_area.search_cell, far.search_cell}
    centres = {tuple(round(v, 5) for v in h3.cell_to_latlng(c)) for c in expected}
    assert {(round(p["lat"], 5), round(p["lng"], 5)) for p in areas} == centres
    own = {(round(d.cell_lat, 5), round(d.cell_lng, 5)) for d in (near, same_area, far, declined)}
    assert not own & {(round(p["lat"], 5), round(p["lng"], 5)) for p in areas}
    mine = next(p for p in areas if "已接受 1" in p["label"])
    assert "donors-state-accepted" in mine["kind"] and "不是住址" in mine["label"]
    assert all(p["url"] == "" for p in areas)
    # The words of the page name no donor and no address.
    assert "献血者" not in "".join(p["label"] for p in points).replace("献血者所在区域", "")
    assert request.address not in html.split('id="live"')[0]


def test_a_donor_without_location_consent_is_not_on_the_map(
    staff: Any, make_donor: Any, make_request: Any
) -> None:
    donor = make_donor("A", km=1.0)
    request = make_request()
    services.call_up_wave(request_id=request.pk)
    services.donor_consent_withdraw(actor=staff["centre"], donor=donor, which="location")
    points = selectors.request_map_points(actor=staff["hospital"], blood_request=request)
    assert len(points) == 1  # the hospital alone


def test_the_board_shows_each_request_at_its_hospital_leading_to_it(
    staff: Any, make_request: Any
) -> None:
    first, second = make_request(), make_request(component="platelets")
    client = Client()
    client.force_login(staff["hospital"])
    points = _points(client.get("/donors/").content.decode(), "board-map-points")
    assert sorted(p["url"] for p in points) == sorted(
        [f"/donors/requests/{first.pk}/", f"/donors/requests/{second.pk}/"]
    )
    assert all("donors-hospital" in p["kind"] for p in points)
