"""A browser's Web Push subscriptions."""

from __future__ import annotations

import base64
import binascii

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from civichub.core.audit import audit_record
from civichub.core.errors import ValidationFailed
from civichub.core.models import User
from civichub.core.outbound import OutboundRefused, url_check
from civichub.notify.models import PushSubscription


def _b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _check_push_endpoint(endpoint: str) -> list[str]:
    # Plain http only where the operator allows it (a local test push service); whatever the
    # scheme, the host must resolve outside the deployment's own network, or any user could
    # point the worker's POSTs at an internal address.
    allow_http = getattr(settings, "WEBPUSH_ALLOW_HTTP_ENDPOINTS", settings.DEBUG)
    try:
        url_check(endpoint, allow_http=allow_http)
    except OutboundRefused as refused:
        if refused.reason == "scheme":
            return [_("须为推送服务的 https 网址。")]
        if refused.reason == "unresolvable":
            return [_("找不到该推送服务的地址。")]
        return [_("推送服务的地址不可为内部网络地址。")]
    return []


@transaction.atomic
def push_subscription_save(
    *, actor: User, endpoint: str, p256dh: str, auth: str, user_agent: str = ""
) -> PushSubscription:
    """Registers (or moves to the actor) a browser's push subscription."""
    errors: dict[str, list[str]] = {}
    endpoint_errors = _check_push_endpoint(endpoint) if len(endpoint) <= 2000 else [_("网址过长。")]
    if endpoint_errors:
        errors["endpoint"] = endpoint_errors
    try:
        key = _b64url_decode(p256dh)
        if len(key) != 65 or key[0] != 4:
            errors["p256dh"] = [_("须为未压缩的 P-256 公钥。")]
    except (binascii.Error, ValueError):
        errors["p256dh"] = [_("不是 base64url 编码。")]
    try:
        if len(_b64url_decode(auth)) != 16:
            errors["auth"] = [_("须为 16 字节的密钥。")]
    except (binascii.Error, ValueError):
        errors["auth"] = [_("不是 base64url 编码。")]
    if errors:
        raise ValidationFailed(_("推送订阅信息有误。"), errors=errors)
    subscription, created = PushSubscription.objects.update_or_create(
        endpoint=endpoint,
        defaults={"user": actor, "p256dh": p256dh, "auth": auth, "user_agent": user_agent[:300]},
    )
    audit_record(
        actor=actor, action="push_subscription.save", obj=subscription, changes={"created": created}
    )
    return subscription


@transaction.atomic
def push_subscription_delete(*, actor: User, endpoint: str) -> bool:
    subscription = PushSubscription.objects.filter(user=actor, endpoint=endpoint).first()
    if subscription is None:
        return False
    audit_record(actor=actor, action="push_subscription.delete", obj=subscription)
    subscription.delete()
    return True
