"""Notifying someone without an account at a phone number or an e-mail address: the same kinds,
templates, delivery rules and audit as notifying an account, through the real channels (the
logging SMS adapter, a real SMTP server on localhost)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from civichub.core.errors import ValidationFailed
from civichub.core.models import AuditEvent, User
from civichub.notify import channels, services
from civichub.notify.channels import TemporaryDeliveryError
from civichub.notify.models import Delivery, DeliveryState, FailureKind, Notification, SmsLog
from civichub.notify.tests.conftest import Mailbox, profile

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("immediate_tasks")]

CONTEXT = {"sender": "社区", "message": "请回电"}


def quiet_now() -> str:
    """Default quiet hours that include the present moment, whenever the test runs."""
    local = timezone.localtime()
    start, end = local - dt.timedelta(hours=1), local + dt.timedelta(hours=1)
    return f"{start:%H:%M}-{end:%H:%M}"


def test_an_sms_to_a_phone_number_is_delivered_and_audited_without_the_full_number(
    django_capture_on_commit_callbacks: Any,
) -> None:
    with profile(quiet_hours_default="off"), django_capture_on_commit_callbacks(execute=True):
        dispatch = services.notification_send_to_address(
            kind="notify.test", channel="sms", address=" 13912345678 ", context=CONTEXT
        )
    delivery = Delivery.objects.get(notification__dispatch=dispatch)
    assert (delivery.channel, delivery.state, delivery.attempts) == ("sms", "sent", 1)
    assert delivery.notification.recipient is None
    assert delivery.address == ""  # sent: the number is no longer kept
    record = SmsLog.objects.get(delivery=delivery)
    assert record.phone == "13912345678"
    assert record.text.startswith("测试通知：这是一条由社区发出的测试通知")
    assert (dispatch.recipient_count, dispatch.delivery_count) == (1, 1)

    sent = AuditEvent.objects.get(action="notification.send")
    assert sent.changes["address"] == "…5678"
    assert "13912345678" not in str(sent.changes)
    delivered = AuditEvent.objects.get(action="notification.deliver")
    assert delivered.changes["outcomes"] == {"sent": 1}


def test_the_delivery_report_shows_a_send_to_an_address_without_a_recipient(
    operator: User, api_as: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with profile(quiet_hours_default="off"), django_capture_on_commit_callbacks(execute=True):
        dispatch = services.notification_send_to_address(
            kind="notify.test", channel="sms", address="13912345678", context=CONTEXT
        )
    report = api_as(operator).get(f"/api/notifications/dispatches/{dispatch.pk}").json()
    assert (report["recipient_count"], report["delivery_counts"]) == (1, {"sent": 1})
    [row] = report["deliveries"]
    assert (row["channel"], row["state"], row["recipient_id"]) == ("sms", "sent", None)
    assert "13912345678" not in str(report)


def test_an_email_to_an_address_arrives_in_the_language_asked_for(
    smtp_server: Mailbox, django_capture_on_commit_callbacks: Any
) -> None:
    with profile(quiet_hours_default="off"), django_capture_on_commit_callbacks(execute=True):
        services.notification_send_to_address(
            kind="notify.test",
            channel="email",
            address="li.ming@example.org",
            language="en",
            context=CONTEXT,
        )
    [message] = smtp_server.messages
    assert message["To"] == "li.ming@example.org"
    assert message["Subject"] == "Test notification"
    assert message["Content-Language"] == "en"
    assert "This is a test notification sent by 社区" in message.get_content()
    assert Delivery.objects.get().state == DeliveryState.SENT
    assert AuditEvent.objects.get(action="notification.send").changes["address"] == (
        "l…@example.org"
    )


def test_quiet_hours_defer_a_normal_send_but_not_an_emergency(
    django_capture_on_commit_callbacks: Any,
) -> None:
    with profile(quiet_hours_default=quiet_now()), django_capture_on_commit_callbacks(execute=True):
        normal = services.notification_send_to_address(
            kind="notify.test", channel="sms", address="13900000001", context=CONTEXT
        )
        urgent = services.notification_send_to_address(
            kind="notify.test",
            channel="sms",
            address="13900000002",
            context=CONTEXT,
            priority="emergency",
        )
    waiting = Delivery.objects.get(notification__dispatch=normal)
    assert waiting.state == DeliveryState.DEFERRED
    assert waiting.next_attempt_at is not None and waiting.next_attempt_at > timezone.now()
    assert Delivery.objects.get(notification__dispatch=urgent).state == DeliveryState.SENT
    assert list(SmsLog.objects.values_list("phone", flat=True)) == ["13900000002"]


class FailsOnce(channels.LoggingSmsAdapter):
    """A gateway that is out of service for the first attempt of each delivery."""

    def send(self, delivery: Delivery) -> None:
        if delivery.attempts == 1:
            raise TemporaryDeliveryError("gateway answered 503")
        super().send(delivery)


def test_a_failed_sms_is_retried_after_backoff_to_the_same_number(
    django_capture_on_commit_callbacks: Any,
) -> None:
    with (
        profile(quiet_hours_default="off"),
        override_settings(SMS_ADAPTER=f"{__name__}.FailsOnce"),
    ):
        with django_capture_on_commit_callbacks(execute=True):
            services.notification_send_to_address(
                kind="notify.test", channel="sms", address="13900000003", context=CONTEXT
            )
        delivery = Delivery.objects.get()
        assert (delivery.state, delivery.failure) == (DeliveryState.FAILED, FailureKind.TEMPORARY)
        assert delivery.next_attempt_at is not None
        assert delivery.address == "13900000003"  # kept for the retry
        assert not SmsLog.objects.exists()
        with django_capture_on_commit_callbacks(execute=True):
            assert services.delivery_sweep(now=timezone.now()).requeued == 0  # not yet due
            assert services.delivery_sweep(now=delivery.next_attempt_at).requeued == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.address) == (DeliveryState.SENT, 2, "")
    assert SmsLog.objects.get().phone == "13900000003"


class Refused(channels.ChannelAdapter):
    """A gateway that refuses the number for good."""

    def send(self, delivery: Delivery) -> None:
        raise channels.PermanentDeliveryError("number does not exist")


def test_a_permanently_refused_address_is_not_kept(
    django_capture_on_commit_callbacks: Any,
) -> None:
    with (
        profile(quiet_hours_default="off"),
        override_settings(SMS_ADAPTER=f"{__name__}.Refused"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        services.notification_send_to_address(
            kind="notify.test", channel="sms", address="13900000006", context=CONTEXT
        )
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.failure) == (DeliveryState.FAILED, FailureKind.PERMANENT)
    assert (delivery.address, delivery.last_error) == ("", "number does not exist")


def test_a_dedupe_key_sends_to_an_address_once(django_capture_on_commit_callbacks: Any) -> None:
    with profile(quiet_hours_default="off"), django_capture_on_commit_callbacks(execute=True):
        for _attempt in range(2):
            services.notification_send_to_address(
                kind="notify.test",
                channel="sms",
                address="13900000004",
                context=CONTEXT,
                dedupe_key="family.7",
            )
    assert Notification.objects.filter(dedupe_key="family.7").count() == 1
    assert SmsLog.objects.count() == 1


@pytest.mark.parametrize(
    ("channel", "address", "field"),
    [
        ("sms", "", "address"),
        ("sms", "call me", "address"),
        ("email", "not-an-address", "address"),
        ("push", "13900000005", "channel"),
        ("inapp", "13900000005", "channel"),
    ],
)
def test_an_address_the_channel_cannot_use_is_refused(
    channel: str, address: str, field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        services.notification_send_to_address(
            kind="notify.test", channel=channel, address=address, context=CONTEXT
        )
    assert field in caught.value.errors
    assert not Notification.objects.exists()
