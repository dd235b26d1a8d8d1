"""The reach report of an account and of a post, for the account's staff: followers, views by
signed-in readers, reposts and favourites per hour, as an accessible SVG chart with a data
table, a CSV download and the API. Views are counted atomically in hourly buckets."""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading
from typing import Any

import pytest
from django.db import close_old_connections, connection
from django.test import Client
from django.utils import timezone

from civichub.broadcast import selectors, services
from civichub.broadcast.models import FollowerHour, Post, PostViewHour
from civichub.core.errors import NotAuthenticated, PermissionDenied, ValidationFailed

pytestmark = pytest.mark.django_db


def publish(bc: Any, text: str = "元旦假期出行提示") -> Post:
    return services.post_publish(
        actor=bc.police_publisher, account=bc.police, text=text, category="traffic"
    )


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def this_hour(report: selectors.ReachReport) -> selectors.ReachHour:
    return report.hours[-1]


def test_views_by_signed_in_readers_count_on_the_page_and_in_the_api(bc: Any, api_as: Any) -> None:
    post = publish(bc)
    signed_in(bc.resident_a).get(f"/broadcast/posts/{post.pk}/")
    signed_in(bc.resident_b).get(f"/broadcast/posts/{post.pk}/")
    Client().get(f"/broadcast/posts/{post.pk}/")  # anonymous: not counted
    api_as(bc.resident_a).get(f"/api/broadcast/posts/{post.pk}")
    api_as(None).get(f"/api/broadcast/posts/{post.pk}")  # anonymous: not counted
    assert list(PostViewHour.objects.values_list("post_id", "views")) == [(post.pk, 3)]
    report = selectors.reach_report(bc.police_publisher, bc.police, post=post)
    assert report.views == 3 and this_hour(report).views == 3


def test_reposts_favourites_and_followers_are_reported_per_hour(bc: Any) -> None:
    post = publish(bc)
    other = publish(bc, "第二条")
    for resident in (bc.resident_a, bc.resident_a2, bc.resident_b):
        services.follow_create(actor=resident, account_id=bc.police.pk)
    services.follow_delete(actor=bc.resident_b, account_id=bc.police.pk)
    services.repost_create(actor=bc.resident_a, post_id=post.pk)
    services.repost_create(actor=bc.resident_b, post_id=other.pk)
    services.favourite_create(actor=bc.resident_a2, post_id=post.pk)

    account = selectors.reach_report(bc.police_publisher, bc.police, days=1)
    assert len(account.hours) == 24
    assert (account.followers, account.reposts, account.favourites) == (2, 2, 1)
    now = this_hour(account)
    assert (now.reposts, now.favourites, now.followers) == (2, 1, 2)
    # Before this hour's three follows and one unfollow the account had no followers.
    assert account.hours[-2].followers == 0
    assert FollowerHour.objects.get(account=bc.police).gained == 3

    one = selectors.reach_report(bc.police_publisher, bc.police, post=post, days=1)
    assert (one.reposts, one.favourites, this_hour(one).reposts) == (1, 1, 1)


def test_only_the_accounts_staff_see_reach_and_the_range_is_checked(bc: Any) -> None:
    post = publish(bc)
    for outsider in (bc.health_publisher, bc.resident_a):
        with pytest.raises(PermissionDenied):
            selectors.reach_report(outsider, bc.police, post=post)
    with pytest.raises(NotAuthenticated):
        selectors.reach_report(None, bc.police, post=post)
    with pytest.raises(ValidationFailed) as caught:
        selectors.reach_report(bc.police_publisher, bc.police, days=3)
    assert "days" in caught.value.errors
    assert signed_in(bc.resident_a).get("/broadcast/@safe-qingshan/reach/").status_code == 403


def test_reach_page_has_an_accessible_chart_a_data_table_and_a_csv(bc: Any) -> None:
    post = publish(bc)
    services.repost_create(actor=bc.resident_a, post_id=post.pk)
    signed_in(bc.resident_b).get(f"/broadcast/posts/{post.pk}/")
    staff = signed_in(bc.police_publisher)
    page = staff.get("/broadcast/@safe-qingshan/reach/").content.decode()
    # Four hourly charts and the one of every channel's total.
    assert page.count('role="img"') == 5 and "<desc" in page and "<table" in page
    assert 'class="bar-reposts"' in page and 'class="bar-views"' in page
    one_post = staff.get(f"/broadcast/posts/{post.pk}/reach/?days=30")
    assert one_post.status_code == 200

    download = staff.get("/broadcast/@safe-qingshan/reach/?days=1&format=csv")
    assert download["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.content.decode())))
    assert len(rows) == 24
    assert (rows[-1]["views"], rows[-1]["reposts"]) == ("1", "1")
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    assert rows[-1]["hour_utc"] == hour.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%MZ")


def test_reach_through_the_api(bc: Any, api_as: Any) -> None:
    post = publish(bc)
    services.favourite_create(actor=bc.resident_a, post_id=post.pk)
    staff = api_as(bc.police_publisher)
    answer = staff.get("/api/broadcast/accounts/safe-qingshan/reach", days=1)
    assert answer.status_code == 200, answer.content
    report = answer.json()
    assert report["favourites"] == 1 and len(report["hours"]) == 24
    assert report["hours"][-1]["favourites"] == 1
    assert staff.get(f"/api/broadcast/posts/{post.pk}/reach").json()["post_id"] == post.pk
    assert staff.get("/api/broadcast/accounts/safe-qingshan/reach", days=2).status_code == 422
    denied = api_as(bc.resident_a).get("/api/broadcast/accounts/safe-qingshan/reach")
    assert denied.status_code == 403


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_views_are_all_counted(bc: Any) -> None:
    if connection.vendor == "sqlite":
        pytest.skip("concurrent writers need PostgreSQL; SQLite serialises them")
    post = publish(bc)
    readers = [bc.resident_a, bc.resident_a2, bc.resident_b] * 10

    def view(user: Any) -> None:
        try:
            services.post_view_record(viewer=user, post=post)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=view, args=(u,)) for u in readers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(PostViewHour.objects.filter(post=post).values_list("views", flat=True)) == 30


def test_a_posts_reach_opens_on_the_shortest_range_that_covers_its_life(bc: Any) -> None:
    staff = Client()
    staff.force_login(bc.police_publisher)
    fresh = publish(bc, "刚发布的提示")
    page = staff.get(f"/broadcast/posts/{fresh.pk}/reach/").content.decode()
    assert '<strong aria-current="page">最近 1 天</strong>' in page
    older = publish(bc, "十天前的提示")
    Post.objects.filter(pk=older.pk).update(published_at=timezone.now() - dt.timedelta(days=10))
    page = staff.get(f"/broadcast/posts/{older.pk}/reach/").content.decode()
    assert '<strong aria-current="page">最近 30 天</strong>' in page
    # The account's report and an explicit choice keep their range.
    assert '<strong aria-current="page">最近 7 天</strong>' in (
        staff.get("/broadcast/@safe-qingshan/reach/").content.decode()
    )
    assert '<strong aria-current="page">最近 7 天</strong>' in (
        staff.get(f"/broadcast/posts/{older.pk}/reach/?days=7").content.decode()
    )
