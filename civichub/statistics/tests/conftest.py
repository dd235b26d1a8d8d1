"""The statistics tests use casework's small known data set (and its fixtures): the figures
rolled up from it must agree with casework's own statistics."""

from __future__ import annotations

from civichub.casework.tests.conftest import (  # noqa: F401 (fixtures)
    _immediate_tasks,
    after_commit,
    cw,
    frozen_now,
    submit,
)
from civichub.casework.tests.test_statistics import known  # noqa: F401 (fixture)
