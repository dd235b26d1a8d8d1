"""The demo's broadcast data: two verified accounts run by the demo publisher, posts (one with
a described picture), an alert for the first district in its residents' inboxes, and the demo
resident's follows, repost, comments (one held by a keyword filter) and area subscription."""

from __future__ import annotations

from typing import Any

import pytest

from civichub.broadcast import selectors
from civichub.broadcast.demo import POSTS, seed
from civichub.broadcast.models import AreaSubscription, BroadcastAccount, Post, PostImage
from civichub.core import services as core
from civichub.core.permissions import allowed
from civichub.notify.models import Notification

pytestmark = pytest.mark.django_db


def test_the_demo_fills_the_broadcast_pages(city: Any, make_user: Any, after_commit: Any) -> None:
    publisher = make_user(None, None, username="publisher")
    home = core.resident_create(actor=None, name="演示居民", community=city.community_a1)
    resident = make_user(None, None, username="resident", resident=home)
    with after_commit():
        seed(city=city.city, size="small")
    police = BroadcastAccount.objects.get(organisation=city.police_city)
    assert police.verified and police.handle == "safe-qingshan"
    assert allowed(publisher, "broadcast.post.publish", police)
    assert Post.objects.filter(account=police).count() == len(POSTS)
    assert PostImage.objects.get().alt_text.startswith("示意图")
    alert = Post.objects.get(is_alert=True)
    assert Notification.objects.filter(dispatch=alert.push.dispatch, recipient=resident).exists()
    feed = selectors.home_feed(resident)
    assert len(feed.posts) == len(POSTS) + 1
    queue = selectors.moderation(publisher, police)
    assert [c.text for c in queue.held] == ["专业代购，价格优惠"]
    assert AreaSubscription.objects.get(user=resident).area == city.district_b
    seed(city=city.city, size="small")  # a second run adds nothing
    assert BroadcastAccount.objects.count() == 2
