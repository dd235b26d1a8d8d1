"""Bad input everywhere gets a clear error in the interface's own format (a named field on the
page, an RFC 7807 problem with `errors` in the API), and nothing accepted is lost or counted
twice: a form or request sent twice publishes once, a repeated repost counts once."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from civichub.broadcast import services
from civichub.broadcast.models import Post, Repost

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


def test_the_compose_form_sent_twice_publishes_once(bc: Any) -> None:
    client = Client()
    client.force_login(bc.police_publisher)
    url = "/broadcast/@safe-qingshan/compose/"
    form = client.get(url).content.decode()
    token = form.split('name="submission" value="')[1].split('"')[0]
    sent = {"text": "周六上午地铁二号线停运", "category": "traffic", "submission": token}
    first = client.post(url, sent)
    again = client.post(url, sent, follow=True)
    assert Post.objects.count() == 1
    post = Post.objects.get()
    assert first["Location"] == f"/broadcast/posts/{post.pk}/"
    assert again.redirect_chain[-1][0] == f"/broadcast/posts/{post.pk}/"
    assert "已经发布过" in again.content.decode()


def test_a_refused_form_can_be_corrected_and_sent_with_the_same_token(bc: Any) -> None:
    client = Client()
    client.force_login(bc.police_publisher)
    url = "/broadcast/@safe-qingshan/compose/"
    refused = client.post(url, {"text": "", "category": "traffic", "submission": "t-1"})
    assert refused.status_code == 422 and 'value="t-1"' in refused.content.decode()
    assert client.post(url, {"text": "改好了", "category": "traffic", "submission": "t-1"})[
        "Location"
    ].startswith("/broadcast/posts/")
    assert Post.objects.get().text == "改好了"


def test_an_api_retry_with_the_same_idempotency_key_gives_back_the_first_post(
    bc: Any, api_as: Any
) -> None:
    publisher = api_as(bc.police_publisher)
    publisher.headers["Idempotency-Key"] = "retry-7f3a"
    body = {"text": "台风过境，公交停运", "category": "weather"}
    first = publisher.post("/api/broadcast/accounts/safe-qingshan/posts", body)
    second = publisher.post("/api/broadcast/accounts/safe-qingshan/posts", body)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"] and Post.objects.count() == 1
    publisher.headers["Idempotency-Key"] = "another"
    publisher.post("/api/broadcast/accounts/safe-qingshan/posts", body)
    assert Post.objects.count() == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "长" * 501, "category": "news"}, "text"),
        ({"text": "通知", "category": "news", "target_area_ids": [424242]}, "target_areas"),
        ({"text": "通知", "category": "news", "media_ids": [424242]}, "media_ids"),
        (
            {
                "text": "预警",
                "category": "weather",
                "target_area_ids": "DISTRICT",
                "alert": {
                    "category": "Met",
                    "event": "暴雨",
                    "urgency": "Soon",
                    "severity": "Severe",
                    "certainty": "Likely",
                    "expires": "2099-01-01T00:00:00Z",
                },
            },
            "urgency",
        ),
        (
            {
                "text": "预警",
                "category": "weather",
                "target_area_ids": "DISTRICT",
                "alert": {
                    "category": "Met",
                    "event": "暴雨",
                    "urgency": "Immediate",
                    "severity": "Severe",
                    "certainty": "Likely",
                    "expires": "2001-01-01T00:00:00Z",
                },
            },
            "expires",
        ),
    ],
    ids=["oversized", "unknown-area", "unknown-image", "bad-urgency", "expired"],
)
def test_bad_posts_in_the_api_are_problems_naming_the_field(
    bc: Any, api_as: Any, body: dict[str, Any], field: str
) -> None:
    if body.get("target_area_ids") == "DISTRICT":
        body = {**body, "target_area_ids": [bc.city.district_a.pk]}
    answer = api_as(bc.police_publisher).post("/api/broadcast/accounts/safe-qingshan/posts", body)
    assert answer.status_code == 422
    assert answer["Content-Type"] == "application/problem+json"
    assert field in answer.json()["errors"]
    assert not Post.objects.exists()


def test_a_repeated_repost_is_a_conflict_and_counts_once(bc: Any, api_as: Any) -> None:
    post = services.post_publish(
        actor=bc.police_publisher,
        account=bc.police,
        text="转发测试",
        category="news",
        publish_at=timezone.now() - dt.timedelta(seconds=1),
    )
    resident = api_as(bc.resident_a)
    assert resident.post(f"/api/broadcast/posts/{post.pk}/reposts", {}).status_code == 201
    again = resident.post(f"/api/broadcast/posts/{post.pk}/reposts", {})
    assert again.status_code == 409 and "post" in again.json()["errors"]
    assert Repost.objects.filter(post=post).count() == 1
    assert resident.get(f"/api/broadcast/posts/{post.pk}").json()["reposts_count"] == 1
