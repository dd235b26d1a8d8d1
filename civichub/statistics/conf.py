"""The statistics module's part of the deployment profile: one frozen dataclass, each default
written once here. A deployment overrides keys in `settings.CIVICHUB_STATISTICS`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from civichub.core.config import ModuleConfig


@dataclass(frozen=True)
class StatisticsSettings(ModuleConfig):
    setting: ClassVar[str] = "CIVICHUB_STATISTICS"

    # Rows younger than this are left to the next rollup: the transaction that wrote them (or
    # one that took a smaller id) may not have committed yet. Longer than any write's
    # transaction.
    settle_minutes: int = 5
    # The most source rows one step of a rollup reads; a rollup takes steps until it has caught up.
    batch_rows: int = 5000
    # The public evaluation page shows a department's or service's month only with at least
    # this many ratings, so that one rating is never singled out.
    evaluation_min_ratings: int = 1
    # The measure the public evaluation publishes: a "rate" measure whose value counts good
    # ratings and whose count counts ratings, by department and by service.
    evaluation_measure: str = "casework.satisfaction"
