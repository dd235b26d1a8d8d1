"""Mastodon.py (PyPI `Mastodon.py`) driven against a live test server: app registration,
password grant, verify_credentials, status_post, timeline_home with fetch_next, follow, reblog,
favourite, reply, notifications, and an update received through stream_user."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from django.utils import timezone
from mastodon import Mastodon, StreamListener
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
    client.log_in(username=username, password=PASSWORD, scopes=["read", "write", "follow"])
    return client


@pytest.mark.django_db(transaction=True)
def test_mastodon_py_drives_the_client_api(live_server: Any, bc: Broadcast) -> None:
    base = f"{live_server.url}/broadcast/mastodon"
    publisher = client_for(base, bc.police_publisher.username)
    resident = client_for(base, bc.resident_a.username)

    me = resident.account_verify_credentials()
    assert me.username == bc.resident_a.username

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

    received: list[Any] = []
    arrived = threading.Event()

    class Listener(StreamListener):
        def on_update(self, status: Any) -> None:
            received.append(status)
            arrived.set()

    handle = resident.stream_user(Listener(), run_async=True, reconnect_async=False)
    streamed = []
    try:
        # The stream connects in the background: post until an update arrives (a post made
        # before the connection opened is not replayed, as on Mastodon).
        for attempt in range(10):
            streamed.append(publisher.status_post(f"实时：青山隧道恢复通行（{attempt}）").id)
            if arrived.wait(timeout=2):
                break
    finally:
        handle.close()
    assert received and received[0].id in streamed
    assert received[0].account.acct == "safe-qingshan"


@pytest.mark.django_db(transaction=True)
def test_the_stream_sends_heartbeats_and_refuses_a_missing_token(
    live_server: Any, bc: Broadcast, monkeypatch: pytest.MonkeyPatch
) -> None:
    import requests

    from civichub.broadcast.mastodon import views

    monkeypatch.setattr(views, "HEARTBEAT_SECONDS", 0.2)
    base = f"{live_server.url}/broadcast/mastodon"
    resident = client_for(base, bc.resident_a.username)
    url = f"{base}/api/v1/streaming/user"
    assert requests.get(url, timeout=5).json() == {"error": "The access token is invalid"}
    headers = {"Authorization": f"Bearer {resident.access_token}"}
    with requests.get(url, headers=headers, stream=True, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/event-stream"
        lines = response.iter_lines(decode_unicode=True)
        assert any(line == ":thump" for line, _ in zip(lines, range(20), strict=False))
