"""Broadcast's public notices are found by the portal's search, in a group of their own, and
follow each post: published, edited, retracted. Across two modules that import each other
nowhere (the portal reads broadcast's `searchable_notices`; broadcast tells the portal's
`public_notice_changed` of each post written)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django_tasks import default_task_backend

from civichub.broadcast import services as broadcast
from civichub.broadcast.models import Post
from civichub.portal import selectors, services
from civichub.portal.models import SearchEntry
from civichub.testing.city import SmallCity

pytestmark = pytest.mark.django_db

TEXT = "青山区自来水管网检修：本周六8时至18时桃源路沿线停水，请提前储水。"


@pytest.fixture(autouse=True)
def immediate_tasks(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


def _account(city: SmallCity) -> Any:
    return broadcast.account_create(
        actor=None, organisation=city.city, handle="qingshan", name="青山发布", verified=True
    )


def _notice_titles(query: str) -> list[str]:
    return [h.title for h in selectors.service_search(text=query).notices]


def test_a_published_notice_is_found_edited_and_gone_once_retracted(
    city: SmallCity, django_capture_on_commit_callbacks: Any
) -> None:
    account = _account(city)
    with django_capture_on_commit_callbacks(execute=True):
        post = broadcast.post_publish(
            actor=None, account=account, text=TEXT, text_en="Water mains repair", category="notice"
        )
    found = selectors.service_search(text="停水")
    assert [h.kind for h in found.notices] == ["notice"]
    assert found.notices[0].url == f"/broadcast/posts/{post.pk}/"
    assert "<mark>停水</mark>" in str(found.notices[0].summary)
    assert all(h.kind == "service" for h in found.services)

    with django_capture_on_commit_callbacks(execute=True):
        broadcast.post_edit(actor=None, post_id=post.pk, text=TEXT.replace("停水", "降压供水"))
    assert _notice_titles("停水") == []
    assert len(_notice_titles("降压供水")) == 1

    with django_capture_on_commit_callbacks(execute=True):
        broadcast.post_retract(actor=None, post_id=post.pk)
    assert _notice_titles("降压供水") == []
    assert not SearchEntry.objects.filter(kind="notice").exists()


def test_old_and_expired_notices_leave_the_search_and_the_api_groups_them(
    city: SmallCity, django_capture_on_commit_callbacks: Any
) -> None:
    account = _account(city)
    with django_capture_on_commit_callbacks(execute=True):
        kept = broadcast.post_publish(actor=None, account=account, text=TEXT, category="notice")
        old = broadcast.post_publish(
            actor=None, account=account, text="去年的停水通知：桃源路", category="notice"
        )
        expired = broadcast.post_publish(
            actor=None, account=account, text="已过期的停水提醒：桃源路", category="notice"
        )
    assert len(_notice_titles("停水")) == 3
    Post.objects.filter(pk=old.pk).update(published_at=timezone.now() - dt.timedelta(days=400))
    Post.objects.filter(pk=expired.pk).update(cap_expires=timezone.now() - dt.timedelta(hours=1))
    assert services.notices_reindex() == 1
    assert _notice_titles("停水") == [TEXT[:60]]

    body = Client().get("/api/portal/search", {"q": "停水"}).json()
    assert set(body) >= {"services", "notices", "faqs", "datasets"}
    assert [(h["kind"], h["code"]) for h in body["notices"]] == [("notice", "")]
    assert body["notices"][0]["url"] == f"/broadcast/posts/{kept.pk}/"
    page = Client().get("/services/", {"q": "停水"}).content.decode()
    assert "通知公告" in page and f"/broadcast/posts/{kept.pk}/" in page


def test_a_scheduled_notice_is_found_from_its_time_on(
    city: SmallCity, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """The index is told when a scheduled post becomes a notice: a task held until that time
    indexes it then, not the daily refresh."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    account = _account(city)
    at = timezone.now() + dt.timedelta(seconds=1)
    with django_capture_on_commit_callbacks(execute=True):
        post = broadcast.post_publish(
            actor=None, account=account, text=TEXT, category="notice", publish_at=at
        )
    results = default_task_backend.results  # type: ignore[attr-defined]
    reindexes = [r for r in results if r.task.name == "notice_reindex"]
    assert {r.task.run_after for r in reindexes} == {None, at}
    assert all(r.args == [post.pk] for r in reindexes)
    for result in reindexes:  # all of them now: before its time the post is no notice yet
        assert result.task.call(*result.args) == 0
    assert _notice_titles("停水") == []

    time.sleep(max(0.0, (at - timezone.now()).total_seconds()) + 0.05)
    [then] = [r for r in reindexes if r.task.run_after == at]
    assert then.task.call(*then.args) == 1
    assert _notice_titles("停水") == [TEXT[:60]]
