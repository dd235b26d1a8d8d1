"""Thin, idempotent tasks. Running one twice is harmless: a delivery is sent only by the worker
whose conditional claim moved it out of `queued`. The sends and the sweep enqueue
`deliveries_send` by its dotted path (`services.delivering.deliveries_enqueue`), since services do
not import the tasks above them; the manifest names the sweep."""

from __future__ import annotations

from dataclasses import asdict

from django_tasks import task

from civichub.core.context import acting
from civichub.notify import services


@task()
def deliveries_send(delivery_ids: list[int]) -> dict[str, int]:
    with acting(channel="task"):
        return services.delivery_batch_send(delivery_ids=[int(pk) for pk in delivery_ids])


@task()
def deliveries_sweep() -> dict[str, int]:
    with acting(channel="task"):
        return asdict(services.delivery_sweep())
