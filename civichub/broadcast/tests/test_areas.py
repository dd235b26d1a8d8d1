"""Area subscriptions: a resident asks for the alerts of other areas (where their parents
live); an alert for an area reaches its residents and the subscribers of any overlapping area,
each person once."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from civichub.broadcast import selectors, services
from civichub.broadcast.models import AreaSubscription, Post
from civichub.core.errors import NotAuthenticated, ValidationFailed
from civichub.core.models import AuditEvent
from civichub.notify.models import Notification
from civichub.testing.summaries import described_by, summary_targets

pytestmark = pytest.mark.django_db


def alert(bc: Any, after_commit: Any, area: Any) -> Post:
    with after_commit():
        return services.post_publish(
            actor=bc.police_publisher,
            account=bc.police,
            text="暴雨预警",
            category="weather",
            target_area_ids=[area.pk],
            alert=services.AlertFields(
                category="Met",
                event="暴雨红色预警",
                urgency="Immediate",
                severity="Severe",
                certainty="Likely",
                expires=timezone.now() + dt.timedelta(hours=6),
            ),
        )


def recipients(post: Post) -> list[int]:
    return sorted(
        Notification.objects.filter(dispatch__isnull=False)
        .filter(dispatch=post.push.dispatch)
        .values_list("recipient_id", flat=True)
    )


def test_a_subscriber_elsewhere_receives_the_alert_for_the_area_they_subscribed(
    bc: Any, after_commit: Any
) -> None:
    services.area_subscribe(actor=bc.resident_b, area_id=bc.city.community_a1.pk)
    post = alert(bc, after_commit, bc.city.district_a)
    assert recipients(post) == sorted([bc.resident_a.pk, bc.resident_a2.pk, bc.resident_b.pk])
    assert sorted(services.alert_recipients(post).values_list("pk", flat=True)) == recipients(post)


def test_a_district_subscriber_hears_of_an_alert_for_one_of_its_communities(
    bc: Any, after_commit: Any
) -> None:
    services.area_subscribe(actor=bc.resident_b, area_id=bc.city.district_a.pk)
    post = alert(bc, after_commit, bc.city.community_a2)
    assert recipients(post) == sorted([bc.resident_a2.pk, bc.resident_b.pk])


def test_living_in_and_subscribing_to_the_area_still_means_one_delivery(
    bc: Any, after_commit: Any
) -> None:
    services.area_subscribe(actor=bc.resident_a, area_id=bc.city.community_a1.pk)
    services.area_subscribe(actor=bc.resident_a, area_id=bc.city.district_a.pk)
    post = alert(bc, after_commit, bc.city.district_a)
    assert recipients(post) == sorted([bc.resident_a.pk, bc.resident_a2.pk])
    assert services.alert_recipients(post).filter(pk=bc.resident_a.pk).count() == 1


def test_a_subscription_to_an_unrelated_area_brings_nothing(bc: Any, after_commit: Any) -> None:
    services.area_subscribe(actor=bc.resident_a, area_id=bc.city.community_b1.pk)
    post = alert(bc, after_commit, bc.city.community_a2)
    assert recipients(post) == [bc.resident_a2.pk]


def test_subscriptions_are_checked_kept_once_and_audited(bc: Any) -> None:
    first = services.area_subscribe(actor=bc.resident_a, area_id=bc.city.community_b1.pk)
    again = services.area_subscribe(actor=bc.resident_a, area_id=bc.city.community_b1.pk)
    assert first.pk == again.pk and AreaSubscription.objects.count() == 1
    for bad in (bc.city.health_a.pk, 999999):  # a department is not an area
        with pytest.raises(ValidationFailed) as caught:
            services.area_subscribe(actor=bc.resident_a, area_id=bad)
        assert "area_id" in caught.value.errors
    with pytest.raises(NotAuthenticated):
        services.area_subscribe(actor=None, area_id=bc.city.community_b1.pk)
    assert services.area_unsubscribe(actor=bc.resident_a, area_id=bc.city.community_b1.pk)
    assert not services.area_unsubscribe(actor=bc.resident_a, area_id=bc.city.community_b1.pk)
    assert [
        e.action
        for e in AuditEvent.objects.filter(action__startswith="broadcast.area").order_by("id")
    ] == ["broadcast.area.subscribe", "broadcast.area.unsubscribe"]


def test_there_is_a_limit_on_subscriptions(bc: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(services.areas, "AREA_SUBSCRIPTIONS_MAX", 2)
    services.area_subscribe(actor=bc.resident_a, area_id=bc.city.community_b1.pk)
    services.area_subscribe(actor=bc.resident_a, area_id=bc.city.district_b.pk)
    with pytest.raises(ValidationFailed) as caught:
        services.area_subscribe(actor=bc.resident_a, area_id=bc.city.community_a2.pk)
    assert "area_id" in caught.value.errors
    assert AreaSubscription.objects.filter(user=bc.resident_a).count() == 2


def test_area_subscriptions_through_the_api(bc: Any, api_as: Any) -> None:
    resident = api_as(bc.resident_a)
    made = resident.post("/api/broadcast/area-subscriptions", {"area_id": bc.city.district_b.pk})
    assert made.status_code == 201 and made.json()["kind"] == "district"
    unknown = resident.post("/api/broadcast/area-subscriptions", {"area_id": 999999})
    assert unknown.status_code == 422 and "area_id" in unknown.json()["errors"]
    listed = resident.get("/api/broadcast/area-subscriptions").json()
    assert [s["area_id"] for s in listed] == [bc.city.district_b.pk]
    assert api_as(None).get("/api/broadcast/area-subscriptions").status_code == 401
    gone = resident.delete(f"/api/broadcast/area-subscriptions/{bc.city.district_b.pk}")
    assert gone.status_code == 204
    assert resident.get("/api/broadcast/area-subscriptions").json() == []


def test_area_subscriptions_page_without_javascript(bc: Any) -> None:
    client = Client()
    client.force_login(bc.resident_a)
    page = client.get("/broadcast/areas/").content.decode()
    assert "松风社区" in page and "还没有订阅任何区域" in page
    assert (
        client.post(
            "/broadcast/areas/", {"action": "subscribe", "area_id": bc.city.community_b1.pk}
        ).status_code
        == 302
    )
    page = client.get("/broadcast/areas/").content.decode()
    assert "取消订阅“松风社区”" in page
    assert [s.area for s in selectors.area_subscriptions(bc.resident_a)] == [bc.city.community_b1]
    bad = client.post("/broadcast/areas/", {"action": "subscribe", "area_id": "999999"})
    assert bad.status_code == 422 and "未知的区域" in bad.content.decode()
    # In the shared summary, at the list of areas, which names its message.
    assert summary_targets(bad.content.decode()) == ["area_id"]
    assert described_by(bad.content.decode(), "area_id") == ["area_id-error"]
    client.post("/broadcast/areas/", {"action": "unsubscribe", "area_id": bc.city.community_b1.pk})
    assert selectors.area_subscriptions(bc.resident_a) == []
