"""The pages: account, post with its thread, home feed, compose and alert compose with the CAP
preview. Forms work without JavaScript: they post and redirect."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from civichub.broadcast import selectors, services
from civichub.broadcast.models import Post
from civichub.notify.models import Notification

pytestmark = pytest.mark.django_db


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_resident_follows_an_account_and_sees_its_posts_on_the_home_feed(bc: Any) -> None:
    client = signed_in(bc.resident_a)
    page = client.get("/broadcast/@safe-qingshan/")
    assert page.status_code == 200 and "平安青山" in page.content.decode()
    assert client.post("/broadcast/@safe-qingshan/follow/").status_code == 302
    services.post_publish(
        actor=bc.police_publisher, account=bc.police, text="假期高速免费通行", category="traffic"
    )
    home = client.get("/broadcast/").content.decode()
    assert "假期高速免费通行" in home


def test_a_visitor_reads_every_accounts_public_posts_not_the_login_page(bc: Any) -> None:
    services.post_publish(
        actor=bc.police_publisher, account=bc.police, text="假期高速免费通行", category="traffic"
    )
    services.post_publish(
        actor=bc.health_publisher, account=bc.health, text="流感疫苗开始接种", category="notice"
    )
    response = Client().get("/broadcast/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "假期高速免费通行" in page and "流感疫苗开始接种" in page
    assert 'name="password"' not in page
    assert "/accounts/login/?next=/broadcast/" in page
    assert not response.cookies  # nothing of one browser's: the page may be shared


def test_a_visitors_public_posts_page_on_to_older_posts(bc: Any) -> None:
    for number in range(25):
        services.post_publish(
            actor=bc.police_publisher,
            account=bc.police,
            text=f"第{number}号通知",
            category="notice",
        )
    first = Client().get("/broadcast/").content.decode()
    assert "第24号通知" in first and "第0号通知" not in first
    cursor = first.split("?cursor=", 1)[1].split('"', 1)[0]
    older = Client().get(f"/broadcast/?cursor={cursor}").content.decode()
    assert "第0号通知" in older and "第24号通知" not in older


def test_repost_favourite_and_comment_through_the_post_page(bc: Any) -> None:
    post = services.post_publish(
        actor=bc.police_publisher, account=bc.police, text="道路封闭通知", category="road_closure"
    )
    client = signed_in(bc.resident_a)
    url = f"/broadcast/posts/{post.pk}/"
    client.post(url + "repost/", {"comment": "扩散"})
    again = client.post(url + "repost/", follow=True).content.decode()
    assert "您已转发过这条发布。" in again
    client.post(url + "favourite/")
    client.post(url + "comment/", {"text": "几点恢复？"})
    assert selectors.post_counts(post.pk) == (1, 1, 1)
    assert "几点恢复？" in client.get(url).content.decode()


def test_publisher_composes_a_scheduled_post(bc: Any) -> None:
    client = signed_in(bc.police_publisher)
    assert client.get("/broadcast/@safe-qingshan/compose/").status_code == 200
    later = (timezone.localtime() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        "/broadcast/@safe-qingshan/compose/",
        {"text": "明日演练", "category": "notice", "publish_at": later},
    )
    assert response.status_code == 302
    assert Post.objects.get().published_at > timezone.now()
    too_long = client.post(
        "/broadcast/@safe-qingshan/compose/", {"text": "长" * 501, "category": "notice"}
    )
    assert too_long.status_code == 422 and "500" in too_long.content.decode()


def test_residents_may_not_open_the_compose_page(bc: Any) -> None:
    assert signed_in(bc.resident_a).get("/broadcast/@safe-qingshan/compose/").status_code == 403


def test_alert_compose_previews_the_cap_document_then_publishes_and_pushes(
    bc: Any, after_commit: Any
) -> None:
    client = signed_in(bc.police_publisher)
    expires = (timezone.localtime() + dt.timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M")
    form = {
        "text": "东湖区燃气泄漏，请撤离。",
        "category": "safety",
        "target_areas": [str(bc.city.district_a.pk)],
        "cap_event": "燃气泄漏",
        "cap_category": "Safety",
        "cap_urgency": "Immediate",
        "cap_severity": "Severe",
        "cap_certainty": "Observed",
        "cap_expires": expires,
        "cap_instruction": "立即撤离",
    }
    preview = client.post("/broadcast/@safe-qingshan/alert/", {**form, "preview": "1"})
    assert preview.status_code == 200
    assert "&lt;cap:msgType&gt;Alert" in preview.content.decode() or "msgType&gt;Alert" in (
        preview.content.decode()
    )
    assert not Post.objects.exists()
    with after_commit():
        response = client.post("/broadcast/@safe-qingshan/alert/", form)
    assert response.status_code == 302
    post = Post.objects.get()
    assert post.is_alert
    assert Notification.objects.filter(recipient=bc.resident_a).exists()
    assert not Notification.objects.filter(recipient=bc.resident_b).exists()
    report = client.get(f"/broadcast/posts/{post.pk}/").content.decode()
    assert "送达情况" in report


def test_publisher_edits_a_post_on_its_page_and_the_old_text_stays_in_its_history(
    bc: Any,
) -> None:
    post = services.post_publish(
        actor=bc.police_publisher, account=bc.police, text="周六封路", category="road_closure"
    )
    url = f"/broadcast/posts/{post.pk}/"
    assert "保存修改" not in signed_in(bc.resident_a).get(url).content.decode()
    publisher = signed_in(bc.police_publisher)
    page = publisher.post(url + "edit/", {"text": "周日封路", "text_en": ""}, follow=True)
    html = page.content.decode()
    assert "周日封路" in html and "修改记录" in html and "周六封路" in html
    too_long = publisher.post(url + "edit/", {"text": "长" * 501}, follow=True).content.decode()
    assert "最多 500 个字" in too_long
    post.refresh_from_db()
    assert post.text == "周日封路"
    refused = signed_in(bc.resident_a).post(url + "edit/", {"text": "冒改"}, follow=True)
    assert "您无权在此执行该操作" in refused.content.decode()
    assert "broadcast.post." not in refused.content.decode()  # no internal code shown
    post.refresh_from_db()
    assert post.text == "周日封路"


def test_post_page_shows_what_the_reader_already_did_and_who_commented(bc: Any) -> None:
    post = services.post_publish(
        actor=bc.police_publisher, account=bc.police, text="道路封闭通知", category="road_closure"
    )
    client = signed_in(bc.resident_a)
    url = f"/broadcast/posts/{post.pk}/"
    before = client.get(url).content.decode()
    assert "repost-comment" in before and "您已转发" not in before
    client.post(url + "repost/", {"comment": "扩散"})
    client.post(url + "favourite/")
    client.post(url + "comment/", {"text": "几点恢复？"})
    after = client.get(url).content.decode()
    # The buttons turn into what happened; the comment names its author.
    assert "您已转发" in after and "repost-comment" not in after
    assert "您已收藏" in after and f"{url}favourite/" not in after
    assert f"{bc.resident_a.display_name()} · " in after


def test_withdrawing_a_post_does_not_look_like_favouriting_it(bc: Any) -> None:
    post = services.post_publish(
        actor=bc.police_publisher, account=bc.police, text="周六封路", category="road_closure"
    )
    page = signed_in(bc.police_publisher).get(f"/broadcast/posts/{post.pk}/").content.decode()
    assert re.search(r'<button type="submit" class="danger"[^>]*>撤回这条发布</button>', page)
