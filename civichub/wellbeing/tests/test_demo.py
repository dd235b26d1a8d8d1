"""The demo's wellbeing data: the oldest residents of the demo worker's community enrolled, one
alert waiting for the family, one visit task, one home away, all on the dashboard."""

from __future__ import annotations

from typing import Any

import pytest

from civichub.core import services as core
from civichub.wellbeing import selectors
from civichub.wellbeing.demo import HOUSEHOLDS, seed
from civichub.wellbeing.models import AlertStatus, Household, VisitTask

pytestmark = pytest.mark.django_db


def test_the_demo_fills_the_workers_dashboard(city: Any, make_user: Any) -> None:
    worker = make_user("community_worker", city.community_a1, username="worker")
    for n in range(HOUSEHOLDS + 3):
        resident = core.resident_create(
            actor=None,
            name=f"居民{n}",
            community=city.community_a1,
            latitude=39.9 + n / 1000,
            longitude=116.4,
            crs="wgs84",
        )
        resident.birth_year = 1930 + n
        resident.save(update_fields=["birth_year"])
    seed(city=city.city, size="small")
    assert Household.objects.count() == HOUSEHOLDS
    oldest = Household.objects.order_by("resident__birth_year").first()
    assert oldest is not None and oldest.resident.birth_year == 1930
    board = selectors.dashboard(actor=worker)
    assert (board.counts["alert"], board.counts["visit"], board.counts["away"]) == (1, 1, 1)
    assert board.counts["ok"] == HOUSEHOLDS - 3
    task = VisitTask.objects.get()
    assert task.worker == worker and task.alert.kind == "no_use"
    assert task.alert.household.alerts.exclude(status=AlertStatus.VISIT).count() == 0
