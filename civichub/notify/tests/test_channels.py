"""The channels against real servers: mail to an SMTP server on localhost, Web Push to a push
service on localhost (encrypted with a browser's real P-256 keys), SMS through the adapter."""

from __future__ import annotations

import base64
import datetime as dt
import json
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from py_vapid import Vapid02

from civichub.core.models import User
from civichub.notify import channels, services, tasks
from civichub.notify.channels import TemporaryDeliveryError
from civichub.notify.models import (
    Delivery,
    DeliveryState,
    Dispatch,
    FailureKind,
    PushSubscription,
    SmsLog,
)
from civichub.notify.tests.conftest import (
    BrowserKeys,
    Mailbox,
    PushService,
    free_port,
    no_quiet_hours,
)

pytestmark = pytest.mark.usefixtures("immediate_tasks")


def send_again(delivery: Delivery) -> None:
    """What happens after a worker died between the channel's acceptance and marking the row
    sent: the sweep hands the delivery to another worker, which sends it again."""
    Delivery.objects.filter(pk=delivery.pk).update(state=DeliveryState.QUEUED)
    assert tasks.deliveries_send.call([delivery.pk]) == {"sent": 1}


def deliver(recipient: User, channel: str, capture: Any, **kwargs: Any) -> Delivery:
    """Sends through the whole pipeline: the service, on_commit, the task, the adapter."""
    no_quiet_hours(recipient)
    kwargs.setdefault("kind", "notify.test")
    kwargs.setdefault("context", {"sender": "运维", "message": "渠道检查"})
    with capture(execute=True):
        services.notification_send(recipients=[recipient], channels=[channel], **kwargs)
    return Delivery.objects.get(notification__recipient=recipient, channel=channel)


# Email --------------------------------------------------------------------------------------


def test_email_arrives_at_the_smtp_server_in_the_recipients_language(
    smtp_server: Mailbox,
    resident: User,
    english_resident: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    chinese = deliver(resident, "email", django_capture_on_commit_callbacks)
    english = deliver(english_resident, "email", django_capture_on_commit_callbacks)
    assert (chinese.state, english.state) == (DeliveryState.SENT, DeliveryState.SENT)
    assert chinese.sent_at is not None and chinese.attempts == 1
    by_recipient = {m["To"]: m for m in smtp_server.messages}
    assert set(by_recipient) == {"wang@example.org", "amy@example.org"}

    zh = by_recipient["wang@example.org"]
    assert zh["Subject"] == "测试通知"
    assert zh["Content-Language"] == "zh-Hans"
    assert "这是一条由王芳" not in zh.get_content()  # the sender is the context's, not the user
    assert "这是一条由运维发出的测试通知" in zh.get_content()
    assert "渠道检查" in zh.get_content()

    en = by_recipient["amy@example.org"]
    assert en["Subject"] == "Test notification"
    assert en["Content-Language"] == "en"
    assert "This is a test notification sent by 运维" in en.get_content()


def test_one_smtp_connection_carries_a_batch(
    smtp_server: Mailbox, make_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    people = [make_user(None, None, email=f"p{n}@example.org") for n in range(3)]
    for person in people:
        no_quiet_hours(person)
    with django_capture_on_commit_callbacks(execute=True):
        services.notification_send(
            recipients=people, kind="notify.test", context={"sender": "运维"}, channels=["email"]
        )
    assert sorted(m["To"] for m in smtp_server.messages) == [p.email for p in people]
    assert len(smtp_server.connections) == 1


@override_settings(DEFAULT_FROM_EMAIL="平洲市 <notice@pingzhou.example.gov.cn>")
def test_a_repeated_email_keeps_its_message_id_and_other_deliveries_get_their_own(
    smtp_server: Mailbox,
    resident: User,
    english_resident: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    delivery = deliver(resident, "email", django_capture_on_commit_callbacks)
    other = deliver(english_resident, "email", django_capture_on_commit_callbacks)
    send_again(delivery)
    first, second_person, repeat = smtp_server.messages
    assert first["Message-ID"] == repeat["Message-ID"]
    assert first["Message-ID"] != second_person["Message-ID"]
    assert first["Message-ID"].startswith(f"<civichub.{delivery.pk}.")
    assert first["Message-ID"].endswith("@pingzhou.example.gov.cn>")
    assert second_person["X-Civichub-Delivery"] == str(other.pk)
    # Keyed by the deployment's secret: another deployment's delivery 1 is another message.
    with override_settings(SECRET_KEY="another deployment's secret key, long enough" * 2):
        assert channels.delivery_message_id(delivery) != first["Message-ID"]


CODE = "482913"


def send_code(recipient: User, channel: str, capture: Any) -> Delivery:
    return deliver(
        recipient,
        channel,
        capture,
        kind="casework.contact_code",
        context={"code": CODE, "minutes": 10},
    )


def test_a_one_time_code_reaches_the_mailbox_but_is_stored_and_shown_masked(
    smtp_server: Mailbox, resident: User, django_capture_on_commit_callbacks: Any
) -> None:
    delivery = send_code(resident, "email", django_capture_on_commit_callbacks)
    [mail] = smtp_server.messages
    assert f"验证码是 {CODE}" in mail.get_content()
    dispatch = Dispatch.objects.get()
    assert CODE not in json.dumps(dispatch.texts, ensure_ascii=False)
    assert "验证码是 ••••••" in delivery.notification.body
    assert dispatch.sealed_texts is not None and CODE.encode() not in bytes(dispatch.sealed_texts)


def test_a_one_time_code_by_sms_is_kept_masked_in_the_sms_records(
    resident: User, django_capture_on_commit_callbacks: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="civichub.notify"):
        delivery = send_code(resident, "sms", django_capture_on_commit_callbacks)
    record = SmsLog.objects.get(delivery=delivery)
    assert CODE not in record.text and "••••••" in record.text
    assert f"验证码是 {CODE}" in caplog.text  # the demo's stand-in for the handset


def test_the_sweep_forgets_a_sealed_code_after_a_day_and_a_later_retry_sends_it_masked(
    smtp_server: Mailbox, resident: User, django_capture_on_commit_callbacks: Any
) -> None:
    delivery = send_code(resident, "email", django_capture_on_commit_callbacks)
    dispatch = Dispatch.objects.get()
    assert services.delivery_sweep(now=dispatch.created_at + dt.timedelta(hours=23)).unsealed == 0
    swept = services.delivery_sweep(now=dispatch.created_at + dt.timedelta(hours=25))
    assert swept.unsealed == 1
    assert Dispatch.objects.get().sealed_texts is None
    send_again(delivery)
    assert "验证码是 ••••••" in smtp_server.messages[-1].get_content()


def test_a_refused_address_fails_permanently(
    smtp_server: Mailbox, resident: User, django_capture_on_commit_callbacks: Any
) -> None:
    smtp_server.refuse.add("wang@example.org")
    delivery = deliver(resident, "email", django_capture_on_commit_callbacks)
    assert (delivery.state, delivery.failure) == (DeliveryState.FAILED, FailureKind.PERMANENT)
    assert "550" in delivery.last_error
    assert delivery.next_attempt_at is None
    assert smtp_server.messages == []


def test_an_unreachable_smtp_server_is_a_temporary_failure(
    resident: User, django_capture_on_commit_callbacks: Any
) -> None:
    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=free_port(),
        EMAIL_TIMEOUT=2,
    ):
        delivery = deliver(resident, "email", django_capture_on_commit_callbacks)
    assert (delivery.state, delivery.failure) == (DeliveryState.FAILED, FailureKind.TEMPORARY)
    assert delivery.next_attempt_at is not None
    assert "SMTP unavailable" in delivery.last_error


# SMS ----------------------------------------------------------------------------------------


def test_logging_sms_adapter_records_the_text(
    resident: User,
    english_resident: User,
    django_capture_on_commit_callbacks: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("INFO", logger="civichub.notify"):
        delivery = deliver(resident, "sms", django_capture_on_commit_callbacks)
        deliver(english_resident, "sms", django_capture_on_commit_callbacks)
    assert delivery.state == DeliveryState.SENT
    record = SmsLog.objects.get(delivery=delivery)
    assert record.phone == "13800000001"
    assert record.text.startswith("测试通知：这是一条由运维发出的测试通知")
    assert SmsLog.objects.get(phone="13800000002").text.startswith("Test notification: This is")
    assert "SMS to …0001" in caplog.text


def test_an_sms_delivery_sent_again_is_recorded_once(
    resident: User, django_capture_on_commit_callbacks: Any
) -> None:
    delivery = deliver(resident, "sms", django_capture_on_commit_callbacks)
    send_again(delivery)
    assert SmsLog.objects.filter(delivery=delivery).count() == 1


class GatewayDown(channels.ChannelAdapter):
    """A gateway adapter for the test: the operator's SMS provider is out of service."""

    def send(self, delivery: Delivery) -> None:
        raise TemporaryDeliveryError("gateway answered 503")


def test_the_sms_adapter_is_chosen_by_setting(
    resident: User, django_capture_on_commit_callbacks: Any
) -> None:
    with override_settings(SMS_ADAPTER=f"{__name__}.GatewayDown"):
        delivery = deliver(resident, "sms", django_capture_on_commit_callbacks)
    assert (delivery.state, delivery.failure) == (DeliveryState.FAILED, FailureKind.TEMPORARY)
    assert delivery.last_error == "gateway answered 503"
    assert not SmsLog.objects.exists()


# Web Push -----------------------------------------------------------------------------------


@pytest.fixture
def vapid_in(tmp_path: Path) -> Iterator[Path]:
    """A fresh data directory, so the VAPID key is generated for the test."""
    channels.vapid_key.cache_clear()
    with override_settings(DATA_DIR=tmp_path, WEBPUSH_VAPID_PRIVATE_KEY=""):
        yield tmp_path
    channels.vapid_key.cache_clear()


def subscribe(user: User, service: PushService, keys: BrowserKeys, name: str = "abc") -> None:
    services.push_subscription_save(
        actor=user,
        endpoint=f"{service.base_url}/push/{name}",
        p256dh=keys.p256dh,
        auth=keys.auth,
    )


def jwt_claims(authorization: str) -> dict[str, Any]:
    token = authorization.split("t=", 1)[1].split(",", 1)[0]  # "vapid t=<jwt>,k=<key>"
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_web_push_posts_an_encrypted_message_with_ttl_and_urgency(
    push_service: PushService,
    browser_keys: BrowserKeys,
    resident: User,
    vapid_in: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    subscribe(resident, push_service, browser_keys)
    delivery = deliver(resident, "push", django_capture_on_commit_callbacks, priority="emergency")
    assert delivery.state == DeliveryState.SENT
    [request] = push_service.requests
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert request.path == "/push/abc"
    assert headers["ttl"] == str(channels.PUSH_TTL_SECONDS["emergency"])
    assert headers["urgency"] == "high"
    assert headers["content-encoding"] == "aes128gcm"
    # The body is ciphertext: the message text is not in it, and only the browser's private key
    # opens it.
    assert "测试通知".encode() not in request.body
    payload = browser_keys.decrypt(request.body)
    assert payload["title"] == "测试通知"
    assert "渠道检查" in payload["body"]
    # A notification without a link opens the inbox, addressed from the site's configured URL.
    assert payload["url"].startswith("http") and payload["url"].endswith("/notifications/")
    assert payload["link"] == ""
    # VAPID: signed for the push service's origin with our key.
    assert f"k={channels.vapid_public_key()}" in headers["authorization"]
    assert jwt_claims(headers["authorization"])["aud"] == push_service.base_url
    assert Vapid02.verify(headers["authorization"])
    assert (vapid_in / "keys" / "vapid_private.pem").stat().st_mode & 0o777 == 0o600
    assert PushSubscription.objects.get(user=resident).last_success_at is not None


def test_a_push_sent_again_carries_the_same_topic_so_the_service_replaces_it(
    push_service: PushService,
    browser_keys: BrowserKeys,
    resident: User,
    english_resident: User,
    vapid_in: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    subscribe(resident, push_service, browser_keys)
    subscribe(english_resident, push_service, browser_keys, name="def")
    delivery = deliver(resident, "push", django_capture_on_commit_callbacks)
    deliver(english_resident, "push", django_capture_on_commit_callbacks)
    send_again(delivery)
    topics = [{k.lower(): v for k, v in r.headers.items()}["topic"] for r in push_service.requests]
    assert topics[0] == topics[2] != topics[1]
    for topic in topics:  # RFC 8030 §5.4: at most 32 characters of the URL-safe alphabet
        assert len(topic) <= 32
        assert set(topic) <= set(string.ascii_letters + string.digits + "-_")


def test_normal_push_uses_normal_urgency_and_a_day_of_ttl(
    push_service: PushService,
    browser_keys: BrowserKeys,
    resident: User,
    vapid_in: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    subscribe(resident, push_service, browser_keys)
    deliver(resident, "push", django_capture_on_commit_callbacks)
    headers = {k.lower(): v for k, v in push_service.requests[0].headers.items()}
    assert (headers["ttl"], headers["urgency"]) == ("86400", "normal")


def test_push_to_every_browser_of_the_user(
    push_service: PushService,
    resident: User,
    vapid_in: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    phone, laptop = (BrowserKeys.generate() for _ in range(2))
    subscribe(resident, push_service, phone, "phone")
    subscribe(resident, push_service, laptop, "laptop")
    deliver(resident, "push", django_capture_on_commit_callbacks)
    by_path = {r.path: r for r in push_service.requests}
    assert phone.decrypt(by_path["/push/phone"].body)["title"] == "测试通知"
    assert laptop.decrypt(by_path["/push/laptop"].body)["title"] == "测试通知"


def test_a_gone_subscription_is_removed_and_the_delivery_fails_permanently(
    push_service: PushService,
    browser_keys: BrowserKeys,
    resident: User,
    vapid_in: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    subscribe(resident, push_service, browser_keys)
    push_service.status = 410
    delivery = deliver(resident, "push", django_capture_on_commit_callbacks)
    assert (delivery.state, delivery.failure) == (DeliveryState.FAILED, FailureKind.PERMANENT)
    assert not PushSubscription.objects.filter(user=resident).exists()


def test_an_overloaded_push_service_is_a_temporary_failure(
    push_service: PushService,
    browser_keys: BrowserKeys,
    resident: User,
    vapid_in: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    subscribe(resident, push_service, browser_keys)
    push_service.status = 503
    delivery = deliver(resident, "push", django_capture_on_commit_callbacks)
    assert (delivery.state, delivery.failure) == (DeliveryState.FAILED, FailureKind.TEMPORARY)
    assert PushSubscription.objects.filter(user=resident).exists()


def test_the_vapid_key_is_generated_once_and_kept(vapid_in: Path) -> None:
    first = channels.vapid_public_key()
    channels.vapid_key.cache_clear()
    assert channels.vapid_public_key() == first
    assert len(base64.urlsafe_b64decode(first + "=")) == 65


def test_a_configured_vapid_key_is_used(vapid_in: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    raw = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    with override_settings(WEBPUSH_VAPID_PRIVATE_KEY=pem):
        channels.vapid_key.cache_clear()
        assert channels.vapid_public_key() == base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert not (vapid_in / "keys" / "vapid_private.pem").exists()


def test_a_stored_internal_endpoint_fails_permanently_without_a_request(
    push_service: PushService,
    browser_keys: BrowserKeys,
    resident: User,
    vapid_in: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """A subscription stored before endpoints were checked, pointing inside: the guard refuses
    the connection, nothing reaches the listener, and the delivery is not retried."""
    # Stored directly: the service refuses such an endpoint now.
    PushSubscription.objects.create(
        user=resident,
        endpoint=f"{push_service.base_url}/push/abc",
        p256dh=browser_keys.p256dh,
        auth=browser_keys.auth,
    )
    with override_settings(OUTBOUND_ALLOW_LOOPBACK=False):
        delivery = deliver(resident, "push", django_capture_on_commit_callbacks)
    assert (delivery.state, delivery.failure) == (DeliveryState.FAILED, FailureKind.PERMANENT)
    assert delivery.next_attempt_at is None
    assert delivery.attempts == 1
    assert "address refused (loopback" in delivery.last_error
    assert not push_service.requests


def test_a_stored_metadata_endpoint_fails_permanently(
    browser_keys: BrowserKeys,
    resident: User,
    vapid_in: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    PushSubscription.objects.create(
        user=resident,
        endpoint="https://169.254.169.254/latest/meta-data",
        p256dh=browser_keys.p256dh,
        auth=browser_keys.auth,
    )
    delivery = deliver(resident, "push", django_capture_on_commit_callbacks)
    assert (delivery.state, delivery.failure) == (DeliveryState.FAILED, FailureKind.PERMANENT)
    assert "address refused (link_local" in delivery.last_error
