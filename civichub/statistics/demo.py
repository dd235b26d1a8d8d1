"""The demo city's figures: the other modules' demo data rolled up at once, so the figures page
and the public evaluation have something to show before the worker's first rollup."""

from __future__ import annotations

from civichub.core.models import Organisation
from civichub.statistics.services import figures_roll_up


def seed(*, city: Organisation, size: str) -> None:
    del city, size  # the rollup covers every source, whatever the city
    figures_roll_up()
