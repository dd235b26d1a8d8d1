"""The casework API at /api/casework/: every response is checked against docs/openapi.json."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from civichub.casework import services
from civichub.casework.models import Case, CaseStatus
from civichub.casework.tests.conftest import PIN_A1, Casework, jpeg_with_gps
from civichub.testing.images import plain_png

pytestmark = pytest.mark.django_db

CASE = {
    "kind": "complaint",
    "title": "医院挂号难",
    "text": "社区医院每天挂号排队很久，看病很难。",
    "latitude": PIN_A1[0],
    "longitude": PIN_A1[1],
    "crs": "wgs84",
    "is_public": True,
}


def test_resident_sends_staff_reply_and_the_resident_rates_through_the_api(
    cw: Casework, api_as: Callable[..., Any], after_commit: Callable[[], Any]
) -> None:
    resident = api_as(cw.resident)
    with after_commit():
        sent = resident.post("/api/casework/cases", CASE)
    assert sent.status_code == 201, sent.content
    number = sent.json()["tracking_number"]
    assert sent.json()["access_code"] == ""

    handler = api_as(cw.handler)
    inbox = handler.get("/api/casework/cases", q="挂号")
    assert [c["tracking_number"] for c in inbox.json()["items"]] == [number]
    detail = handler.get(f"/api/casework/cases/{number}", purpose="办理")
    assert detail.json()["contact_phone"] == "" and detail.json()["department_id"] == (
        cw.city.health_a.pk
    )
    assert (
        handler.post(
            f"/api/casework/cases/{number}/replies", {"text": "已协调增加号源。"}
        ).status_code
        == 201
    )

    own = resident.get(f"/api/casework/cases/{number}").json()
    assert own["status"] == "replied" and own["contact_phone"] is None
    events = resident.get(f"/api/casework/cases/{number}/events").json()
    assert [e["kind"] for e in events] == ["submitted", "routed", "reply"]
    assert all(e["actor"] == "" for e in events)
    rated = resident.post(f"/api/casework/cases/{number}/rating", {"value": "satisfied"})
    assert rated.status_code == 201
    assert resident.get("/api/casework/cases/mine").json()["items"][0]["status"] == "closed"

    board = api_as(None).get("/api/casework/board", q="挂号").json()
    assert board["total"] == 1
    entry = board["items"][0]
    assert entry["replies"][0]["text"] == "已协调增加号源。"
    assert "contact_phone" not in entry and "latitude" not in entry


def test_a_progress_reply_through_the_api_is_not_open_to_rating(
    cw: Casework, api_as: Callable[..., Any], after_commit: Callable[[], Any]
) -> None:
    resident = api_as(cw.resident)
    with after_commit():
        number = resident.post("/api/casework/cases", CASE).json()["tracking_number"]
    handler = api_as(cw.handler)
    progress = handler.post(
        f"/api/casework/cases/{number}/replies", {"text": "明天派人处理。", "resolved": False}
    )
    assert progress.status_code == 201, progress.content
    assert resident.get(f"/api/casework/cases/{number}").json()["status"] == "in_progress"
    refused = resident.post(f"/api/casework/cases/{number}/rating", {"value": "satisfied"})
    assert refused.status_code == 409
    assert refused["Content-Type"].startswith("application/problem+json")
    assert resident.get(f"/api/casework/cases/{number}").json()["status"] == "in_progress"


def test_anonymous_sender_verifies_sends_and_rates_with_the_access_code(
    cw: Casework, api_as: Callable[..., Any], after_commit: Callable[[], Any]
) -> None:
    client = api_as(None)
    with mock.patch("civichub.casework.services.contacts.secrets.randbelow", return_value=424242):
        started = client.post(
            "/api/casework/verifications", {"channel": "email", "address": "a@example.org"}
        )
    assert started.status_code == 201
    verification_id, token = started.json()["id"], started.json()["token"]
    wrong = client.post(
        f"/api/casework/verifications/{verification_id}/confirm", {"code": "0000", "token": token}
    )
    assert wrong.status_code == 422 and wrong["Content-Type"] == "application/problem+json"
    confirmed = client.post(
        f"/api/casework/verifications/{verification_id}/confirm",
        {"code": "424242", "token": token},
    )
    assert confirmed.json()["verified"] is True

    with after_commit():
        sent = client.post(
            "/api/casework/cases/anonymous",
            {**CASE, "verification_id": verification_id, "verification_token": token},
        )
    assert sent.status_code == 201
    number, code = sent.json()["tracking_number"], sent.json()["access_code"]
    services.case_reply(actor=cw.handler, case=Case.objects.get(), text="答复")

    tracked = client.post("/api/casework/track", {"tracking_number": number, "access_code": code})
    assert tracked.json()["case"]["status"] == "replied"
    bad = client.post("/api/casework/track", {"tracking_number": number, "access_code": "nope"})
    assert bad.status_code == 404
    rated = client.post(
        "/api/casework/track/rating",
        {"tracking_number": number, "access_code": code, "value": "unsatisfied", "comment": "慢"},
    )
    assert rated.status_code == 201
    assert Case.objects.get().status == CaseStatus.REOPENED


def _verified(client: Any, address: str, code: int) -> dict[str, Any]:
    """Starts and confirms a verification by email through the API; the start's answer."""
    with mock.patch("civichub.casework.services.contacts.secrets.randbelow", return_value=code):
        started = client.post(
            "/api/casework/verifications", {"channel": "email", "address": address}
        )
    assert started.status_code == 201, started.content
    body: dict[str, Any] = started.json()
    confirmed = client.post(
        f"/api/casework/verifications/{body['id']}/confirm",
        {"code": f"{code:06d}", "token": body.get("token", "")},
    )
    assert confirmed.json()["verified"] is True
    return body


def test_a_verification_serves_only_the_client_that_started_it(
    cw: Casework, api_as: Callable[..., Any]
) -> None:
    victim = _verified(api_as(None), "victim@example.org", 111111)
    attacker_client = api_as(None)
    with mock.patch("civichub.casework.services.contacts.secrets.randbelow", return_value=222222):
        attacker = attacker_client.post(
            "/api/casework/verifications", {"channel": "email", "address": "evil@example.org"}
        ).json()

    bare_id = attacker_client.post(
        "/api/casework/cases/anonymous", {**CASE, "verification_id": victim["id"]}
    )
    own_token = attacker_client.post(
        "/api/casework/cases/anonymous",
        {**CASE, "verification_id": victim["id"], "verification_token": attacker.get("token", "")},
    )
    own_unconfirmed = attacker_client.post(
        "/api/casework/cases/anonymous",
        {**CASE, "verification_id": attacker["id"], "verification_token": attacker["token"]},
    )
    confirm_victims = attacker_client.post(
        f"/api/casework/verifications/{victim['id']}/confirm",
        {"code": "111111", "token": attacker.get("token", "")},
    )

    for refused in (bare_id, own_token, own_unconfirmed):
        assert refused.status_code == 422, refused.content
        assert refused["Content-Type"] == "application/problem+json"
    assert confirm_victims.status_code == 404
    assert not Case.objects.exists()


def test_bad_input_gets_problem_details(cw: Casework, api_as: Callable[..., Any]) -> None:
    resident = api_as(cw.resident)

    missing = resident.post("/api/casework/cases", {"kind": "rumour"})
    half_pin = resident.post("/api/casework/cases", {**CASE, "longitude": None})
    no_verification = api_as(None).post(
        "/api/casework/cases/anonymous", {**CASE, "verification_id": 999}
    )
    not_signed_in = api_as(None).post("/api/casework/cases", CASE)

    assert missing.status_code == 422 and set(missing.json()["errors"]) >= {"kind", "text"}
    assert half_pin.status_code == 422 and "location" in half_pin.json()["errors"]
    assert no_verification.status_code == 422
    assert not_signed_in.status_code == 401
    for response in (missing, half_pin, no_verification, not_signed_in):
        assert response["Content-Type"] == "application/problem+json"
    assert not Case.objects.exists()


def test_staff_actions_are_refused_out_of_scope(
    cw: Casework, api_as: Callable[..., Any], submit: Callable[..., Case]
) -> None:
    case = submit()

    other = api_as(cw.worker_b1)
    hidden = other.get(f"/api/casework/cases/{case.tracking_number}")
    refused = other.post(f"/api/casework/cases/{case.tracking_number}/replies", {"text": "x"})
    resident = api_as(cw.resident).post(
        f"/api/casework/cases/{case.tracking_number}/replies", {"text": "x"}
    )

    assert hidden.status_code == 403 and refused.status_code == 403
    assert resident.status_code == 403
    assert api_as(cw.worker_b1).get("/api/casework/cases").json()["total"] == 0


def test_transfer_merge_extension_and_duplicates_through_the_api(
    cw: Casework, api_as: Callable[..., Any], submit: Callable[..., Case]
) -> None:
    first = submit(text="桃源社区医院挂号排队太长，看病要等半天。")
    second = submit(text="桃源社区医院挂号排队很长，看病要等半天！")
    head = api_as(cw.head)

    duplicates = head.get(f"/api/casework/cases/{second.tracking_number}/duplicates").json()
    assert duplicates[0]["tracking_number"] == first.tracking_number
    merged = head.post(
        f"/api/casework/cases/{second.tracking_number}/merge",
        {"into": first.tracking_number, "reason": "同一问题"},
    )
    assert merged.json()["merged_into"] == first.tracking_number

    requested = api_as(cw.handler).post(
        f"/api/casework/cases/{first.tracking_number}/extension", {"days": 3, "reason": "核查"}
    )
    assert requested.json()["extension_state"] == "requested"
    decided = head.post(
        f"/api/casework/cases/{first.tracking_number}/extension/decision", {"approve": False}
    )
    assert decided.json()["extension_state"] == "rejected"

    moved = head.post(
        f"/api/casework/cases/{first.tracking_number}/transfer",
        {"reason": "治安问题", "category": "security"},
    )
    assert moved.json()["department_id"] == cw.city.police_city.pk
    assert head.get(f"/api/casework/cases/{first.tracking_number}").status_code == 403


def test_photos_upload_strips_location_and_refuses_wrong_types(
    cw: Casework, api_as: Callable[..., Any], submit: Callable[..., Case]
) -> None:
    case = submit()
    client = api_as(cw.resident)
    url = f"/api/casework/cases/{case.tracking_number}/photos"

    good = client.client.post(
        url,
        {"photos": [SimpleUploadedFile("p.jpg", jpeg_with_gps(), "image/jpeg")]},
        headers=_csrf(client),
    )
    bad = client.client.post(
        url,
        {"photos": [SimpleUploadedFile("p.jpg", b"GIF89a not really", "image/jpeg")]},
        headers=_csrf(client),
    )

    assert good.status_code == 201, good.content
    assert good.json()[0]["location_kept"] is False
    assert bad.status_code == 422 and "photos.0" in bad.json()["errors"]
    assert case.photos.count() == 1


def test_a_photo_made_to_be_costly_to_decode_is_refused_at_once(
    cw: Casework, api_as: Callable[..., Any], submit: Callable[..., Case]
) -> None:
    case = submit()
    client = api_as(cw.resident)
    bomb = plain_png(6300, 6300)  # 131 KB, 39.7 million pixels

    started = time.perf_counter()
    refused = client.client.post(
        f"/api/casework/cases/{case.tracking_number}/photos",
        {"photos": [SimpleUploadedFile("bomb.png", bomb, "image/png")]},
        headers=_csrf(client),
    )
    elapsed = time.perf_counter() - started

    assert refused.status_code == 422, refused.content
    assert refused["Content-Type"] == "application/problem+json"
    assert "photos.0" in refused.json()["errors"]
    assert elapsed < 0.5  # decoding and re-encoding it took 1.6 s and 300 MB
    assert case.photos.count() == 0


def _csrf(client: Any) -> dict[str, str]:
    from django.middleware.csrf import get_token
    from django.test import RequestFactory

    token = get_token(RequestFactory().get("/"))
    client.client.cookies["csrftoken"] = token
    return {"X-CSRFToken": token}


def test_categories_and_statistics(cw: Casework, api_as: Callable[..., Any]) -> None:
    services.category_attribute_create(
        actor=None,
        category=cw.health,
        code="ward",
        datatype="singlevaluelist",
        description="科室",
        values=[{"key": "er", "name": "急诊"}],
    )
    categories = api_as(None).get("/api/casework/categories").json()
    stats = api_as(cw.dispatcher).get(
        "/api/casework/statistics", since="2026-01-01", until="2026-12-31"
    )
    refused = api_as(cw.handler).get(
        "/api/casework/statistics", since="2026-01-01", until="2026-12-31"
    )

    health = next(c for c in categories if c["key"] == "health")
    assert health["attributes"][0]["values"] == [{"key": "er", "name": "急诊"}]
    assert stats.status_code == 200 and stats.json()["total"]["volume"] == 0
    assert refused.status_code == 403


def test_a_close_whose_body_is_not_an_object_is_refused_and_the_case_stays_open(
    cw: Casework, api_as: Callable[..., Any], after_commit: Callable[[], Any]
) -> None:
    with after_commit():
        number = api_as(cw.resident).post("/api/casework/cases", CASE).json()["tracking_number"]
    handler = api_as(cw.handler)
    # Answered, so that an empty closing note would be accepted: only the body's type is wrong.
    assert (
        handler.post(f"/api/casework/cases/{number}/replies", {"text": "已协调。"}).status_code
        == 201
    )
    refused = handler.post(f"/api/casework/cases/{number}/close", 3.1e16)
    assert refused.status_code == 422 and "request" in refused.json()["errors"]
    assert refused["Content-Type"] == "application/problem+json"
    assert Case.objects.get(tracking_number=number).status != CaseStatus.CLOSED


@pytest.mark.parametrize("who", ["dispatcher", "resident", "outsider"])
def test_triage_with_an_empty_category_is_a_422_for_anyone(
    cw: Casework, api_as: Callable[..., Any], submit: Callable[..., Case], who: str
) -> None:
    number = submit().tracking_number
    response = api_as(getattr(cw, who)).post(
        f"/api/casework/cases/{number}/triage", {"category": ""}
    )
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert "category" in response.json()["errors"]


def _list_queries(client: Any, path: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, response.content
    return len(captured.captured_queries)


def test_the_senders_own_list_and_the_inbox_cost_the_same_queries_for_more_messages(
    cw: Casework, api_as: Callable[..., Any], after_commit: Callable[[], Any]
) -> None:
    resident, handler = api_as(cw.resident), api_as(cw.handler)
    with after_commit():
        assert resident.post("/api/casework/cases", CASE).status_code == 201
    own_one = _list_queries(resident, "/api/casework/cases/mine")
    inbox_one = _list_queries(handler, "/api/casework/cases")
    for _ in range(4):
        with after_commit():
            assert resident.post("/api/casework/cases", CASE).status_code == 201
    mine = resident.get("/api/casework/cases/mine").json()
    assert mine["total"] == 5 and all(item["community_name"] for item in mine["items"])
    assert _list_queries(resident, "/api/casework/cases/mine") == own_one
    assert _list_queries(handler, "/api/casework/cases") == inbox_one
    inbox = handler.get("/api/casework/cases").json()
    assert inbox["total"] == 5 and inbox["items"][0]["department_name"]
    assert inbox["items"][0]["due_state"] in ("", "near", "overdue")
