"""The worker's half of the outbox: claiming queued deliveries under a lease, sending them
through the channel adapters, recording each outcome only while the claim still holds, and the
periodic sweep that brings due deliveries back to the queue.

A worker claims all the deliveries of its task with one conditional UPDATE (state queued →
sending, with a fresh lease token), renews the lease while it sends, and records each outcome
only while its claim still holds. `delivery_sweep` re-queues deferred deliveries and temporary
failures that are due, and takes back leases that expired with their worker: a worker killed
mid-task leaves nothing waiting longer than its lease and the sweep's minute.

A kill between a channel accepting a message and the row being marked sent cannot be told
from a kill just before the send, so that one message goes again: delivery is at least once.
Each channel carries the delivery's own idempotency key (a stable Message-ID for mail, a push
Topic, one SMS log row per delivery) so the repeat is recognisable downstream.

The tasks (`civichub.notify.tasks`) call these services, and the sends and the sweep enqueue the
delivery task through `deliveries_enqueue`, which finds it by its dotted path as the task
framework's workers and the registry's periodic tasks do: the task module sits above the
services, so no service imports it. (The task stays in tasks.py, not beside this service, so
that it keeps the name the workers log and queued rows carry.)
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import random
import secrets
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks.base import Task

from civichub.core.audit import audit_record
from civichub.core.taskbatch import enqueue_many
from civichub.notify.channels import (
    ChannelAdapter,
    DeliveryError,
    TemporaryDeliveryError,
    adapter_for,
)
from civichub.notify.conf import notify_settings
from civichub.notify.models import (
    Delivery,
    DeliveryState,
    Dispatch,
    FailureKind,
    NotificationPreference,
    Priority,
)

logger = logging.getLogger("civichub.notify")

DELIVERY_TASK = "civichub.notify.tasks.deliveries_send"
DELIVERY_TASK_CHUNK = 500  # deliveries per enqueued task
EMERGENCY_TASK_PRIORITY = 50
# Deliveries a worker claims at once: a whole task's chunk, so that a worker killed mid-task
# leaves none of them queued without a task (they would wait for the stale-queue sweep).
CLAIM_BATCH = DELIVERY_TASK_CHUNK
# The lease is renewed once this share of it has passed, so a live worker never loses it.
LEASE_RENEW_AFTER = 1 / 3
MIN_LEASE_SECONDS = 5
SWEEP_PAGE = 5000
SWEEP_MAX_PAGES = 400  # 2 million rows per sweep run; the next run continues
# A queued row whose task was lost (the queue was down at commit) is enqueued again after this.
# Long, because during a large send rows legitimately wait in the queue for a while, and each
# re-enqueue of a row still waiting costs a task that finds nothing to claim.
STALE_QUEUE_SECONDS = 3600
MAX_BACKOFF_SECONDS = 6 * 3600
# A one-time secret sealed into a dispatch for its outside channels is kept this long: enough
# for every retry of a code that is valid for minutes.
SEALED_TEXT_SECONDS = 24 * 3600


def chunks(values: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for value in values:
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _max_attempts() -> int:
    return int(notify_settings().notification_max_attempts)


def claim_lease_seconds() -> int:
    """The deployment's lease on claimed deliveries (`notification_lease_seconds`)."""
    return max(MIN_LEASE_SECONDS, int(notify_settings().notification_lease_seconds))


def retry_delay(attempt: int) -> dt.timedelta:
    """Exponential backoff with "equal jitter": between half and all of base·2^(attempt-1), so
    that deliveries failing together (a gateway outage) do not all come back at once."""
    base = int(notify_settings().notification_backoff_seconds)
    ceiling = min(base * 2 ** max(attempt - 1, 0), MAX_BACKOFF_SECONDS)
    return dt.timedelta(seconds=ceiling / 2 + random.uniform(0, ceiling / 2))


@dataclass
class Claim:
    token: str
    expires_at: dt.datetime
    deliveries: list[Delivery]
    lease_seconds: int = 0

    def renewal_due(self, now: dt.datetime) -> bool:
        left = (self.expires_at - now).total_seconds()
        return left < self.lease_seconds * (1 - LEASE_RENEW_AFTER)


def delivery_claim(
    *,
    delivery_ids: list[int],
    now: dt.datetime | None = None,
    lease_seconds: int | None = None,
) -> Claim:
    """Takes the queued deliveries among `delivery_ids` for this worker alone: one conditional
    UPDATE moves them to `sending` under a fresh lease token, and only rows still queued at that
    moment move. A second worker claiming the same ids gets none of them."""
    now = now or timezone.now()
    token = secrets.token_hex(16)
    if lease_seconds is None:
        lease_seconds = claim_lease_seconds()
    expires_at = now + dt.timedelta(seconds=lease_seconds)
    with transaction.atomic():
        # SKIP LOCKED (PostgreSQL) keeps two workers from waiting on, or deadlocking over, rows
        # the other is claiming; SQLite serialises the transaction instead.
        free = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(pk__in=delivery_ids, state=DeliveryState.QUEUED)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if free:
            Delivery.objects.filter(pk__in=free, state=DeliveryState.QUEUED).update(
                state=DeliveryState.SENDING,
                lease_token=token,
                lease_expires_at=expires_at,
                attempts=F("attempts") + 1,
                updated_at=now,
            )
    claimed = list(
        Delivery.objects.filter(pk__in=delivery_ids, state=DeliveryState.SENDING, lease_token=token)
        .select_related("notification__dispatch", "notification__recipient__resident")
        .order_by("pk")
    )
    return Claim(
        token=token, expires_at=expires_at, deliveries=claimed, lease_seconds=lease_seconds
    )


def delivery_claim_renew(*, claim: Claim, now: dt.datetime | None = None) -> int:
    """Extends the lease on the claim's deliveries still being sent, so that a worker working
    through a slow batch keeps them; returns how many it still holds. Rows the sweep took back
    (a clock that jumped, a stall longer than the lease) stay with their new owner."""
    now = now or timezone.now()
    if now >= claim.expires_at:
        return 0  # lapsed: another worker may already own them
    expires_at = now + dt.timedelta(seconds=claim.lease_seconds)
    held = Delivery.objects.filter(
        lease_token=claim.token, state=DeliveryState.SENDING, lease_expires_at__gt=now
    ).update(lease_expires_at=expires_at, updated_at=now)
    claim.expires_at = expires_at
    return held


def delivery_mark_sent(*, delivery: Delivery, token: str, now: dt.datetime | None = None) -> bool:
    """Sent, if this worker's claim still holds; False if the lease was lost meanwhile. The
    address of a send to someone without an account is forgotten: it was kept for the retries."""
    now = now or timezone.now()
    return bool(
        Delivery.objects.filter(
            pk=delivery.pk, state=DeliveryState.SENDING, lease_token=token
        ).update(
            state=DeliveryState.SENT,
            failure=FailureKind.NONE,
            sent_at=now,
            last_error="",
            lease_token="",
            lease_expires_at=None,
            next_attempt_at=None,
            updated_at=now,
            address="",
        )
    )


def _next_attempt_at(delivery: Delivery, now: dt.datetime) -> dt.datetime:
    at = now + retry_delay(delivery.attempts)
    if delivery.notification.dispatch.priority == Priority.EMERGENCY:
        return at
    recipient_id = delivery.notification.recipient_id
    preference = (
        None
        if recipient_id is None  # an address without an account: the deployment's defaults
        else NotificationPreference.objects.filter(user_id=recipient_id).first()
    )
    if preference is None:
        preference = NotificationPreference()
    return preference.quiet_until(at) or at


def delivery_mark_failed(
    *, delivery: Delivery, token: str, error: DeliveryError, now: dt.datetime | None = None
) -> str:
    """Records a failed attempt: retried later if temporary and attempts remain, otherwise
    failed for good. Returns the resulting failure kind, or "" if the claim was lost."""
    now = now or timezone.now()
    permanent = error.permanent or delivery.attempts >= _max_attempts()
    values: dict[str, Any] = {
        "state": DeliveryState.FAILED,
        "last_error": str(error)[:500],
        "lease_token": "",
        "lease_expires_at": None,
        "updated_at": now,
    }
    if permanent:
        # No retry will need the address of a send to someone without an account.
        values.update(failure=FailureKind.PERMANENT, next_attempt_at=None, address="")
    else:
        values.update(
            failure=FailureKind.TEMPORARY, next_attempt_at=_next_attempt_at(delivery, now)
        )
    updated = Delivery.objects.filter(
        pk=delivery.pk, state=DeliveryState.SENDING, lease_token=token
    ).update(**values)
    if not updated:
        return ""
    return FailureKind.PERMANENT if permanent else FailureKind.TEMPORARY


def delivery_attempt(
    *, delivery: Delivery, token: str, expires_at: dt.datetime, adapter: ChannelAdapter
) -> str:
    """Sends one claimed delivery. Returns "sent", "temporary", "permanent", "lapsed" (the lease
    ran out before sending, so another worker may own the row: nothing was sent) or "lost"."""
    # The clock says whether our lease ran out; the row says whether the sweep took it back
    # meanwhile (another machine's clock may run ahead). Either way another worker may own it.
    if (
        timezone.now() >= expires_at
        or not Delivery.objects.filter(
            pk=delivery.pk, state=DeliveryState.SENDING, lease_token=token
        ).exists()
    ):
        return "lapsed"
    try:
        adapter.send(delivery)
    except DeliveryError as exc:
        return delivery_mark_failed(delivery=delivery, token=token, error=exc) or "lost"
    except Exception as exc:
        # An adapter bug or an unforeseen library error: retry like an outage, but log it loudly.
        logger.exception("channel %s failed on delivery %s", delivery.channel, delivery.pk)
        error = TemporaryDeliveryError(f"{type(exc).__name__}: {exc}")
        return delivery_mark_failed(delivery=delivery, token=token, error=error) or "lost"
    if delivery_mark_sent(delivery=delivery, token=token):
        return "sent"
    logger.warning("delivery %s was sent after its lease was lost", delivery.pk)
    return "lost"


def delivery_batch_send(*, delivery_ids: list[int]) -> dict[str, int]:
    """What a delivery task does: claim in small batches, send, record; one audit row."""
    outcomes: dict[str, int] = defaultdict(int)
    adapters: dict[str, ChannelAdapter] = {}
    try:
        for batch in chunks(delivery_ids, CLAIM_BATCH):
            claim = delivery_claim(delivery_ids=batch)
            if len(claim.deliveries) < len(batch):
                outcomes["not_claimed"] += len(batch) - len(claim.deliveries)
            for delivery in claim.deliveries:
                if claim.renewal_due(timezone.now()):
                    delivery_claim_renew(claim=claim)
                if delivery.channel not in adapters:
                    adapters[delivery.channel] = adapter_for(delivery.channel)
                outcome = delivery_attempt(
                    delivery=delivery,
                    token=claim.token,
                    expires_at=claim.expires_at,
                    adapter=adapters[delivery.channel],
                )
                outcomes[outcome] += 1
    finally:
        for adapter in adapters.values():
            adapter.close()
    result = dict(outcomes)
    if any(v for k, v in result.items() if k != "not_claimed"):
        with transaction.atomic():
            audit_record(
                actor=None,
                action="notification.deliver",
                object_type="notify.delivery",
                changes={"outcomes": result, "deliveries": delivery_ids},
            )
    return result


@dataclass
class SweepResult:
    requeued: int = 0
    reclaimed: int = 0
    abandoned: int = 0
    tasks: int = 0
    unsealed: int = 0


def delivery_sweep(*, now: dt.datetime | None = None) -> SweepResult:
    """Moves due deliveries back to the queue and enqueues them in chunks: deferred ones whose
    quiet hours ended, temporary failures whose backoff ran out, stale queued ones whose task
    was lost, and `sending` ones whose lease expired (their worker died); and forgets one-time
    secrets sealed into dispatches more than a day old. One audit row."""
    now = now or timezone.now()
    result = SweepResult()
    due = (
        Q(state=DeliveryState.DEFERRED, next_attempt_at__lte=now)
        | Q(state=DeliveryState.FAILED, failure=FailureKind.TEMPORARY, next_attempt_at__lte=now)
        | Q(
            state=DeliveryState.QUEUED,
            enqueued_at__lte=now - dt.timedelta(seconds=STALE_QUEUE_SECONDS),
        )
        | Q(state=DeliveryState.QUEUED, enqueued_at__isnull=True)
    )
    expired = Q(state=DeliveryState.SENDING, lease_expires_at__lte=now)

    # A delivery whose workers died on every attempt is given up rather than retried forever.
    result.abandoned = Delivery.objects.filter(expired, attempts__gte=_max_attempts()).update(
        state=DeliveryState.FAILED,
        failure=FailureKind.PERMANENT,
        lease_token="",
        lease_expires_at=None,
        last_error="worker lease expired on the last attempt",
        updated_at=now,
        address="",
    )
    result.unsealed = Dispatch.objects.filter(
        sealed_texts__isnull=False,
        created_at__lt=now - dt.timedelta(seconds=SEALED_TEXT_SECONDS),
    ).update(sealed_texts=None)
    for _page in range(SWEEP_MAX_PAGES):
        with transaction.atomic():
            ids = list(
                Delivery.objects.select_for_update(skip_locked=True)
                .filter(due | expired)
                .order_by("pk")
                .values_list("pk", flat=True)[:SWEEP_PAGE]
            )
            if not ids:
                break
            _requeue(ids, due=due, expired=expired, now=now, result=result)
        if len(ids) < SWEEP_PAGE:
            break
    if result.requeued or result.reclaimed or result.abandoned or result.unsealed:
        with transaction.atomic():
            audit_record(
                actor=None,
                action="notification.sweep",
                object_type="notify.delivery",
                changes={
                    "requeued": result.requeued,
                    "reclaimed": result.reclaimed,
                    "abandoned": result.abandoned,
                    "unsealed": result.unsealed,
                },
            )
    return result


def _requeue(ids: list[int], *, due: Q, expired: Q, now: dt.datetime, result: SweepResult) -> None:
    """One page of the sweep, inside its transaction: back to `queued`, counted, and enqueued
    (emergencies on their own, first in line) once the page commits."""
    reclaimed = Delivery.objects.filter(pk__in=ids).filter(expired).count()
    Delivery.objects.filter(pk__in=ids).filter(due | expired).update(
        state=DeliveryState.QUEUED,
        lease_token="",
        lease_expires_at=None,
        next_attempt_at=None,
        enqueued_at=now,
        updated_at=now,
    )
    emergency = set(
        Delivery.objects.filter(
            pk__in=ids, notification__dispatch__priority=Priority.EMERGENCY
        ).values_list("pk", flat=True)
    )
    normal = [pk for pk in ids if pk not in emergency]
    result.requeued += len(ids) - reclaimed
    result.reclaimed += reclaimed
    result.tasks += math.ceil(len(normal) / DELIVERY_TASK_CHUNK) + math.ceil(
        len(emergency) / DELIVERY_TASK_CHUNK
    )
    if emergency:
        transaction.on_commit(
            partial(deliveries_enqueue, sorted(emergency), emergency=True), robust=True
        )
    if normal:
        transaction.on_commit(partial(deliveries_enqueue, normal), robust=True)


@cache
def _delivery_task() -> Task[[list[int]], dict[str, int]]:
    task: Task[[list[int]], dict[str, int]] = import_string(DELIVERY_TASK)
    return task


def deliveries_enqueue(delivery_ids: list[int], *, emergency: bool = False) -> int:
    """One task per chunk of deliveries; returns how many tasks were enqueued."""
    task = _delivery_task()
    if emergency and task.get_backend().supports_priority:
        task = task.using(priority=EMERGENCY_TASK_PRIORITY)
    # One transaction for all the chunks, and with the task queue in the database one INSERT per
    # thousand tasks (`enqueue_many`): a million deliveries are 2,000 task rows, and committing
    # or even sending each alone cost more than writing the deliveries. If it fails, the sweep
    # re-enqueues the deliveries still queued.
    with transaction.atomic():
        return enqueue_many(task, ((chunk,) for chunk in chunks(delivery_ids, DELIVERY_TASK_CHUNK)))
