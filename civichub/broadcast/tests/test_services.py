"""The broadcast services as specifications: publishing, editing, retracting, following,
reposting, favouriting, commenting, the merged home feed, and their audit rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from civichub.broadcast import selectors, services
from civichub.broadcast.models import Follow, Post, PostRevision, PostState, Repost
from civichub.core.errors import Conflict, NotAuthenticated, PermissionDenied, ValidationFailed
from civichub.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def publish(bc: Any, text: str = "元旦假期出行提示", **kwargs: Any) -> Post:
    kwargs.setdefault("category", "traffic")
    return services.post_publish(actor=bc.police_publisher, account=bc.police, text=text, **kwargs)


def test_publisher_posts_for_their_organisations_account_and_it_is_audited(bc: Any) -> None:
    post = publish(bc, text_en="Holiday travel advice")
    bc.police.refresh_from_db()
    assert post.state == PostState.PUBLISHED
    assert bc.police.posts_count == 1
    event = AuditEvent.objects.get(action="broadcast.post.publish", object_id=str(post.pk))
    assert event.actor == bc.police_publisher
    assert event.organisation_path == bc.city.police_city.path


def test_publisher_of_another_organisation_or_a_resident_may_not_post(bc: Any) -> None:
    for outsider in (bc.health_publisher, bc.resident_a):
        with pytest.raises(PermissionDenied):
            services.post_publish(
                actor=outsider, account=bc.police, text="冒名发布", category="news"
            )
    assert not Post.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"text": "长" * 501}, "text"),
        ({"text": "   "}, "text"),
        ({"category": "gossip"}, "category"),
        ({"target_area_ids": [999999]}, "target_areas"),
    ],
)
def test_bad_posts_are_refused_with_the_field_named(
    bc: Any, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        publish(bc, **fields)
    assert field in caught.value.errors
    assert not Post.objects.exists()


def test_a_department_is_not_a_target_area(bc: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        publish(bc, target_area_ids=[bc.city.health_a.pk])
    assert "target_areas" in caught.value.errors


def test_publishing_costs_the_same_whatever_the_follower_count(bc: Any, make_user: Any) -> None:
    def queries_to_publish() -> int:
        with CaptureQueriesContext(connection) as captured:
            publish(bc)
        return len(captured)

    publish(bc)  # warms the publisher's cached role lookup
    services.follow_create(actor=bc.resident_a, account_id=bc.police.pk)
    few = queries_to_publish()
    for _ in range(30):
        services.follow_create(actor=make_user(None, None), account_id=bc.police.pk)
    many = queries_to_publish()
    assert few == many


def test_scheduled_post_stays_out_of_feeds_until_its_time(bc: Any) -> None:
    services.follow_create(actor=bc.resident_a, account_id=bc.police.pk)
    later = timezone.now() + dt.timedelta(hours=2)
    scheduled = publish(bc, text="明早道路封闭", category="road_closure", publish_at=later)
    assert scheduled.published_at == later
    assert selectors.home_feed(bc.resident_a).posts == []
    Post.objects.filter(pk=scheduled.pk).update(published_at=timezone.now())
    assert [p.pk for p in selectors.home_feed(bc.resident_a).posts] == [scheduled.pk]


def test_edit_keeps_the_previous_text_as_visible_history(bc: Any) -> None:
    post = publish(bc, text="初稿")
    services.post_edit(actor=bc.police_publisher, post_id=post.pk, text="更正稿")
    post.refresh_from_db()
    assert post.text == "更正稿" and post.edited_at is not None
    assert list(PostRevision.objects.filter(post=post).values_list("text", flat=True)) == ["初稿"]
    assert AuditEvent.objects.filter(action="broadcast.post.edit").count() == 1


def test_retracted_post_leaves_feeds_and_cannot_be_edited_or_reposted(bc: Any) -> None:
    services.follow_create(actor=bc.resident_a, account_id=bc.police.pk)
    post = publish(bc)
    services.post_retract(actor=bc.police_publisher, post_id=post.pk, reason="信息有误")
    assert selectors.home_feed(bc.resident_a).posts == []
    with pytest.raises(Conflict):
        services.post_edit(actor=bc.police_publisher, post_id=post.pk, text="再改")
    with pytest.raises(Exception, match="没有这条发布"):
        services.repost_create(actor=bc.resident_a, post_id=post.pk)


def test_follow_is_idempotent_and_counted_once(bc: Any) -> None:
    services.follow_create(actor=bc.resident_a, account_id=bc.police.pk)
    services.follow_create(actor=bc.resident_a, account_id=bc.police.pk)
    bc.police.refresh_from_db()
    assert bc.police.followers_count == 1
    assert services.follow_delete(actor=bc.resident_a, account_id=bc.police.pk)
    bc.police.refresh_from_db()
    assert bc.police.followers_count == 0
    assert not Follow.objects.exists()


def test_anonymous_visitors_must_sign_in_to_interact(bc: Any) -> None:
    post = publish(bc)
    with pytest.raises(NotAuthenticated):
        services.repost_create(actor=None, post_id=post.pk)


def test_a_resident_reposts_a_post_once_and_a_repeat_is_a_clear_conflict(bc: Any) -> None:
    post = publish(bc)
    services.repost_create(actor=bc.resident_a, post_id=post.pk, comment="大家注意")
    with pytest.raises(Conflict, match="已转发"):
        services.repost_create(actor=bc.resident_a, post_id=post.pk)
    services.repost_create(actor=bc.resident_b, post_id=post.pk)
    assert selectors.post_counts(post.pk)[0] == 2 == Repost.objects.filter(post=post).count()
    assert services.repost_delete(actor=bc.resident_a, post_id=post.pk)
    assert selectors.post_counts(post.pk)[0] == 1


def test_favourite_twice_counts_once(bc: Any) -> None:
    post = publish(bc)
    first = services.favourite_create(actor=bc.resident_a, post_id=post.pk)
    assert services.favourite_create(actor=bc.resident_a, post_id=post.pk) == first
    assert selectors.post_counts(post.pk)[1] == 1


def test_comments_and_replies_form_a_thread_and_staff_hide_comments(bc: Any) -> None:
    post = publish(bc)
    question = services.comment_create(actor=bc.resident_a, post_id=post.pk, text="哪条路？")
    answer = services.comment_create(
        actor=bc.resident_b, post_id=post.pk, text="青山大道", parent_id=question.pk
    )
    services.comment_create(actor=bc.resident_a2, post_id=post.pk, text="谢谢")
    thread = selectors.thread(post)
    assert [c.pk for c in thread][:2] == [question.pk, answer.pk]
    assert [getattr(c, "depth", None) for c in thread] == [0, 1, 0]
    with pytest.raises(PermissionDenied):
        services.comment_hide(actor=bc.health_publisher, comment_id=answer.pk)
    services.comment_hide(actor=bc.police_publisher, comment_id=answer.pk)
    post.refresh_from_db()
    assert post.comments_count == 2
    assert answer.pk not in [c.pk for c in selectors.thread(post)]


def test_home_feed_merges_followed_accounts_newest_first_in_keyset_pages(bc: Any) -> None:
    services.follow_create(actor=bc.resident_a, account_id=bc.police.pk)
    services.follow_create(actor=bc.resident_a, account_id=bc.health.pk)
    base = timezone.now() - dt.timedelta(hours=1)
    made = []
    for i in range(7):
        account, actor = (
            (bc.police, bc.police_publisher) if i % 2 else (bc.health, bc.health_publisher)
        )
        post = services.post_publish(actor=actor, account=account, text=f"第{i}条", category="news")
        # Two posts share a timestamp so the id breaks the tie.
        Post.objects.filter(pk=post.pk).update(published_at=base + dt.timedelta(minutes=i // 2))
        made.append(post.pk)
    unfollowed = services.post_publish(
        actor=bc.police_publisher, account=bc.police, text="x", category="news"
    )
    services.follow_delete(actor=bc.resident_a, account_id=bc.police.pk)
    services.follow_create(actor=bc.resident_a, account_id=bc.police.pk)
    expected = [
        p.pk
        for p in Post.objects.filter(pk__in=[*made, unfollowed.pk]).order_by("-published_at", "-id")
    ]
    seen: list[int] = []
    cursor = None
    while True:
        page = selectors.home_feed(bc.resident_a, cursor=cursor, limit=3)
        seen += [p.pk for p in page.posts]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == expected
    assert selectors.home_feed(bc.resident_b).posts == []


def test_a_bad_cursor_is_a_validation_error(bc: Any) -> None:
    services.follow_create(actor=bc.resident_a, account_id=bc.police.pk)
    with pytest.raises(ValidationFailed):
        selectors.home_feed(bc.resident_a, cursor="yesterday")
