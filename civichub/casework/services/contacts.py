"""Anonymous senders: the notification account behind a phone or email address, and the
one-time codes that verify it."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.casework.codes import code_hash, code_matches
from civichub.casework.conf import casework_settings
from civichub.casework.models import ContactChannel, ContactVerification
from civichub.casework.services.sending_limits import verification_send_check
from civichub.core.audit import audit_record
from civichub.core.errors import NotFound, RateLimited, ValidationFailed
from civichub.core.models import User
from civichub.core.services import user_create
from civichub.notify.services import notification_send, preference_update


def normalise_contact(channel: str, address: str) -> str:
    address = address.strip()
    if channel == ContactChannel.EMAIL:
        address = address.lower()
        if "@" not in address or len(address) > 254 or address.startswith("@"):
            raise ValidationFailed.on("address", _("请填写有效的电子邮箱。"))
        return address
    digits = "".join(ch for ch in address if ch.isdigit() or ch == "+")
    if not 6 <= len(digits.lstrip("+")) <= 15:
        raise ValidationFailed.on("address", _("请填写有效的手机号码。"))
    return digits


def contact_account(*, phone: str = "", email: str = "") -> User:
    """The account that receives notifications for an anonymous sender's contact. It has no
    usable password and no roles: nobody signs in with it; it only gives the notify outbox a
    recipient with a phone or an email address."""
    key = f"{phone}|{email}"
    username = "contact-" + hashlib.sha256(key.encode()).hexdigest()[:20]
    existing = User.objects.filter(username=username).first()
    if existing is not None:
        return existing
    account = user_create(actor=None, username=username, password=None, email=email, phone=phone)
    # A one-time code must not wait for the morning: the sender is at the form now.
    preference_update(
        actor=account,
        channels={},
        blocked_channels=[],
        quiet_hours_enabled=False,
        quiet_start=None,
        quiet_end=None,
    )
    return account


@dataclass(frozen=True)
class StartedVerification:
    """A verification just started, with the token that binds it to the client that started
    it. The token is shown only here: the record keeps only its hash."""

    verification: ContactVerification
    token: str


def contact_verification_start(
    *, channel: str, address: str, client: str | None
) -> StartedVerification:
    """Sends a six-digit one-time code to a phone (SMS) or email address, through notify, and
    returns the record with its token: confirming the code and sending a message with the
    record both need the token, so a client cannot use a verification another client started.

    `client` is the requester's address (`core.http.client_address`; None for the platform
    itself): codes are limited per client, per network, per phone or email address, and by the
    deployment's SMS budget (`sending_limits`). The limits are counted before the transaction,
    so that a refusal past the budget still alerts operators."""
    if channel not in ContactChannel.values:
        raise ValidationFailed.on("channel", _("请选择手机短信或电子邮件。"))
    address = normalise_contact(channel, address)
    conf = casework_settings()
    now = timezone.now()
    recent = ContactVerification.objects.filter(
        address=address, created_at__gte=now - dt.timedelta(hours=1)
    ).count()
    if recent >= int(conf.verification_per_address_hour):
        raise RateLimited(_("该联系方式获取验证码的次数过多，请稍后再试。"), limit="address")
    verification_send_check(channel=channel, client=client)
    with transaction.atomic():
        return _verification_open(channel=channel, address=address, now=now)


def _verification_open(*, channel: str, address: str, now: dt.datetime) -> StartedVerification:
    conf = casework_settings()
    code = f"{secrets.randbelow(1_000_000):06d}"
    account = contact_account(
        phone=address if channel == ContactChannel.SMS else "",
        email=address if channel == ContactChannel.EMAIL else "",
    )
    token = secrets.token_urlsafe(32)
    verification = ContactVerification.objects.create(
        channel=channel,
        address=address,
        code_hash=code_hash(code),
        token_hash=code_hash(token),
        created_at=now,
        expires_at=now + dt.timedelta(minutes=int(conf.verification_code_minutes)),
        contact_user=account,
    )
    notification_send(
        recipients=[account],
        kind="casework.contact_code",
        context={"code": code, "minutes": conf.verification_code_minutes},
        channels=["inapp", channel],
    )
    audit_record(
        actor=None,
        action="casework.contact.verify_start",
        obj=verification,
        changes={"channel": channel},
    )
    return StartedVerification(verification=verification, token=token)


def contact_verification_confirm(
    *, verification_id: int, token: str, code: str
) -> ContactVerification:
    """Checks the code. A wrong try is counted (and committed) before the error is raised, so
    the attempt limit holds. Without the token the start gave, the record is not found, as if
    it did not exist."""
    conf = casework_settings()
    with transaction.atomic():
        verification = (
            ContactVerification.objects.select_for_update().filter(pk=verification_id).first()
        )
        if verification is None or not code_matches(verification.token_hash, token):
            raise NotFound(_("没有找到该验证记录，请重新获取验证码。"))
        now = timezone.now()
        if verification.verified_at is not None:
            return verification
        if now >= verification.expires_at:
            raise ValidationFailed.on("code", _("验证码已过期，请重新获取。"))
        if verification.attempts >= int(conf.verification_max_attempts):
            raise RateLimited(_("验证码输错次数过多，请重新获取。"))
        verification.attempts += 1
        correct = code_matches(verification.code_hash, code)
        if correct:
            verification.verified_at = now
            # A verified contact may be used for a message within the use window.
            verification.expires_at = now + dt.timedelta(hours=int(conf.verification_use_hours))
        verification.save(update_fields=["attempts", "verified_at", "expires_at"])
        audit_record(
            actor=None,
            action="casework.contact.verified" if correct else "casework.contact.wrong_code",
            obj=verification,
        )
    if not correct:
        raise ValidationFailed.on("code", _("验证码不正确。"))
    return verification
