"""The statistics module's periodic task: the rollup (idempotent: a run finds only what is new)."""

from __future__ import annotations

from django_tasks import task

from civichub.core.context import acting
from civichub.statistics import services

__all__ = ["roll_up_figures"]


@task()
def roll_up_figures() -> dict[str, int]:
    with acting(channel="task"):
        return services.figures_roll_up()
