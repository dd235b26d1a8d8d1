"""The rollup runs as a periodic task every five minutes, once per slot, and is idempotent."""

from __future__ import annotations

import pytest

from civichub.core import registry
from civichub.statistics import tasks
from civichub.statistics.models import Watermark

pytestmark = pytest.mark.django_db


def test_the_rollup_is_a_periodic_task_of_every_declared_source() -> None:
    [periodic] = [t for t in registry.periodic_tasks() if t.name == "statistics.roll_up"]
    assert periodic.task == "civichub.statistics.tasks.roll_up_figures"
    assert periodic.every_seconds == 300

    counted = tasks.roll_up_figures.call()
    again = tasks.roll_up_figures.call()

    sources = {s.name for s in registry.measure_sources()}
    assert set(counted) == sources == set(again)
    assert {"casework.cases", "broadcast.posts", "wellbeing.visits"} <= sources
    assert not any(again.values())
    assert not Watermark.objects.exclude(position__in=["", "0"]).exists()
