"""Sending to an address of someone without an account (a resident's relative known by a phone
number): one outside channel, no inbox, no preferences."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from civichub.core.errors import ValidationFailed
from civichub.core.models import User
from civichub.notify import kinds
from civichub.notify.models import (
    Channel,
    Delivery,
    DeliveryState,
    Dispatch,
    Notification,
    Priority,
)
from civichub.notify.services.planning import default_plans
from civichub.notify.services.sending import dedupe_conflicts, send_close, send_open

ADDRESS_CHANNELS: tuple[str, ...] = (Channel.SMS, Channel.EMAIL)
_PHONE_CHARACTERS = frozenset("0123456789+-() ")


def _address_errors(channel: str, address: str) -> list[str]:
    if channel == Channel.EMAIL:
        try:
            validate_email(address)
        except DjangoValidationError:
            return [_("不是有效的电子邮件地址。")]
        return []
    digits = sum(ch.isdigit() for ch in address)
    if not address or len(address) > 32 or set(address) - _PHONE_CHARACTERS or digits < 3:
        return [_("不是有效的手机号码。")]
    return []


def masked_address(address: str) -> str:
    """How the audit log names an address: enough to tell deliveries apart, not to reach anyone
    (the last four digits of a phone number; the first letter and domain of an e-mail)."""
    if "@" in address:
        local, _at, domain = address.rpartition("@")
        return f"{local[:1]}…@{domain}"
    return f"…{address[-4:]}"


def notification_send_to_address(
    *,
    kind: str,
    channel: str,
    address: str,
    language: str = kinds.DEFAULT_LANGUAGE,
    context: dict[str, Any],
    priority: str = Priority.NORMAL,
    actor: User | None = None,
    dedupe_key: str | None = None,
) -> Dispatch:
    """Notifies someone who has no account (a resident's relative known by a phone number) on
    one outside channel, SMS or e-mail: the same kinds and templates, the same delivery with its
    retries, backoff and lease, and the same audit row as `notification_send`. There is no
    inbox and there are no preferences: the deployment's default quiet hours defer a normal
    notification, an emergency goes at once. The address is kept on the delivery alone, and only
    until it is sent or has failed for good (the retries need it); the audit row names it
    masked. A `dedupe_key` already used for
    an address send makes this a no-op, as for a recipient already notified."""
    address = address.strip()
    if channel not in ADDRESS_CHANNELS:
        raise ValidationFailed.on("channel", _("只能通过短信或电子邮件发送到地址。"))
    address_errors = _address_errors(channel, address)
    if address_errors:
        raise ValidationFailed(address_errors[0], errors={"address": address_errors})
    if language not in kinds.LANGUAGES:
        language = kinds.DEFAULT_LANGUAGE
    with dedupe_conflicts(), transaction.atomic():
        send = send_open(
            kind=kind,
            context=context,
            priority=priority,
            channels=[channel],
            actor=actor,
            dedupe_key=dedupe_key,
        )
        already = bool(send.dedupe_key) and (
            Notification.objects.filter(recipient__isnull=True, dedupe_key=send.dedupe_key)
            .exclude(dispatch=send.dispatch)
            .exists()
        )
        plan = default_plans(
            channels=[channel],
            category=send.dispatch.category,
            emergency=send.emergency,
            now=send.now,
        )[channel]
        if not already and plan is not None:
            notification = Notification.objects.create(
                dispatch=send.dispatch,
                recipient=None,
                language=language,
                dedupe_key=send.dedupe_key,
                created_at=send.now,
            )
            state, next_attempt_at = plan
            delivery = Delivery.objects.create(
                notification=notification,
                channel=channel,
                address=address,
                state=state,
                next_attempt_at=next_attempt_at,
                enqueued_at=send.now if state == DeliveryState.QUEUED else None,
                created_at=send.now,
                updated_at=send.now,
            )
            send.tally.recipients = 1
            send.tally.add(channel, state, delivery.pk)
        return send_close(send, actor=actor, address=masked_address(address))
