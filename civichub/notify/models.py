"""The outbox: what was said (Dispatch), each recipient's inbox copy (Notification), each attempt
to reach them on an outside channel (Delivery), and the settings that decide how (preferences,
push subscriptions)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from civichub.notify.choices import (
    OUTSIDE_CHANNELS,
    Channel,
    DeliveryState,
    FailureKind,
    Priority,
)
from civichub.notify.conf import notify_settings

__all__ = [
    "OUTSIDE_CHANNELS",
    "Channel",
    "Delivery",
    "DeliveryState",
    "Dispatch",
    "FailureKind",
    "Notification",
    "NotificationPreference",
    "Priority",
    "PushSubscription",
    "SmsLog",
]


class Dispatch(models.Model):
    """One call of `notification_send`: the kind, the texts rendered once per language, and who
    asked for it. Recipients share these texts, so a million-recipient alert stores them once."""

    kind = models.CharField(max_length=100, db_index=True)
    category = models.CharField(max_length=50)
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.NORMAL)
    texts = models.JSONField(default=dict, help_text=_("按语言渲染的标题与正文"))
    # For kinds with one-time secrets: the texts with the secrets, encrypted, for the outside
    # channels alone; `texts` then holds them masked. Cleared by the sweep after a day.
    sealed_texts = models.BinaryField(null=True, blank=True, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    recipient_count = models.PositiveIntegerField(default=0)
    delivery_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at", "-id"]
        indexes: ClassVar[list[models.Index]] = [
            # The sweep finds the sealed texts to clear without reading every dispatch.
            models.Index(
                fields=["created_at"],
                condition=models.Q(sealed_texts__isnull=False),
                name="notify_dispatch_sealed_idx",
            )
        ]
        verbose_name = _("通知发送")
        verbose_name_plural = pgettext_lazy("plural", "通知发送")

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"

    def text(self, language: str) -> dict[str, str]:
        texts: dict[str, dict[str, str]] = self.texts
        return texts.get(language) or texts.get("zh-hans") or {"subject": "", "body": ""}


class Notification(models.Model):
    """A recipient's inbox row. `dedupe_key`, when given, is unique per recipient so that a
    retried caller cannot notify the same person twice about the same thing. A notification
    sent to an address of someone without an account (`notification_send_to_address`) has no
    recipient: it is in nobody's inbox, and its one delivery carries the address."""

    # The outbox's references carry no database constraint (`db_constraint=False`): a
    # million-recipient alert would otherwise run three million foreign-key checks at commit,
    # half the cost of the send. The rows are only ever written from rows that exist in the
    # same transaction (the dispatch just created, the recipients selected from the users, the
    # deliveries from these inbox rows), and they are only deleted through the ORM, whose
    # cascades follow `on_delete` whether or not the database knows the reference.
    dispatch = models.ForeignKey(
        Dispatch, on_delete=models.CASCADE, related_name="notifications", db_constraint=False
    )
    # No index of its own: the inbox index starts with the recipient (one index less to write
    # per row of a million-recipient alert).
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
        db_index=False,
        db_constraint=False,
    )
    language = models.CharField(max_length=10, default="zh-hans")
    dedupe_key = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at", "-id"]
        verbose_name = pgettext_lazy("singular", "通知")
        verbose_name_plural = pgettext_lazy("plural", "通知")
        indexes: ClassVar[list[models.Index]] = [
            # One index for the inbox (a recipient's rows, newest first) and for what is unread
            # (the count and the unread page read `read_at` from the index, not the rows): a
            # second index on (recipient, read_at) was one more entry to write for each of a
            # million recipients of an alert.
            models.Index(
                fields=["recipient", "-created_at", "-id", "read_at"], name="notify_inbox_idx"
            ),
        ]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["recipient", "dedupe_key"],
                condition=~Q(dedupe_key=""),
                name="notify_notification_dedupe",
            ),
            # The same for sends to an address, which have no recipient.
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=Q(recipient__isnull=True) & ~Q(dedupe_key=""),
                name="notify_address_dedupe",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} → {self.recipient_id}"

    @property
    def subject(self) -> str:
        return self.dispatch.text(self.language)["subject"]

    @property
    def body(self) -> str:
        return self.dispatch.text(self.language)["body"]

    @property
    def link(self) -> str:
        """Where the notification leads (a path on this site or an address), or ""."""
        return self.dispatch.text(self.language).get("link", "")

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class Delivery(models.Model):
    """One notification on one outside channel. State machine:
    queued → sending → sent | failed; failed(temporary) and deferred → queued again when due.
    A worker owns a `sending` row only while its `lease_token` is on the row and the lease has
    not expired; every transition out of `sending` is conditional on that token."""

    # No index of its own: the one-per-channel constraint's index starts with it.
    # No constraint in the database either (see `Notification.dispatch`).
    notification = models.ForeignKey(
        Notification,
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_index=False,
        db_constraint=False,
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    state = models.CharField(
        max_length=16, choices=DeliveryState.choices, default=DeliveryState.QUEUED
    )
    failure = models.CharField(
        max_length=16, choices=FailureKind.choices, blank=True, default=FailureKind.NONE
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # The phone number or e-mail address of a delivery to someone without an account, kept until
    # the delivery is sent or fails for good; empty for a recipient's delivery, which reaches
    # them at the account's current address.
    address = models.CharField(max_length=254, blank=True, default="")

    class Meta:
        verbose_name = _("投递")
        verbose_name_plural = pgettext_lazy("plural", "投递")
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["state", "next_attempt_at"], name="notify_delivery_due_idx"),
        ]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["notification", "channel"], name="notify_delivery_one_per_channel"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} #{self.pk} ({self.state})"


def parse_quiet_hours(value: str) -> tuple[dt.time, dt.time] | None:
    """ "22:00-07:00" → (22:00, 07:00); empty, "off" or equal ends mean no quiet hours."""
    value = value.strip()
    if not value or value.lower() == "off":
        return None
    start_text, _sep, end_text = value.partition("-")
    start = dt.time.fromisoformat(start_text.strip())
    end = dt.time.fromisoformat(end_text.strip())
    return None if start == end else (start, end)


def quiet_hours_end(
    *, now: dt.datetime, start: dt.time, end: dt.time, tz: dt.tzinfo
) -> dt.datetime | None:
    """When the quiet period containing `now` ends, or None if `now` is outside it. A period whose
    start is after its end runs across midnight (22:00-07:00)."""
    local = now.astimezone(tz)
    t = local.time().replace(tzinfo=None)
    if start < end:
        inside = start <= t < end
        end_day = local.date()
    else:
        inside = t >= start or t < end
        end_day = local.date() + dt.timedelta(days=1) if t >= start else local.date()
    if not inside:
        return None
    return dt.datetime.combine(end_day, end, tzinfo=tz)


class NotificationPreference(models.Model):
    """A user's choices. `channels` holds soft switches per category and channel
    ({"service": {"sms": false}}), missing means on; emergencies override them. `blocked_channels`
    are hard opt-outs that even emergencies respect. Quiet hours default to the deployment
    profile when start and end are unset."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    channels = models.JSONField(default=dict, blank=True)
    blocked_channels = models.JSONField(default=list, blank=True)
    quiet_hours_enabled = models.BooleanField(default=True)
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    time_zone = models.CharField(max_length=64, blank=True, default="")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = pgettext_lazy("singular", "通知偏好")
        verbose_name_plural = pgettext_lazy("plural", "通知偏好")

    def __str__(self) -> str:
        return f"{self.user_id}"

    def channel_enabled(self, category: str, channel: str) -> bool:
        return bool(self.channels.get(category, {}).get(channel, True))

    def is_blocked(self, channel: str) -> bool:
        return channel in self.blocked_channels

    def tzinfo(self) -> dt.tzinfo:
        name = self.time_zone or settings.TIME_ZONE
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return zoneinfo.ZoneInfo(settings.TIME_ZONE)

    def quiet_hours(self) -> tuple[dt.time, dt.time] | None:
        if not self.quiet_hours_enabled:
            return None
        if self.quiet_start is not None and self.quiet_end is not None:
            return (
                None if self.quiet_start == self.quiet_end else (self.quiet_start, self.quiet_end)
            )
        return parse_quiet_hours(str(notify_settings().quiet_hours_default))

    def quiet_until(self, now: dt.datetime) -> dt.datetime | None:
        hours = self.quiet_hours()
        if hours is None:
            return None
        return quiet_hours_end(now=now, start=hours[0], end=hours[1], tz=self.tzinfo())


class PushSubscription(models.Model):
    """A browser's Web Push subscription (RFC 8030 endpoint, RFC 8291 keys)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions"
    )
    endpoint = models.CharField(max_length=2000, unique=True)
    p256dh = models.CharField(max_length=200)
    auth = models.CharField(max_length=100)
    user_agent = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    last_success_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("推送订阅")
        verbose_name_plural = pgettext_lazy("plural", "推送订阅")

    def __str__(self) -> str:
        return f"{self.user_id} · {self.endpoint[:60]}"

    def subscription_info(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


class SmsLog(models.Model):
    """What the logging SMS adapter "sent": the demo's stand-in for an SMS gateway's records."""

    delivery = models.ForeignKey(
        Delivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="sms_log"
    )
    phone = models.CharField(max_length=32)
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at", "-id"]
        verbose_name = _("短信记录")
        verbose_name_plural = pgettext_lazy("plural", "短信记录")

    def __str__(self) -> str:
        return f"{self.phone}: {self.text[:40]}"
