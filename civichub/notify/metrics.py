"""The notification outbox's figures for /metrics (`core.metrics`): deliveries waiting, by
channel and state, and how long the oldest has waited."""

from __future__ import annotations

from django.db.models import Count, Min
from django.utils import timezone

from civichub.core.metrics import Reading
from civichub.notify.choices import Channel, DeliveryState
from civichub.notify.models import Delivery

BACKLOG_STATES = (DeliveryState.QUEUED, DeliveryState.SENDING, DeliveryState.DEFERRED)


def readings() -> list[Reading]:
    backlog = Delivery.objects.filter(state__in=BACKLOG_STATES).order_by()
    counts = {
        (row["channel"], row["state"]): row["n"]
        for row in backlog.values("channel", "state").annotate(n=Count("pk"))
    }
    # Every channel and state, zeros included: an empty outbox is a figure, not a gap.
    out = [
        Reading(
            "notify_outbox_backlog",
            "Deliveries not yet sent or failed for good",
            counts.get((channel, state), 0),
            {"channel": channel, "state": state},
        )
        for channel in Channel.values
        if channel != Channel.INAPP
        for state in BACKLOG_STATES
    ]
    oldest = backlog.filter(state=DeliveryState.QUEUED).aggregate(at=Min("created_at"))["at"]
    age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    out.append(
        Reading("notify_outbox_oldest_age_seconds", "Age of the oldest queued delivery", age)
    )
    failed = Delivery.objects.filter(state=DeliveryState.FAILED).count()
    out.append(Reading("notify_deliveries_failed", "Deliveries that failed for good", failed))
    return out
