"""Thin, idempotent tasks. Running one twice is harmless: a delivery is sent only by the worker
whose conditional claim moved it out of `queued`. The sends enqueue `deliveries_send` by its
dotted path (`civichub.notify.delivering.deliveries_enqueue`); the registry names the sweep."""

from __future__ import annotations

from dataclasses import asdict

from django_tasks import task

from civichub.core.context import acting
from civichub.notify.delivering import delivery_batch_send, delivery_sweep


@task()
def deliveries_send(delivery_ids: list[int]) -> dict[str, int]:
    with acting(channel="task"):
        return delivery_batch_send(delivery_ids=[int(pk) for pk in delivery_ids])


@task()
def deliveries_sweep() -> dict[str, int]:
    with acting(channel="task"):
        return asdict(delivery_sweep())
