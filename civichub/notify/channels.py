"""Channel adapters: email over SMTP, SMS through a pluggable gateway, Web Push. Each has
`send(delivery) -> None` and raises `TemporaryDeliveryError` (try again later) or
`PermanentDeliveryError` (do not retry). An adapter instance serves one batch of deliveries and
is closed after it, so that, for example, one SMTP connection carries the whole batch."""

from __future__ import annotations

import base64
import json
import logging
import os
import smtplib
import tempfile
from email.utils import parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.module_loading import import_string
from py_vapid import Vapid02
from pywebpush import WebPushException, webpush

from civichub.core.conf import core_settings
from civichub.core.crypto import decrypt_text
from civichub.core.outbound import OutboundRefused, guarded_session
from civichub.notify.models import (
    Channel,
    Delivery,
    Notification,
    Priority,
    PushSubscription,
    SmsLog,
)

logger = logging.getLogger("civichub.notify")


class DeliveryError(Exception):
    permanent = False


class TemporaryDeliveryError(DeliveryError):
    """The channel could not take the message now (network, server busy): retry with backoff."""


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help (no address, address refused, subscription gone)."""

    permanent = True


class ChannelAdapter:
    channel: str = ""

    def send(self, delivery: Delivery) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the adapter holds open across a batch."""


def recipient_phone(notification: Notification) -> str:
    user = notification.recipient
    if user is None:
        return ""
    if user.phone:
        return str(user.phone)
    resident = user.resident
    return str(resident.phone) if resident is not None else ""


def delivery_phone(delivery: Delivery) -> str:
    """The number an SMS delivery goes to: the one it was sent to, for someone without an
    account, else the recipient's current one. Gateway adapters use this too."""
    return delivery.address or recipient_phone(delivery.notification)


def delivery_email(delivery: Delivery) -> str:
    recipient = delivery.notification.recipient
    return delivery.address or (recipient.email if recipient is not None else "")


# Email -----------------------------------------------------------------------------------


def message_text(notification: Notification) -> tuple[str, str]:
    """The subject and body an outside channel sends: with the kind's one-time secrets where the
    dispatch sealed them (the stored texts carry a mask), else the stored texts."""
    sealed = notification.dispatch.sealed_texts
    if sealed is not None:
        texts: dict[str, dict[str, str]] = json.loads(decrypt_text(sealed))
        text = texts.get(notification.language) or texts.get("zh-hans")
        if text:
            return text["subject"], text["body"]
    return notification.subject, notification.body


def absolute(path: str) -> str:
    """A path on this site as an address from core's `site_url`; other addresses unchanged."""
    if path.startswith("/") and not path.startswith("//"):
        return core_settings().site_url.rstrip("/") + path
    return path


def absolute_link(notification: Notification) -> str:
    """The address of what the notification is about, for mail and push ("" when none)."""
    return absolute(notification.link) if notification.link else ""


def mail_body(notification: Notification, body: str) -> str:
    """The body with the link to what it is about, unless the text already carries it."""
    link = absolute_link(notification)
    if not link or link in body:
        return body
    return f"{body}\n\n{link}"


def delivery_key(delivery: Delivery) -> str:
    """The delivery's idempotency key: the same on every attempt of one delivery, different for
    every other delivery and deployment (keyed by the secret key, so it reveals nothing)."""
    digest = salted_hmac("civichub.notify.delivery", str(delivery.pk)).hexdigest()[:20]
    return f"{delivery.pk}.{digest}"


def delivery_message_id(delivery: Delivery) -> str:
    """A Message-ID that stays the same when a delivery is sent again (RFC 5322 §3.6.4: one
    message, one identifier), so a repeat after a worker died mid-send is recognisable as the
    same message by the receiving system."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
    return f"<civichub.{delivery_key(delivery)}@{domain}>"


class EmailAdapter(ChannelAdapter):
    """Plain-text mail through Django's email backend (SMTP settings from CIVICHUB_SMTP_*)."""

    channel = Channel.EMAIL

    def __init__(self) -> None:
        self._connection: Any = None

    def _open(self) -> Any:
        # Opened here, not by send(): a connection the backend opens itself is closed after
        # every message, and the point is to carry the whole batch on one.
        if self._connection is None:
            connection = get_connection(fail_silently=False)
            connection.open()
            self._connection = connection
        return self._connection

    def send(self, delivery: Delivery) -> None:
        notification = delivery.notification
        address = delivery_email(delivery)
        if not address:
            raise PermanentDeliveryError("the recipient has no email address")
        subject, body = message_text(notification)
        message = EmailMessage(
            subject=subject,
            body=mail_body(notification, body),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[address],
            headers={
                "Content-Language": "zh-Hans"
                if notification.language == "zh-hans"
                else notification.language,
                "X-Civichub-Delivery": str(delivery.pk),
                "Message-ID": delivery_message_id(delivery),
            },
        )
        try:
            message.connection = self._open()
            message.send()
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _msg in exc.recipients.values()]
            self._drop()
            if codes and all(code >= 500 for code in codes):
                raise PermanentDeliveryError(f"address refused: {codes}") from exc
            raise TemporaryDeliveryError(f"address refused for now: {codes}") from exc
        except smtplib.SMTPResponseException as exc:
            # Authentication and sender problems are configuration an operator can fix; the
            # message itself is fine, so they are retried like an outage.
            permanent = exc.smtp_code >= 500 and not isinstance(
                exc, smtplib.SMTPAuthenticationError | smtplib.SMTPSenderRefused
            )
            self._drop()
            text = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
            if permanent:
                raise PermanentDeliveryError(text) from exc
            raise TemporaryDeliveryError(text) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise TemporaryDeliveryError(f"SMTP unavailable: {exc}") from exc

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except (smtplib.SMTPException, OSError):
                logger.debug("closing a broken SMTP connection failed", exc_info=True)
            self._connection = None

    def close(self) -> None:
        self._drop()


# SMS -------------------------------------------------------------------------------------


def sms_text(notification: Notification, *, sealed: bool = True) -> str:
    """The text a gateway sends (`sealed`: with the one-time secrets), or the one a record may
    keep (masked)."""
    separator = "：" if notification.language == "zh-hans" else ": "
    if sealed:
        subject, body = message_text(notification)
    else:
        subject, body = notification.subject, notification.body
    return f"{subject}{separator}{body}"


class LoggingSmsAdapter(ChannelAdapter):
    """For the demo and for development: logs the text and records it in SmsLog instead of
    handing it to a gateway. A real gateway adapter subclasses ChannelAdapter the same way and
    is named in CIVICHUB_SMS_ADAPTER."""

    channel = Channel.SMS

    def send(self, delivery: Delivery) -> None:
        phone = delivery_phone(delivery)
        if not phone:
            raise PermanentDeliveryError("the recipient has no phone number")
        # One record per delivery, as a gateway given the delivery's key as its message
        # reference keeps one: a repeat after a worker died mid-send is not sent twice. The
        # record, which operators read, keeps the text with one-time codes masked; the log line
        # stands for the handset (the demo's resident reads the code there).
        record = sms_text(delivery.notification, sealed=False)
        _log, created = SmsLog.objects.get_or_create(
            delivery=delivery, defaults={"phone": phone, "text": record}
        )
        if created:
            logger.info("SMS to …%s: %s", phone[-4:], sms_text(delivery.notification))


# Web Push --------------------------------------------------------------------------------

# How long a push service keeps a message for an offline browser, and how urgently it wakes the
# device (RFC 8030 §5.2 and §5.3).
PUSH_TTL_SECONDS: dict[str, int] = {Priority.NORMAL: 24 * 3600, Priority.EMERGENCY: 12 * 3600}
PUSH_URGENCY: dict[str, str] = {Priority.NORMAL: "normal", Priority.EMERGENCY: "high"}
PUSH_TIMEOUT_SECONDS = 10


@lru_cache(maxsize=1)
def vapid_key() -> Vapid02:
    """The VAPID (RFC 8292) signing key: from CIVICHUB_VAPID_PRIVATE_KEY (PEM, or base64url DER
    or raw), else a P-256 key generated once into the data directory."""
    configured = settings.WEBPUSH_VAPID_PRIVATE_KEY.strip()
    if configured:
        if "-----BEGIN" in configured:
            return Vapid02.from_pem(configured.encode())
        return Vapid02.from_string(configured)
    key_file = settings.DATA_DIR / "keys" / "vapid_private.pem"
    if not key_file.exists():
        _write_new_key(key_file)
    return Vapid02.from_pem(key_file.read_bytes())


def _write_new_key(key_file: Path) -> None:
    """Writes a fresh key unless another process got there first: written aside, then linked
    into place, which fails if the file exists, so every process ends up with the same key."""
    key_file.parent.mkdir(parents=True, exist_ok=True)
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd, temporary = tempfile.mkstemp(dir=key_file.parent, prefix=".vapid-")
    try:
        with os.fdopen(fd, "wb") as handle:  # mkstemp creates it readable by the owner only
            handle.write(pem)
        os.link(temporary, key_file)
    except FileExistsError:
        pass
    finally:
        os.unlink(temporary)


def vapid_public_key() -> str:
    """The application server key a browser passes to pushManager.subscribe()."""
    raw = vapid_key().public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def push_payload(notification: Notification) -> str:
    subject, body = message_text(notification)
    return json.dumps(
        {
            "title": subject,
            "body": body,
            # Opening the push opens the notification: read, then on to what it is about.
            "url": absolute(reverse("notify:open", args=[notification.pk]))
            if notification.link
            else absolute(reverse("notify:inbox")),
            "link": absolute_link(notification),
            "id": notification.pk,
            "priority": notification.dispatch.priority,
        },
        ensure_ascii=False,
    )


def push_topic(delivery: Delivery) -> str:
    """RFC 8030 allows at most 32 characters of the URL-safe base64 alphabet."""
    return "d" + delivery_key(delivery).replace(".", "-")[:31]


class WebPushAdapter(ChannelAdapter):
    """Sends to every browser the user subscribed. Delivered if any browser accepted it; a
    subscription the push service no longer knows (404, 410) is removed."""

    channel = Channel.PUSH

    def __init__(self) -> None:
        # Guarded: an endpoint is a URL a user gave us, checked again at every connection.
        self._session = guarded_session()

    def send(self, delivery: Delivery) -> None:
        notification = delivery.notification
        if notification.recipient_id is None:
            raise PermanentDeliveryError("push reaches accounts only")
        subscriptions = list(PushSubscription.objects.filter(user_id=notification.recipient_id))
        if not subscriptions:
            raise PermanentDeliveryError("the recipient has no push subscription")
        priority = notification.dispatch.priority
        payload = push_payload(notification)
        delivered, temporary, permanent = 0, [], []
        for subscription in subscriptions:
            try:
                webpush(
                    subscription_info=subscription.subscription_info(),
                    data=payload,
                    vapid_private_key=vapid_key(),
                    vapid_claims={"sub": settings.WEBPUSH_VAPID_SUBJECT},
                    ttl=PUSH_TTL_SECONDS.get(priority, PUSH_TTL_SECONDS[Priority.NORMAL]),
                    # The Topic (RFC 8030 §5.4) makes a repeat of this delivery replace,
                    # not join, a copy the push service still holds for an offline browser.
                    headers={
                        "Urgency": PUSH_URGENCY.get(priority, "normal"),
                        "Topic": push_topic(delivery),
                    },
                    timeout=PUSH_TIMEOUT_SECONDS,
                    requests_session=self._session,
                )
            except OutboundRefused as exc:
                # Stored before endpoints were checked, or its name now resolves inside: never
                # retried, and no request was sent.
                permanent.append(str(exc)[:200])
            except WebPushException as exc:
                status = exc.status_code
                if status in (404, 410):
                    subscription.delete()
                    permanent.append(f"{status} subscription gone")
                elif status is not None and (status == 429 or status >= 500):
                    temporary.append(f"{status}")
                else:
                    permanent.append(f"{status}: {exc.message}"[:200])
            except (requests.RequestException, OSError) as exc:
                temporary.append(type(exc).__name__)
            except ValueError as exc:  # malformed subscription keys
                permanent.append(f"bad subscription: {exc}"[:200])
            else:
                delivered += 1
                PushSubscription.objects.filter(pk=subscription.pk).update(
                    last_success_at=timezone.now()
                )
        if delivered:
            return
        if temporary:
            raise TemporaryDeliveryError("push service unavailable: " + ", ".join(temporary))
        raise PermanentDeliveryError("push refused: " + "; ".join(permanent))

    def close(self) -> None:
        self._session.close()


def adapter_for(channel: str) -> ChannelAdapter:
    if channel == Channel.EMAIL:
        return EmailAdapter()
    if channel == Channel.SMS:
        adapter: ChannelAdapter = import_string(settings.SMS_ADAPTER)()
        return adapter
    if channel == Channel.PUSH:
        return WebPushAdapter()
    raise ValueError(f"no adapter for channel {channel!r}")
