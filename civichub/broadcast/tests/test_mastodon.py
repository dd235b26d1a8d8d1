"""Mastodon.py (PyPI `Mastodon.py`) driven against a live test server, with the API at the site's
root as Mastodon clients expect: app registration, password grant, verify_credentials,
status_post, timeline_home with fetch_next, follow, reblog, favourite, reply and notifications.
The streams are specified in test_streaming.py (they need the ASGI server)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from mastodon import Mastodon
from mastodon.errors import MastodonAPIError

from civichub.broadcast import services
from civichub.broadcast.models import Comment, Repost
from civichub.broadcast.tests.conftest import Broadcast

PASSWORD = "correct horse battery 9"


def client_for(base: str, username: str) -> Mastodon:
    client_id, client_secret = Mastodon.create_app(
        "civichub tests", api_base_url=base, scopes=["read", "write", "follow"]
    )
    client = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=base)
    # The test server speaks plain HTTP; Mastodon.py wants https OAuth endpoints unless told.
    client.log_in(
        username=username, password=PASSWORD, scopes=["read", "write", "follow"], allow_http=True
    )
    return client


@pytest.mark.django_db(transaction=True)
def test_mastodon_py_drives_the_client_api(live_server: Any, bc: Broadcast) -> None:
    base = live_server.url
    publisher = client_for(base, bc.police_publisher.username)
    resident = client_for(base, bc.resident_a.username)

    me = resident.account_verify_credentials()
    assert me.username == bc.resident_a.username
    assert me.source.privacy == "public"  # some apps read the posting defaults from here

    police_id = f"a{bc.police.pk}"
    relationship = resident.account_follow(police_id)
    assert relationship.following

    posted = [publisher.status_post(f"第{i}条路况") for i in range(5)]
    assert posted[-1].account.acct == "safe-qingshan"
    with pytest.raises(MastodonAPIError):
        resident.status_post("居民不能发布")

    first = resident.timeline_home(limit=2)
    assert [s.id for s in first] == [posted[4].id, posted[3].id]
    second = resident.fetch_next(first)
    assert second is not None
    assert [s.id for s in second] == [posted[2].id, posted[1].id]
    newer = resident.timeline_home(since_id=posted[2].id)
    assert [s.id for s in newer] == [posted[4].id, posted[3].id]
    previous = resident.fetch_previous(second)
    assert previous is not None and [s.id for s in previous] == [posted[4].id, posted[3].id]

    reblog = resident.status_reblog(posted[4].id)
    assert reblog.reblog.id == posted[4].id
    with pytest.raises(MastodonAPIError, match="已转发"):
        resident.status_reblog(posted[4].id)
    assert Repost.objects.filter(post_id=int(posted[4].id)).count() == 1
    favourite = resident.status_favourite(posted[4].id)
    assert favourite.favourited and favourite.favourites_count == 1

    reply = resident.status_reply(posted[4], "请问几点恢复？")
    assert reply.in_reply_to_id == posted[4].id
    assert Comment.objects.get().text.endswith("请问几点恢复？")

    services.post_publish(
        actor=bc.police_publisher,
        account=bc.police,
        text="东湖区大风预警",
        category="weather",
        target_area_ids=[bc.city.district_a.pk],
        alert=services.AlertFields(
            category="Met",
            event="大风",
            urgency="Expected",
            severity="Moderate",
            certainty="Likely",
            expires=timezone.now() + dt.timedelta(hours=3),
        ),
    )
    notes = resident.notifications()
    assert [n.status.content for n in notes] == ["<p>东湖区大风预警</p>"]
