"""Statistics across services: the rollup, the figures, their scope, CSV, API and pages, on
casework's small known data set (and its fixtures), whose rolled-up figures must agree with
casework's own statistics. These tests need several modules at once, so they live beside the
browser tests rather than inside the statistics app, which imports no other module."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from civichub.casework.models import Case
from civichub.casework.tests.conftest import (  # noqa: F401 (fixtures)
    Casework,
    _immediate_tasks,
    after_commit,
    cw,
    frozen_now,
    submit,
)
from civichub.casework.tests.test_statistics import known  # noqa: F401 (fixture)
from civichub.statistics.services import figures_roll_up

LATER = dt.datetime(2026, 4, 30, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def rolled(cw: Casework, known: dict[str, Case]) -> Casework:  # noqa: F811
    """Casework's known data set, rolled up as of the end of April 2026."""
    figures_roll_up(now=LATER)
    return cw
