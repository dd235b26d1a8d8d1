"""Every write to the outbox, and the surface other modules call. Keyword-only, typed, atomic and
audited.

Sending is in two halves. `notification_send` (and `notification_broadcast` for a set the
database selects, and `notification_send_to_address` for one address of someone without an
account) writes the inbox rows and the deliveries in bulk and, once the transaction commits,
enqueues one task per chunk of delivery ids. A worker then claims deliveries with a conditional
UPDATE (state queued → sending, with a fresh lease token), sends them through the channel
adapter, and records the outcome only while its claim still holds (`delivering`).
`delivery_sweep` runs periodically: it re-queues deferred deliveries and temporary failures that
are due, and takes back leases that expired with their worker.

By subject: `delivering` (the worker's half: claims, attempts, retries, the sweep, and enqueueing
the delivery task), `sending` (to accounts), `broadcasting` (to a database-selected set),
`addresses` (to someone without an account), `planning` (what the three sends share), `inbox`,
`preferences`, `push` (Web Push subscriptions), `accounts` (what notify tells a person on core's
account events, subscribed from the app's ready()).

Other modules import from here only: the functions below, the kinds' type to declare their own,
and the choices they pass (`Channel`, `Priority`) or compare with (`DeliveryState`,
`FailureKind`).
"""

from __future__ import annotations

from civichub.notify.kinds import Category, NotificationKind
from civichub.notify.models import OUTSIDE_CHANNELS, Channel, DeliveryState, FailureKind, Priority
from civichub.notify.services.addresses import (
    ADDRESS_CHANNELS,
    masked_address,
    notification_send_to_address,
)
from civichub.notify.services.broadcasting import notification_broadcast
from civichub.notify.services.delivering import (
    CLAIM_BATCH,
    DELIVERY_TASK_CHUNK,
    EMERGENCY_TASK_PRIORITY,
    LEASE_RENEW_AFTER,
    MAX_BACKOFF_SECONDS,
    STALE_QUEUE_SECONDS,
    SWEEP_MAX_PAGES,
    SWEEP_PAGE,
    Claim,
    SweepResult,
    claim_lease_seconds,
    deliveries_enqueue,
    delivery_attempt,
    delivery_batch_send,
    delivery_claim,
    delivery_claim_renew,
    delivery_mark_failed,
    delivery_mark_sent,
    delivery_sweep,
    retry_delay,
)
from civichub.notify.services.inbox import notification_mark_all_read, notification_mark_read
from civichub.notify.services.preferences import preference_update
from civichub.notify.services.push import push_subscription_delete, push_subscription_save
from civichub.notify.services.sending import (
    RECIPIENT_CHUNK,
    notification_send,
    notification_test_send,
)

__all__ = [
    "ADDRESS_CHANNELS",
    "CLAIM_BATCH",
    "DELIVERY_TASK_CHUNK",
    "EMERGENCY_TASK_PRIORITY",
    "LEASE_RENEW_AFTER",
    "MAX_BACKOFF_SECONDS",
    "OUTSIDE_CHANNELS",
    "RECIPIENT_CHUNK",
    "STALE_QUEUE_SECONDS",
    "SWEEP_MAX_PAGES",
    "SWEEP_PAGE",
    "Category",
    "Channel",
    "Claim",
    "DeliveryState",
    "FailureKind",
    "NotificationKind",
    "Priority",
    "SweepResult",
    "claim_lease_seconds",
    "deliveries_enqueue",
    "delivery_attempt",
    "delivery_batch_send",
    "delivery_claim",
    "delivery_claim_renew",
    "delivery_mark_failed",
    "delivery_mark_sent",
    "delivery_sweep",
    "masked_address",
    "notification_broadcast",
    "notification_mark_all_read",
    "notification_mark_read",
    "notification_send",
    "notification_send_to_address",
    "notification_test_send",
    "preference_update",
    "push_subscription_delete",
    "push_subscription_save",
    "retry_delay",
]
