"""Thin, idempotent tasks. Running one twice is harmless: a delivery is sent only by the worker
whose conditional claim moved it out of `queued`.

The tasks call the worker's half of the outbox (`delivering`), which needs nothing from here;
the sending services schedule `deliveries_send` through `deliveries_enqueue`, so the imports run
one way: delivering → tasks → services."""

from __future__ import annotations

from dataclasses import asdict

from django.db import transaction
from django_tasks import task

from civichub.core.context import acting
from civichub.notify.delivering import (
    DELIVERY_TASK_CHUNK,
    chunks,
    delivery_batch_send,
    delivery_sweep,
)

EMERGENCY_TASK_PRIORITY = 50


@task()
def deliveries_send(delivery_ids: list[int]) -> dict[str, int]:
    with acting(channel="task"):
        return delivery_batch_send(delivery_ids=[int(pk) for pk in delivery_ids])


@task()
def deliveries_sweep() -> dict[str, int]:
    with acting(channel="task"):
        return asdict(delivery_sweep(enqueue=deliveries_enqueue))


def deliveries_enqueue(delivery_ids: list[int], *, emergency: bool = False) -> int:
    """One task per chunk of deliveries; returns how many tasks were enqueued."""
    send = deliveries_send
    if emergency and send.get_backend().supports_priority:
        send = send.using(priority=EMERGENCY_TASK_PRIORITY)
    count = 0
    # One transaction for all the chunks: with the task queue in the database, a million
    # deliveries are 2,000 task rows, and committing each alone would cost one disk flush per
    # row. If it fails, the sweep re-enqueues the deliveries still queued.
    with transaction.atomic():
        for chunk in chunks(delivery_ids, DELIVERY_TASK_CHUNK):
            send.enqueue(chunk)
            count += 1
    return count
