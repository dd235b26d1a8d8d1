"""Reach across channels: local views, video views and completions (counted exactly: once per
signed-in viewer and video, a completion when the player reports 90 %, nothing without the
player's script), reposts and favourites, servers and interactions on other servers, and alert
deliveries per channel, on one chart per post and account. The report adds up."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from civichub.broadcast import selectors, services
from civichub.broadcast.models import (
    AlertPush,
    Delivery,
    DeliveryState,
    Post,
    PostVideo,
    RemoteInteraction,
    VideoState,
    VideoWatch,
)
from civichub.broadcast.tests.test_alerts import alert
from civichub.notify.models import Delivery as NotifyDelivery

pytestmark = pytest.mark.django_db


def video_post(bc: Any) -> tuple[Post, PostVideo]:
    post = services.post_publish(
        actor=bc.police_publisher, account=bc.police, text="防汛演练视频", category="notice"
    )
    video = PostVideo.objects.create(
        account=bc.police,
        post=post,
        original="",
        container="mp4",
        duration=30.0,
        width=1280,
        height=720,
        size=1000,
        state=VideoState.READY,
        folder="broadcast/videos/test",
        ready_at=timezone.now(),
    )
    return post, video


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def watched(client: Client, video: PostVideo, fraction: float) -> int:
    response = client.post(f"/broadcast/videos/{video.pk}/watched/", {"fraction": fraction})
    return int(response.status_code)


def test_a_video_view_counts_once_per_viewer_and_a_completion_at_90_percent(bc: Any) -> None:
    post, video = video_post(bc)
    a, b = signed_in(bc.resident_a), signed_in(bc.resident_b)
    assert watched(a, video, 0) == 204
    assert watched(a, video, 0) == 204  # played again: the same viewer
    assert watched(a, video, 0.5) == 204  # half-way: no completion
    assert watched(b, video, 0) == 204
    assert watched(b, video, 0.89) == 204
    report = selectors.reach_report(bc.police_publisher, bc.police, post=post)
    assert (report.channels.video_views, report.channels.video_completions) == (2, 0)

    assert watched(a, video, 0.9) == 204
    assert watched(a, video, 1.0) == 204  # watched to the end again: still one completion
    report = selectors.reach_report(bc.police_publisher, bc.police, post=post)
    assert (report.channels.video_views, report.channels.video_completions) == (2, 1)
    # Nothing kept says who watched.
    assert not VideoWatch.objects.filter(viewer_key__in=[bc.resident_a.pk, bc.resident_b.pk])


def test_without_the_players_report_nothing_is_counted(bc: Any) -> None:
    post, video = video_post(bc)
    # Reading the page (no script ran) and fetching the files count no video view.
    signed_in(bc.resident_a).get(f"/broadcast/posts/{post.pk}/")
    Client().post(f"/broadcast/videos/{video.pk}/watched/", {"fraction": 1})  # anonymous
    assert watched(signed_in(bc.resident_b), video, 1.5) == 400  # not a share
    report = selectors.reach_report(bc.police_publisher, bc.police, post=post)
    assert report.channels.local_views == report.views == 1
    assert (report.channels.video_views, report.channels.video_completions) == (0, 0)


def test_the_page_tells_the_player_where_to_report_for_signed_in_viewers_only(bc: Any) -> None:
    post, video = video_post(bc)
    url = f"/broadcast/videos/{video.pk}/watched/"
    assert url in signed_in(bc.resident_a).get(f"/broadcast/posts/{post.pk}/").content.decode()
    assert url not in Client().get(f"/broadcast/posts/{post.pk}/").content.decode()


def test_the_report_across_channels_adds_up(bc: Any, after_commit: Any) -> None:
    post, video = video_post(bc)
    other = services.post_publish(
        actor=bc.police_publisher, account=bc.police, text="第二条", category="notice"
    )
    warning = alert(bc, after_commit)
    signed_in(bc.resident_a).get(f"/broadcast/posts/{post.pk}/")
    signed_in(bc.resident_b).get(f"/broadcast/posts/{other.pk}/")
    watched(signed_in(bc.resident_a), video, 0)
    watched(signed_in(bc.resident_a), video, 0.95)
    watched(signed_in(bc.resident_b), video, 0)
    services.repost_create(actor=bc.resident_a, post_id=post.pk)
    services.repost_create(actor=bc.resident_b, post_id=other.pk)
    services.favourite_create(actor=bc.resident_a2, post_id=post.pk)
    for n, (target, state) in enumerate(
        [
            (post, DeliveryState.DELIVERED),
            (post, DeliveryState.DELIVERED),
            (other, DeliveryState.DELIVERED),
            (other, DeliveryState.FAILED),  # not delivered: not counted
        ]
    ):
        Delivery.objects.create(
            post=target,
            account=bc.police,
            inbox=f"https://server{n % 2}.example/inbox",
            activity={"type": "Create"},
            state=state,
        )
    for n, (target, kind) in enumerate(
        [(post, "like"), (post, "like"), (post, "announce"), (other, "reply")]
    ):
        RemoteInteraction.objects.create(
            post=target,
            kind=kind,
            actor_uri=f"https://server{n}.example/users/a",
            activity_id=f"https://server{n}.example/activities/{n}",
        )
    dispatch = AlertPush.objects.get(post=warning).dispatch
    sms = NotifyDelivery.objects.filter(notification__dispatch=dispatch, channel="sms")
    assert sms.count() == 2 and sms.filter(state="sent").count() == 2
    first = sms.order_by("pk").values_list("pk", flat=True)[0]
    sms.filter(pk=first).update(state="failed")  # one SMS failed: not counted

    one = selectors.reach_report(bc.police_publisher, bc.police, post=post).channels
    assert (one.local_views, one.video_views, one.video_completions) == (1, 2, 1)
    assert (one.reposts, one.favourites) == (1, 1)
    assert (one.remote_deliveries, one.remote_servers) == (2, 2)
    assert (one.remote_likes, one.remote_announces, one.remote_replies) == (2, 1, 0)
    assert one.alert_deliveries == {}

    every = selectors.reach_report(bc.police_publisher, bc.police).channels
    assert (every.local_views, every.video_views, every.video_completions) == (2, 2, 1)
    assert (every.reposts, every.favourites) == (2, 1)
    assert (every.remote_deliveries, every.remote_servers) == (3, 2)
    assert (every.remote_likes, every.remote_announces, every.remote_replies) == (2, 1, 1)
    # The alert reached its district's two residents in the app; one SMS was sent.
    assert every.alert_deliveries == {"inapp": 2, "sms": 1}
    assert every.alert_deliveries_total == 3
    # The account's figures are the sum of its posts' figures, but for the servers reached: a
    # server that received two posts is one server.
    per_post = [
        selectors.reach_report(bc.police_publisher, bc.police, post=p).channels.figures()
        for p in (post, other, warning)
    ]
    summed: dict[str, int] = {}
    for figures in per_post:
        for key, value in figures:
            summed[key] = summed.get(key, 0) + value
    assert summed.pop("remote_servers") == 3
    assert summed == {k: v for k, v in every.figures() if k != "remote_servers"}

    page = signed_in(bc.police_publisher).get("/broadcast/@" + bc.police.handle + "/reach/")
    assert page.status_code == 200
    html = page.content.decode()
    chart = page.context["channels"]
    assert chart["total"] == sum(value for _key, value in every.figures())
    assert [b["value"] for b in chart["bars"]] == [value for _key, value in every.figures()]
    assert '<td data-key="alert_sms">1</td>' in html
    assert '<td data-key="video_completions">1</td>' in html

    # The API gives the same figures across channels as the page.
    api = signed_in(bc.police_publisher)
    answer = api.get(f"/api/broadcast/accounts/{bc.police.handle}/reach")
    assert answer.status_code == 200
    channels = answer.json()["channels"]
    assert channels.pop("alert_deliveries") == {"inapp": 2, "sms": 1}
    assert channels == {k: v for k, v in every.figures() if not k.startswith("alert_")}
    one_api = api.get(f"/api/broadcast/posts/{post.pk}/reach").json()["channels"]
    assert (one_api["remote_likes"], one_api["video_completions"]) == (2, 1)
