"""Broadcast's measures for the statistics module: posts by category, read once after the last
post counted, and views from the hourly buckets, an hour once it is over."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from civichub.broadcast import services
from civichub.broadcast.measures import post_measures, reach_measures
from civichub.broadcast.tests.conftest import Broadcast

pytestmark = pytest.mark.django_db


def test_posts_are_counted_once_under_the_accounts_organisation(bc: Broadcast) -> None:
    services.post_publish(
        actor=bc.police_publisher, account=bc.police, text="夜间注意防盗。", category="safety"
    )
    services.post_publish(
        actor=bc.health_publisher,
        account=bc.health,
        text="流感疫苗开始接种。",
        category="public_health",
    )
    later = timezone.now() + dt.timedelta(minutes=1)

    first = post_measures(after="", until=later, limit=100)
    again = post_measures(after=first.watermark, until=later, limit=100)

    assert sorted((c.organisation_id, c.breakdown) for c in first.contributions) == sorted(
        [(bc.city.police_city.pk, "safety"), (bc.city.health_a.pk, "public_health")]
    )
    assert again.contributions == [] and again.watermark == first.watermark


def test_views_count_once_their_hour_is_over(bc: Broadcast) -> None:
    post = services.post_publish(
        actor=bc.police_publisher, account=bc.police, text="夜间注意防盗。", category="safety"
    )
    for reader in (bc.resident_a, bc.resident_b):
        services.post_view_record(viewer=reader, post=post)
    now = timezone.now()

    during = reach_measures(after="", until=now, limit=0)
    assert during.contributions == []

    after_the_hour = now + dt.timedelta(hours=1)
    done = reach_measures(after=during.watermark, until=after_the_hour, limit=0)
    again = reach_measures(after=done.watermark, until=after_the_hour, limit=0)

    assert [(c.organisation_id, c.value) for c in done.contributions] == [
        (bc.city.police_city.pk, 2.0)
    ]
    assert again.contributions == []
