"""The family is sent an alert: the reachable contacts in calling order, each with their own
signed link, the next one while nobody has answered."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import translation

from civichub.core.config import module_config
from civichub.core.errors import ValidationFailed
from civichub.core.models import User
from civichub.notify.services import (
    Channel,
    Priority,
    notification_send,
    notification_send_to_address,
)
from civichub.wellbeing.conf import WellbeingSettings
from civichub.wellbeing.links import ack_link
from civichub.wellbeing.models import Alert, FamilyContact, Household
from civichub.wellbeing.wording import explain

logger = logging.getLogger("civichub.wellbeing")


def _family_reachable(household: Household) -> list[FamilyContact]:
    """The contacts the outbox can reach, in calling order: those with an account (in-app and
    their own channels) and those known only by a phone number (SMS) or an e-mail address."""
    return [
        c
        for c in household.contacts.select_related("user")
        if c.user is not None or c.phone or c.email
    ]


def _family_send(
    *,
    user: User | None,
    phone: str,
    email: str,
    context: dict[str, Any],
    priority: str,
    dedupe_key: str,
) -> None:
    """One family contact is sent the alert: through their account when they have one, else by
    SMS to the number and by e-mail to the address on the contact (the outbox keeps each on its
    delivery for the retries)."""
    if user is not None:
        notification_send(
            recipients=[user],
            kind="wellbeing.alert_family",
            context=context,
            priority=priority,
            dedupe_key=dedupe_key,
        )
        return
    for channel, address in ((Channel.SMS, phone), (Channel.EMAIL, email)):
        if not address:
            continue
        try:
            notification_send_to_address(
                kind="wellbeing.alert_family",
                channel=channel,
                address=address,
                context=context,
                priority=priority,
                dedupe_key=f"{dedupe_key}.{channel}",
            )
        except ValidationFailed:
            # An address the outbox refuses: the worker's page shows the contact to call by
            # hand, and the visit follows the family deadline as for anyone who does not answer.
            logger.warning("family contact %s: cannot send by %s", dedupe_key, channel)


def _family_due(alert: Alert, now: datetime) -> int:
    """How many contacts should have the alert by now: the first at once, then one more every
    `contact_minutes` (0: all at once) while nobody has answered."""
    step = module_config(WellbeingSettings).contact_minutes
    if step <= 0:
        return 1_000
    return 1 + int((now - alert.created_at) / timedelta(minutes=step))


def family_notify(alert: Alert, household: Household, minutes: int, *, urgent: bool) -> None:
    """The family contacts are sent the alert in calling order, each with their own signed
    link: the first now, the next ones by the escalation task while nobody has answered."""
    family_notify_due(alert, household, minutes, urgent=urgent, now=alert.created_at)


def family_notify_due(
    alert: Alert,
    household: Household,
    minutes: int,
    *,
    urgent: bool,
    now: datetime,
    round_key: str = "",
) -> int:
    """Sends the alert to the contacts due by `now` that have not had it yet; returns how many.
    `round_key` names a second round of the same alert (it became graver), which the outbox
    must not take for a repeat of the first."""
    resident = household.resident
    priority = Priority.EMERGENCY if urgent else Priority.NORMAL
    reachable = _family_reachable(household)
    due = min(_family_due(alert, now), len(reachable))
    if due <= alert.family_notified:
        return 0
    for contact in reachable[alert.family_notified : due]:
        context = {
            "name": resident.name,
            **alert_explanations(alert),
            "minutes": minutes,
            "link": ack_link(alert=alert, contact=contact),
        }
        transaction.on_commit(
            partial(
                _family_send,
                user=contact.user,
                phone=contact.phone,
                email=contact.email,
                context=context,
                priority=priority,
                dedupe_key=f"wellbeing.alert.{alert.pk}.family.{contact.pk}{round_key}",
            )
        )
    sent = due - alert.family_notified
    Alert.objects.filter(pk=alert.pk).update(family_notified=due)
    alert.family_notified = due
    return sent


def alert_explanations(alert: Alert) -> dict[str, str]:
    """The alert in plain words in each language a notification is written in."""
    with translation.override("zh-hans"):
        chinese = explain(alert.kind, alert.evidence, alert.explanation)
    with translation.override("en"):
        english = explain(alert.kind, alert.evidence, alert.explanation)
    return {"explanation": english, "explanation_zh": chinese}
