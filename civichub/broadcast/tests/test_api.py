"""The API at /api/broadcast/, every response checked against docs/openapi.json."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from civichub.broadcast.models import Post

pytestmark = pytest.mark.django_db


def test_publish_follow_feed_repost_favourite_comment_through_the_api(bc: Any, api_as: Any) -> None:
    publisher = api_as(bc.police_publisher)
    created = publisher.post(
        "/api/broadcast/accounts/safe-qingshan/posts",
        {
            "text": "青山大道封闭施工",
            "text_en": "Qingshan Avenue closed",
            "category": "road_closure",
        },
    )
    assert created.status_code == 201, created.content
    post_id = created.json()["id"]

    resident = api_as(bc.resident_a)
    assert resident.post("/api/broadcast/accounts/safe-qingshan/follow").json()["following"]
    home = resident.get("/api/broadcast/home")
    assert [p["id"] for p in home.json()["posts"]] == [post_id]

    assert (
        resident.post(f"/api/broadcast/posts/{post_id}/reposts", {"comment": "扩散"}).status_code
        == 201
    )
    again = resident.post(f"/api/broadcast/posts/{post_id}/reposts", {})
    assert again.status_code == 409
    assert again["Content-Type"] == "application/problem+json"
    assert (
        resident.post(f"/api/broadcast/posts/{post_id}/favourites").json()["favourites_count"] == 1
    )
    question = resident.post(f"/api/broadcast/posts/{post_id}/comments", {"text": "到几点？"})
    assert question.status_code == 201
    reply = api_as(bc.resident_b).post(
        f"/api/broadcast/posts/{post_id}/comments",
        {"text": "到月底", "parent_id": question.json()["id"]},
    )
    assert reply.json()["depth"] == 1
    thread = api_as(None).get(f"/api/broadcast/posts/{post_id}/comments").json()
    assert [c["text"] for c in thread] == ["到几点？", "到月底"]

    edited = publisher.patch(f"/api/broadcast/posts/{post_id}", {"text": "青山大道夜间封闭施工"})
    assert edited.json()["edited_at"] is not None
    counts = api_as(None).get(f"/api/broadcast/posts/{post_id}").json()
    assert (counts["reposts_count"], counts["favourites_count"], counts["comments_count"]) == (
        1,
        1,
        2,
    )


def test_bad_input_gets_problem_answers(bc: Any, api_as: Any) -> None:
    publisher = api_as(bc.police_publisher)
    too_long = publisher.post(
        "/api/broadcast/accounts/safe-qingshan/posts", {"text": "长" * 501, "category": "news"}
    )
    assert too_long.status_code == 422 and "text" in too_long.json()["errors"]
    unknown_area = publisher.post(
        "/api/broadcast/accounts/safe-qingshan/posts",
        {"text": "通知", "category": "notice", "target_area_ids": [424242]},
    )
    assert unknown_area.status_code == 422
    resident = api_as(bc.resident_a).post(
        "/api/broadcast/accounts/safe-qingshan/posts", {"text": "冒充", "category": "news"}
    )
    assert resident.status_code == 403
    anonymous = api_as(None).post("/api/broadcast/accounts/safe-qingshan/follow")
    assert anonymous.status_code == 401
    assert not Post.objects.exists()


def test_alert_through_the_api_with_its_delivery_report(
    bc: Any, api_as: Any, after_commit: Any
) -> None:
    publisher = api_as(bc.police_publisher)
    expires = (timezone.now() + dt.timedelta(hours=2)).isoformat()
    with after_commit():
        created = publisher.post(
            "/api/broadcast/accounts/safe-qingshan/posts",
            {
                "text": "东湖区危化品泄漏，请关闭门窗。",
                "category": "safety",
                "target_area_ids": [bc.city.district_a.pk],
                "alert": {
                    "category": "CBRNE",
                    "event": "危化品泄漏",
                    "urgency": "Immediate",
                    "severity": "Severe",
                    "certainty": "Observed",
                    "expires": expires,
                    "instruction": "关闭门窗",
                },
            },
        )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["alert"]["cap_url"].endswith(f"/broadcast/posts/{body['id']}/cap.xml")
    report = publisher.get(f"/api/broadcast/posts/{body['id']}/delivery-report").json()
    assert report["recipients"] == 2
    assert (
        api_as(bc.resident_a).get(f"/api/broadcast/posts/{body['id']}/delivery-report").status_code
        == 403
    )
    bad = publisher.post(
        "/api/broadcast/accounts/safe-qingshan/posts",
        {
            "text": "x",
            "category": "safety",
            "target_area_ids": [bc.city.district_a.pk],
            "alert": {
                "category": "Geo",
                "event": "地震",
                "urgency": "Now",
                "severity": "Severe",
                "certainty": "Observed",
                "expires": expires,
            },
        },
    )
    assert bad.status_code == 422 and "urgency" in bad.json()["errors"]


@pytest.mark.parametrize("what", ["reposts", "favourites"])
def test_undoing_on_a_post_id_beyond_64_bits_is_a_422(bc: Any, api_as: Any, what: str) -> None:
    response = api_as(bc.resident_a).delete(f"/api/broadcast/posts/{2**64}/{what}")
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert "post_id" in response.json()["errors"]
