"""Comment moderation by the account's staff: hide and show again, block a user from
commenting and reposting, and keyword filters that hold comments for review. Every change is
audited; the page, the API and the services agree."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from civichub.broadcast import selectors, services
from civichub.broadcast.models import Block, Comment, Post, Repost
from civichub.core.errors import PermissionDenied, ValidationFailed
from civichub.core.models import AuditEvent
from civichub.testing.summaries import described_by, summary_targets

pytestmark = pytest.mark.django_db


def publish(bc: Any, text: str = "元旦假期出行提示") -> Post:
    return services.post_publish(
        actor=bc.police_publisher, account=bc.police, text=text, category="traffic"
    )


def comments_count(post: Post) -> int:
    post.refresh_from_db()
    return post.comments_count


def test_staff_hide_a_comment_and_show_it_again_and_the_count_follows(bc: Any) -> None:
    post = publish(bc)
    comment = services.comment_create(actor=bc.resident_a, post_id=post.pk, text="说得好")
    services.comment_hide(actor=bc.police_publisher, comment_id=comment.pk, reason="离题")
    assert selectors.thread(post) == [] and comments_count(post) == 0
    services.comment_hide(actor=bc.police_publisher, comment_id=comment.pk)  # twice: no change
    assert comments_count(post) == 0
    services.comment_unhide(actor=bc.police_publisher, comment_id=comment.pk)
    assert [c.pk for c in selectors.thread(post)] == [comment.pk] and comments_count(post) == 1
    actions = list(
        AuditEvent.objects.filter(object_id=str(comment.pk), action__startswith="broadcast.comment")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "broadcast.comment.create",
        "broadcast.comment.hide",
        "broadcast.comment.unhide",
    ]


def test_only_the_accounts_own_staff_moderate(bc: Any) -> None:
    post = publish(bc)
    comment = services.comment_create(actor=bc.resident_a, post_id=post.pk, text="说得好")
    for outsider in (bc.health_publisher, bc.resident_b):
        with pytest.raises(PermissionDenied):
            services.comment_hide(actor=outsider, comment_id=comment.pk)
        with pytest.raises(PermissionDenied):
            services.block_create(actor=outsider, account=bc.police, user_id=bc.resident_a.pk)
        with pytest.raises(PermissionDenied):
            services.keyword_filter_add(actor=outsider, account=bc.police, word="广告")
        with pytest.raises(PermissionDenied):
            selectors.moderation(outsider, bc.police)
    comment.refresh_from_db()
    assert not comment.hidden and not Block.objects.exists()


def test_a_blocked_user_may_neither_comment_nor_repost_on_that_account_only(bc: Any) -> None:
    post = publish(bc)
    health_post = services.post_publish(
        actor=bc.health_publisher, account=bc.health, text="接种通知", category="public_health"
    )
    services.block_create(
        actor=bc.police_publisher, account=bc.police, user_id=bc.resident_a.pk, reason="刷屏"
    )
    with pytest.raises(PermissionDenied) as caught:
        services.comment_create(actor=bc.resident_a, post_id=post.pk, text="再来一条")
    assert "post" in caught.value.errors
    with pytest.raises(PermissionDenied):
        services.repost_create(actor=bc.resident_a, post_id=post.pk)
    assert not Comment.objects.filter(post=post).exists()
    assert not Repost.objects.exists() and comments_count(post) == 0
    # Other residents, and the blocked user on another account, carry on.
    services.comment_create(actor=bc.resident_b, post_id=post.pk, text="收到")
    services.comment_create(actor=bc.resident_a, post_id=health_post.pk, text="几点开始？")
    assert AuditEvent.objects.filter(action="broadcast.block.create").count() == 1

    assert services.block_delete(
        actor=bc.police_publisher, account=bc.police, user_id=bc.resident_a.pk
    )
    services.repost_create(actor=bc.resident_a, post_id=post.pk)
    assert AuditEvent.objects.filter(action="broadcast.block.delete").count() == 1


def test_a_filtered_word_holds_the_comment_until_staff_release_it(bc: Any) -> None:
    post = publish(bc)
    services.keyword_filter_add(actor=bc.police_publisher, account=bc.police, word="Spam")
    held = services.comment_create(
        actor=bc.resident_a, post_id=post.pk, text="加微信 SPAM123 领红包"
    )
    clean = services.comment_create(actor=bc.resident_b, post_id=post.pk, text="谢谢提醒")
    assert held.held and held.hidden and not clean.held
    assert [c.pk for c in selectors.thread(post)] == [clean.pk]
    assert comments_count(post) == 1
    queue = selectors.moderation(bc.police_publisher, bc.police)
    assert [c.pk for c in queue.held] == [held.pk]
    assert [k.word for k in queue.keyword_filters] == ["Spam"]

    services.comment_unhide(actor=bc.police_publisher, comment_id=held.pk)
    assert {c.pk for c in selectors.thread(post)} == {held.pk, clean.pk}
    assert comments_count(post) == 2
    assert selectors.moderation(bc.police_publisher, bc.police).held == []
    assert AuditEvent.objects.filter(
        action="broadcast.comment.release", object_id=str(held.pk)
    ).exists()


def test_rejecting_a_held_comment_keeps_it_hidden_and_uncounted(bc: Any) -> None:
    post = publish(bc)
    services.keyword_filter_add(actor=bc.police_publisher, account=bc.police, word="广告")
    held = services.comment_create(actor=bc.resident_a, post_id=post.pk, text="广告：低价")
    services.comment_hide(actor=bc.police_publisher, comment_id=held.pk)
    held.refresh_from_db()
    assert held.hidden and not held.held and comments_count(post) == 0
    queue = selectors.moderation(bc.police_publisher, bc.police)
    assert queue.held == [] and [c.pk for c in queue.hidden] == [held.pk]


def test_removing_a_filter_stops_holding_and_bad_words_are_refused(bc: Any) -> None:
    post = publish(bc)
    keyword = services.keyword_filter_add(actor=bc.police_publisher, account=bc.police, word="广告")
    again = services.keyword_filter_add(actor=bc.police_publisher, account=bc.police, word="广告")
    assert again.pk == keyword.pk
    assert services.keyword_filter_remove(
        actor=bc.police_publisher, account=bc.police, filter_id=keyword.pk
    )
    assert not services.comment_create(actor=bc.resident_a, post_id=post.pk, text="广告位").held
    for word in ("   ", "长" * 51):
        with pytest.raises(ValidationFailed) as caught:
            services.keyword_filter_add(actor=bc.police_publisher, account=bc.police, word=word)
        assert "word" in caught.value.errors
    assert AuditEvent.objects.filter(action="broadcast.keyword_filter.add").count() == 1
    assert AuditEvent.objects.filter(action="broadcast.keyword_filter.remove").count() == 1


def test_moderation_through_the_api(bc: Any, api_as: Any) -> None:
    post = publish(bc)
    staff = api_as(bc.police_publisher)
    added = staff.post("/api/broadcast/accounts/safe-qingshan/keyword-filters", {"word": "红包"})
    assert added.status_code == 201
    made = api_as(bc.resident_a).post(
        f"/api/broadcast/posts/{post.pk}/comments", {"text": "抢红包啦"}
    )
    assert made.status_code == 201 and made.json()["held"] is True
    queue = staff.get("/api/broadcast/accounts/safe-qingshan/moderation").json()
    assert [c["id"] for c in queue["held"]] == [made.json()["id"]]
    assert queue["held"][0]["author_id"] == bc.resident_a.pk

    released = staff.post(f"/api/broadcast/comments/{made.json()['id']}/unhide")
    assert released.status_code == 200 and released.json()["held"] is False
    blocked = staff.post(
        "/api/broadcast/accounts/safe-qingshan/blocks",
        {"user_id": bc.resident_a.pk, "reason": "广告"},
    )
    assert blocked.status_code == 201
    refused = api_as(bc.resident_a).post(f"/api/broadcast/posts/{post.pk}/reposts", {})
    assert refused.status_code == 403
    assert refused["Content-Type"] == "application/problem+json"
    assert "post" in refused.json()["errors"]
    nobody = staff.post("/api/broadcast/accounts/safe-qingshan/blocks", {"user_id": 999999})
    assert nobody.status_code == 422 and "user_id" in nobody.json()["errors"]
    assert (
        api_as(bc.resident_b).get("/api/broadcast/accounts/safe-qingshan/moderation").status_code
        == 403
    )

    assert (
        staff.delete(f"/api/broadcast/accounts/safe-qingshan/blocks/{bc.resident_a.pk}").status_code
        == 204
    )
    keyword_id = added.json()["id"]
    assert (
        staff.delete(
            f"/api/broadcast/accounts/safe-qingshan/keyword-filters/{keyword_id}"
        ).status_code
        == 204
    )
    assert staff.get("/api/broadcast/accounts/safe-qingshan/moderation").json() == {
        "held": [],
        "hidden": [],
        "blocks": [],
        "keyword_filters": [],
    }


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_moderation_page_releases_blocks_and_filters_without_javascript(bc: Any) -> None:
    post = publish(bc)
    staff = signed_in(bc.police_publisher)
    url = "/broadcast/@safe-qingshan/moderation/"
    assert signed_in(bc.resident_a).get(url).status_code == 403
    assert staff.post(url, {"action": "filter_add", "word": "代购"}).status_code == 302

    resident = signed_in(bc.resident_a)
    answer = resident.post(
        f"/broadcast/posts/{post.pk}/comment/", {"text": "专业代购"}, follow=True
    ).content.decode()
    assert "审核后显示" in answer and "专业代购" not in answer
    page = staff.get(url).content.decode()
    assert "专业代购" in page and "代购" in page

    held = Comment.objects.get(text="专业代购")
    staff.post(url, {"action": "release", "comment_id": held.pk})
    assert "专业代购" in resident.get(f"/broadcast/posts/{post.pk}/").content.decode()

    staff.post(url, {"action": "block", "user_id": bc.resident_a.pk})
    refused = resident.post(
        f"/broadcast/posts/{post.pk}/comment/", {"text": "又来了"}, follow=True
    ).content.decode()
    assert "禁止您评论和转发" in refused
    assert not Comment.objects.filter(text="又来了").exists()
    # In the shared summary at the comment's box, which keeps what was typed.
    assert summary_targets(refused) == ["comment-text"] and ">又来了</textarea>" in refused
    assert described_by(refused, "comment-text") == ["comment-text-error"]

    empty = staff.post(url, {"action": "filter_add", "word": " "})
    assert empty.status_code == 422 and "内容不能为空" in empty.content.decode()
    assert summary_targets(empty.content.decode()) == ["word"]
    assert described_by(empty.content.decode(), "word") == ["word-error"]
    # A step made by a button alone, refused: at the heading of the list it is about.
    unknown = staff.post(url, {"action": "block", "user_id": "0"})
    assert unknown.status_code == 422 and "没有这个用户。" in unknown.content.decode()
    assert summary_targets(unknown.content.decode()) == ["blocks-h"]


def test_refused_actions_on_a_post_are_summarised_at_their_controls(bc: Any) -> None:
    """Repost and edit refused on the post's page: each in the shared summary,
    linked to the control it came from (the edit's box opened, its text kept), and an edit of a
    retracted post at the page's heading."""
    post = publish(bc)
    page = f"/broadcast/posts/{post.pk}/"
    staff = signed_in(bc.police_publisher)
    staff.post(
        "/broadcast/@safe-qingshan/moderation/", {"action": "block", "user_id": bc.resident_a.pk}
    )
    reposted = signed_in(bc.resident_a).post(f"{page}repost/", {"comment": "转给邻居"})
    assert reposted.status_code == 422
    html = reposted.content.decode()
    assert summary_targets(html) == ["repost-comment"] and 'value="转给邻居"' in html
    assert described_by(html, "repost-comment") == ["repost-comment-error"]
    edited = staff.post(f"{page}edit/", {"text": " ", "text_en": "Drill"})
    html = edited.content.decode()
    assert edited.status_code == 422 and summary_targets(html) == ["edit-text"]
    assert "<details open>" in html and ">Drill</textarea>" in html
    assert staff.post(f"{page}retract/").status_code == 302
    again = staff.post(f"{page}edit/", {"text": "改"})
    assert again.status_code == 422 and summary_targets(again.content.decode()) == ["post-h"]
