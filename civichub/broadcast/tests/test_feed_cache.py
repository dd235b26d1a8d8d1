"""The Atom feeds are built once per change and shared between readers (`core.publiccache`):
a post published, edited or retracted is in the feeds at the next read, and a post scheduled
for later appears at its time although nothing is written then."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import feedparser
import pytest
from django.test import Client
from django.utils import timezone

from civichub.broadcast import services
from civichub.broadcast.syndication import FEED_CACHE_SECONDS, _feed_seconds

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _public_cache(settings: Any) -> None:
    settings.PUBLIC_CACHE = True  # on with Redis; checked here on whichever cache the run has


FEED = "/broadcast/@safe-qingshan/feed.atom"
CATEGORY_FEED = "/broadcast/category/safety/feed.atom"


def titles(path: str) -> list[str]:
    response = Client().get(path)
    assert response.status_code == 200
    return [entry.title for entry in feedparser.parse(response.content).entries]


def test_a_second_read_of_a_feed_asks_the_database_nothing(
    bc: Any, after_commit: Callable[[], Any], django_assert_num_queries: Any
) -> None:
    # Committed, as a publisher's post is: until then its own transaction reads past the cache.
    with after_commit():
        services.post_publish(
            actor=bc.police_publisher,
            account=bc.police,
            text="警方提示：谨防诈骗",
            category="safety",
        )
    first = titles(FEED)
    with django_assert_num_queries(0):
        again = titles(FEED)
    assert first == again == ["警方提示：谨防诈骗"]


def test_published_edited_and_retracted_posts_are_in_the_feeds_at_the_next_read(bc: Any) -> None:
    first = services.post_publish(
        actor=bc.police_publisher, account=bc.police, text="警方提示：谨防诈骗", category="safety"
    )
    assert titles(FEED) == titles(CATEGORY_FEED) == ["警方提示：谨防诈骗"]

    services.post_publish(
        actor=bc.police_publisher, account=bc.police, text="夜间巡逻加强", category="safety"
    )
    assert titles(FEED) == titles(CATEGORY_FEED) == ["夜间巡逻加强", "警方提示：谨防诈骗"]

    services.post_edit(actor=bc.police_publisher, post_id=first.pk, text="警方提示：谨防电信诈骗")
    assert "警方提示：谨防电信诈骗" in titles(FEED)
    assert "警方提示：谨防电信诈骗" in titles(CATEGORY_FEED)

    services.post_retract(actor=bc.police_publisher, post_id=first.pk)
    assert titles(FEED) == titles(CATEGORY_FEED) == ["夜间巡逻加强"]


def test_a_feed_is_kept_no_longer_than_until_its_next_scheduled_post(bc: Any) -> None:
    assert _feed_seconds(account_id=bc.police.pk) == FEED_CACHE_SECONDS
    services.post_publish(
        actor=bc.police_publisher,
        account=bc.police,
        text="明早道路封闭",
        category="safety",
        publish_at=timezone.now() + dt.timedelta(seconds=40),
    )
    assert 0 < _feed_seconds(account_id=bc.police.pk) <= 40
    assert 0 < _feed_seconds(category="safety") <= 40
    assert _feed_seconds(account_id=bc.police.pk + 1000) == FEED_CACHE_SECONDS


def test_an_unknown_account_is_not_found_every_time(bc: Any) -> None:
    assert Client().get("/broadcast/@nobody-here/feed.atom").status_code == 404
    assert Client().get("/broadcast/@nobody-here/feed.atom").status_code == 404
