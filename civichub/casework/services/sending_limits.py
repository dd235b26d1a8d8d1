"""Limits on one-time codes, against SMS pumping (a client making the platform text many
numbers, often premium ones, at the deployment's expense): codes per client address and per
network in an hour, and a budget for what the whole deployment spends on SMS in an hour, past
which codes by SMS are refused and operators are told once.

The counters live in the cache (Redis in production, shared by every process; local memory
in the embedded install), in fixed windows of one hour. A counter is raised before it is
compared, so concurrent requests cannot all pass the last free place; a client refused on its
own counters raises no number's or the budget's, so a flood of refusals costs a victim
nothing."""

from __future__ import annotations

import ipaddress
import logging
import time

from django.core.cache import cache
from django.utils.translation import gettext as _

from civichub.casework.conf import casework_settings
from civichub.casework.models import ContactChannel
from civichub.casework.selectors import operators
from civichub.core.errors import RateLimited
from civichub.notify.services import notification_send

logger = logging.getLogger(__name__)

HOUR = 3600
_PREFIX = "casework:verify"
# Spend is counted in thousandths, so that a cache counter (an integer) adds a cost like 0.05.
_MILLI = 1000


def client_network(client: str) -> str:
    """The network a client address belongs to for the limit: its /24 (IPv4) or /48 (IPv6),
    the block one subscriber or one small provider usually holds."""
    address = ipaddress.ip_address(client)
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def _window() -> int:
    return int(time.time() // HOUR)


def _raise_counter(key: str, amount: int = 1) -> int:
    """Adds `amount` to this hour's counter and returns the new value."""
    cache.add(key, 0, HOUR + 60)
    try:
        return int(cache.incr(key, amount))
    except ValueError:  # expired between add and incr
        cache.add(key, amount, HOUR + 60)
        return amount


def verification_send_check(*, channel: str, client: str | None) -> None:
    """Counts one code about to be sent from `client` (the address `core.http.client_address`
    gives; None for the platform itself), or raises RateLimited when the client, its network
    or, for SMS, the deployment's hourly budget has had its share."""
    conf = casework_settings()
    window = _window()
    if client:
        if _raise_counter(f"{_PREFIX}:client:{client}:{window}") > int(
            conf.verification_per_client_hour
        ):
            raise RateLimited(_("您获取验证码的次数过多，请稍后再试。"), limit="client")
        network = client_network(client)
        if _raise_counter(f"{_PREFIX}:network:{network}:{window}") > int(
            conf.verification_per_network_hour
        ):
            raise RateLimited(_("您所在网络获取验证码的次数过多，请稍后再试。"), limit="network")
    if channel != ContactChannel.SMS:
        return
    cost = round(float(conf.sms_cost) * _MILLI)
    spent = _raise_counter(f"{_PREFIX}:sms-spend:{window}", cost)
    if spent > round(float(conf.sms_budget_per_hour) * _MILLI):
        _budget_alert(window)
        raise RateLimited(
            _("本平台本小时的短信验证码额度已用完，请稍后再试，或改用电子邮件接收验证码。"),
            limit="sms_budget",
        )


def _budget_alert(window: int) -> None:
    """Tells operators, once an hour, that the SMS budget is spent: the cache lets only the
    first refusal of the hour through, and the notification's dedupe key keeps it to one even
    if the cache forgot."""
    if not cache.add(f"{_PREFIX}:sms-alerted:{window}", 1, HOUR + 60):
        return
    conf = casework_settings()
    logger.warning(
        "SMS verification budget for this hour (%s) spent: codes by SMS are refused",
        conf.sms_budget_per_hour,
    )
    recipients = list(operators())
    if not recipients:
        return
    notification_send(
        recipients=recipients,
        kind="casework.sms_budget_spent",
        context={"budget": conf.sms_budget_per_hour, "cost": conf.sms_cost},
        channels=["inapp", "email"],
        dedupe_key=f"casework.sms_budget_spent:{window}",
    )
