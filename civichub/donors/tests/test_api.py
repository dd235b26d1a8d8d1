"""The donors API, each response checked against the committed OpenAPI document: a hospital's
request, the donor's answer by the signed link, marks, problems for bad input and refusals."""

from __future__ import annotations

from typing import Any

import pytest

from civichub.donors import services
from civichub.donors.links import call_up_token
from civichub.donors.models import BloodRequest, CallUp
from civichub.donors.tests.conftest import HOSPITAL_LAT, HOSPITAL_LNG

pytestmark = pytest.mark.django_db


def _payload(hospital: Any, **values: Any) -> dict[str, Any]:
    return {
        "hospital_id": hospital.pk,
        "component": "red_cells",
        "units": 1,
        "patient_abo": "unknown",
        "patient_rhd": "unknown",
        "address": "输血科",
        "latitude": HOSPITAL_LAT,
        "longitude": HOSPITAL_LNG,
        "crs": "wgs84",
        **values,
    }


def test_a_request_through_the_api_to_a_met_request(
    api_as: Any, hospital: Any, staff: Any, make_donor: Any
) -> None:
    make_donor("O", "neg", km=1)
    client = api_as(staff["hospital"])
    created = client.post("/api/donors/requests", _payload(hospital))
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["donor_groups"] == ["O-"]  # unknown group and RhD: O RhD-negative only
    services.call_up_wave(request_id=body["id"])
    call_up = CallUp.objects.get()
    answer = api_as(None).post(f"/api/donors/answers/{call_up_token(call_up)}", {"accept": True})
    assert answer.status_code == 200
    assert answer.json()["changed"] is True
    assert answer.json()["address"] == "输血科"
    marked = client.post(f"/api/donors/call-ups/{call_up.pk}/mark", {"state": "donated"})
    assert marked.status_code == 200
    assert marked.json()["status"] == "met"
    row = marked.json()["call_ups"][0]
    assert set(row) >= {"group", "community", "band_km"}
    assert "phone" not in row and "name" not in row and "address" not in row
    late = api_as(None).post(f"/api/donors/answers/{call_up_token(call_up)}", {"accept": False})
    assert late.json() == {
        "changed": False,
        "state": "donated",
        "check_in_code": "",
        "address": "",
    }


def test_bad_input_is_a_problem_and_nothing_is_stored(
    api_as: Any, hospital: Any, staff: Any
) -> None:
    client = api_as(staff["hospital"])
    response = client.post(
        "/api/donors/requests", _payload(hospital, units=0, patient_rhd="neg", anti_d=True)
    )
    assert response.status_code == 422
    assert response["content-type"].startswith("application/problem+json")
    assert BloodRequest.objects.count() == 0
    wrong_group = client.post("/api/donors/requests", _payload(hospital, patient_abo="C"))
    assert wrong_group.status_code == 422


def test_a_forged_link_is_refused(api_as: Any) -> None:
    response = api_as(None).post("/api/donors/answers/not-a-token", {"accept": True})
    assert response.status_code == 403


def test_a_community_worker_cannot_create_requests(api_as: Any, hospital: Any, staff: Any) -> None:
    response = api_as(staff["worker"]).post("/api/donors/requests", _payload(hospital))
    assert response.status_code == 403


def test_the_centre_registers_donors_and_duplicates_merge(
    api_as: Any, city: Any, staff: Any
) -> None:
    client = api_as(staff["centre"])
    payload = {
        "name": "李娜",
        "phone": "13700000000",
        "community_id": city.community_a1.pk,
        "sex": "female",
        "birth_date": "1992-04-01",
        "weight_kg": 52,
        "abo": "AB",
        "rhd": "neg",
        "health_consent": True,
        "location_consent": True,
        "latitude": 30.66,
        "longitude": 104.06,
        "identity_number": "11010519491231002X",
        "verified": True,
    }
    first = client.post("/api/donors/donors", payload)
    assert first.status_code == 201
    again = client.post("/api/donors/donors", {**payload, "weight_kg": 55})
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["group"] == "AB-"
    refused = client.post("/api/donors/donors", {**payload, "weight_kg": 500})
    assert refused.status_code == 422
