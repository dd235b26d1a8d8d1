"""The data hub API, every response checked against the committed OpenAPI document."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest

from civichub.datahub.models import ImportBatch, Person
from civichub.datahub.tests.conftest import ZHANG_WEI, Hub, police_row
from civichub.testing.city import staff_user

pytestmark = pytest.mark.django_db


def _item(rid: str, name: str, **extra: object) -> dict[str, object]:
    return {"record_id": rid, "name": name, "birth_date": "1950-02-03", "gender": "女", **extra}


def test_a_department_pushes_records_and_reads_the_refusals(
    hub: Hub, api_as: Callable[..., Any], django_capture_on_commit_callbacks: Any
) -> None:
    civil = api_as(hub.steward)
    assert (
        civil.post(
            "/api/datahub/sources/civil_affairs/records", {"items": [_item("C1", "x")]}
        ).status_code
        == 404
    )  # the police's steward does not see civil affairs
    steward = staff_user("data_steward", hub.civil_affairs)
    client = api_as(steward)
    with django_capture_on_commit_callbacks(execute=True):
        pushed = client.post(
            "/api/datahub/sources/civil_affairs/records",
            {
                "items": [
                    _item("C1", "李秀英", dibao=True),
                    _item("C2", "王兰", disability_grade="二"),
                ]
            },
        )
    assert pushed.status_code == 201
    batch = client.get(f"/api/datahub/imports/{pushed.json()['id']}").json()
    assert (batch["status"], batch["rows_accepted"], batch["rows_rejected"]) == ("done", 1, 1)
    rejects = client.get(f"/api/datahub/imports/{batch['id']}/rejects").json()
    assert rejects == [
        {
            "row_number": 2,
            "code": "integer_invalid",
            "field": "disability_grade",
            "message": rejects[0]["message"],
        }
    ]
    sources = {s["key"]: s for s in client.get("/api/datahub/sources").json()}
    assert sources["civil_affairs"]["rows_accepted"] == 1
    refused = client.post(f"/api/datahub/imports/{batch['id']}/rollback")
    assert refused.status_code == 200 and refused.json()["status"] == "rolled_back"


def test_an_agreement_made_over_the_api_scopes_the_read(
    hub: Hub, api_as: Callable[..., Any], police_import: Callable[..., ImportBatch]
) -> None:
    police_import([police_row("P1", "张伟", ZHANG_WEI, "1980-01-01", "男")])
    person = Person.objects.get()
    head = api_as(hub.health_head)
    body = {
        "source": "health",
        "reader_id": hub.city.health_a.pk,
        "role": "family_doctor",
        "area_id": hub.city.city.pk,
        "attributes": ["blood_group"],
        "purpose": "紧急用血",
        "legal_basis": "献血法",
        "valid_from": "2025-01-01",
    }
    assert (
        head.post("/api/datahub/agreements", {**body, "attributes": ["religion"]}).status_code
        == 422
    )
    created = head.post("/api/datahub/agreements", body)
    assert created.status_code == 201
    doctor = api_as(hub.doctor)
    url = f"/api/datahub/persons/{person.pk}/attributes"
    assert doctor.get(url, purpose="体检").status_code == 403
    doctor.headers["X-Acting-User"] = "CN-doctor-7"
    read = doctor.get(url, purpose="紧急用血", names="blood_group,address")
    assert read.status_code == 200
    assert read.json()["values"] == [] and read.json()["withheld"] == ["address", "blood_group"]
    (logged,) = api_as(hub.auditor).get("/api/datahub/exchange-log").json()
    assert (logged["client"], logged["service"], logged["acting_user"], logged["purpose"]) == (
        hub.doctor.username,
        "datahub.person.attributes",
        "CN-doctor-7",
        "紧急用血",
    )
    assert logged["request_id"] == read["X-Request-ID"]
    assert hashlib.sha256(read.content).hexdigest() == logged["response_hash"]
    assert api_as(hub.doctor).get("/api/datahub/exchange-log").status_code == 200
    assert api_as(hub.doctor).get("/api/datahub/exchange-log").json() == []
    mine = api_as(hub.resident_user).get("/api/datahub/me").json()
    assert mine["person_id"] == person.pk
    assert [(a["role"], a["purpose"]) for a in mine["accesses"]] == [("family_doctor", "紧急用血")]
    resident = api_as(hub.resident_user)
    value_id = next(v["id"] for v in mine["values"] if v["name"] == "household_number")
    asked = resident.post(
        "/api/datahub/me/corrections", {"value_id": value_id, "reason": "户号有误"}
    )
    assert asked.status_code == 201 and asked.json()["status"] == "open"
    (open_request,) = api_as(hub.steward).get("/api/datahub/corrections").json()
    answered = api_as(hub.steward).post(
        f"/api/datahub/corrections/{open_request['id']}/answer",
        {"corrected": False, "answer": "核对无误"},
    )
    assert answered.status_code == 200 and answered.json()["status"] == "declined"
    assert head.post(f"/api/datahub/agreements/{created.json()['id']}/end").status_code == 200
    assert doctor.get(url, purpose="紧急用血").status_code == 403


def test_a_reviewer_settles_a_pair_over_the_api(
    hub: Hub,
    api_as: Callable[..., Any],
    police_import: Callable[..., ImportBatch],
    health_import: Callable[..., ImportBatch],
) -> None:
    police_import([police_row("P1", "张伟", "", "1980-03-04", "男")])
    health_import([["D1", "章伟", "", "1980-04-03", "男", "", "", "刘医生", "无", "A", None]])
    worker = api_as(hub.worker)
    (item,) = worker.get("/api/datahub/reviews").json()
    decided = worker.post(f"/api/datahub/reviews/{item['id']}/decision", {"same": False})
    assert decided.status_code == 200 and decided.json()["status"] == "different"
    assert (
        worker.post(f"/api/datahub/reviews/{item['id']}/decision", {"same": True}).status_code
        == 409
    )
    assert Person.objects.count() == 2


def test_a_client_past_its_rate_is_refused(
    hub: Hub, api_as: Callable[..., Any], settings: Any
) -> None:
    settings.CIVICHUB_DATAHUB = {"exchange_calls_per_minute": 2}
    steward = staff_user("data_steward", hub.civil_affairs)
    client = api_as(steward)
    url = "/api/datahub/sources/civil_affairs/records"
    body = {"items": [{"record_id": "C1", "name": "李秀英"}]}
    assert [client.post(url, body).status_code for _ in range(3)] == [201, 201, 429]
