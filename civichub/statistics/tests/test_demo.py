"""The demo city's figures are rolled up as it is seeded."""

from __future__ import annotations

import pytest

from civichub.core.demo import seed_city
from civichub.statistics.models import DailyFigure, Watermark

pytestmark = pytest.mark.django_db


def test_the_demo_city_has_figures_to_show() -> None:
    seed_city(size="small")

    assert DailyFigure.objects.filter(measure="casework.received").exists()
    assert Watermark.objects.filter(source="casework.cases").exclude(position="").exists()
