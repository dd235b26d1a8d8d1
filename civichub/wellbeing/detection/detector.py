"""The detector: incremental detection over many households, one half hour at a time."""

from __future__ import annotations

import copy

import numpy as np
import numpy.typing as npt

from civichub.wellbeing.detection import features, fixed, learned, learning
from civichub.wellbeing.detection.grid import SLOTS_PER_DAY, Bool, Float
from civichub.wellbeing.detection.learning import Rates
from civichub.wellbeing.detection.rules import Alert, Rules
from civichub.wellbeing.detection.state import DetectorState


class WellbeingDetector:
    """Incremental detection over many households; see the package docstring."""

    def __init__(self, meters: npt.ArrayLike, rules: Rules | None = None) -> None:
        self.rules = rules or Rules()
        self.state = DetectorState(meters=np.asarray(meters, dtype=bool).reshape(-1, 3))
        # States saved at day boundaries, oldest first, so that readings arriving late can be
        # detected again from the last boundary before them (see `snapshot` and `restore`).
        self.checkpoints: list[DetectorState] = []
        # The readings (slots, 3) seen since the oldest checkpoint, for one household: the caller
        # compares them with what is stored now to find the half hours a late reading changed.
        self.seen: Float = np.zeros((0, 3))
        self.rates = Rates.of(self.rules)

    @property
    def households(self) -> int:
        return int(self.state.meters.shape[0])

    def process(
        self,
        readings: npt.ArrayLike,
        start_slot: int,
        *,
        away: npt.ArrayLike | None = None,
        fault: npt.ArrayLike | None = None,
    ) -> list[Alert]:
        """Consume the slots `start_slot, start_slot + 1, ...` for every household.

        `readings` has shape (households, slots, 3), NaN where there is no reading. `away` marks
        (households, slots) the household said it was away; `fault` marks (households, slots, 3)
        readings the meter or ingestion flagged as faulty. Slots must follow on from the last
        processed one (a gap in time is passed as NaN readings)."""
        values = np.asarray(readings, dtype=np.float64)
        if values.ndim != 3 or values.shape[0] != self.households or values.shape[2] != 3:
            raise ValueError("readings must have shape (households, slots, 3)")
        slots = values.shape[1]
        if self.state.slot >= 0 and start_slot != self.state.slot + 1:
            raise ValueError(f"expected slot {self.state.slot + 1}, got {start_slot}")
        # Slot first, so that each half hour's masks are contiguous: the step reads them several
        # times, and a strided (households, 3) view costs as much as a copy on every read.
        away_mask = (
            np.zeros((slots, self.households), dtype=bool)
            if away is None
            else np.ascontiguousarray(
                np.asarray(away, dtype=bool).reshape(self.households, slots).T
            )
        )
        fault_mask = (
            np.zeros((slots, self.households, 3), dtype=bool)
            if fault is None
            else np.ascontiguousarray(
                np.asarray(fault, dtype=bool).reshape(values.shape).transpose(1, 0, 2)
            )
        )
        alerts: list[Alert] = []
        for t in range(slots):
            # One contiguous copy of the half hour's readings (the step reads them twice).
            x = np.ascontiguousarray(values[:, t, :])
            self._step(x, start_slot + t, away_mask[t], fault_mask[t], alerts)
        return alerts

    def snapshot(self) -> DetectorState:
        """A copy of everything the detector remembers, to go back to with `restore`."""
        return copy.deepcopy(self.state)

    def restore(self, state: DetectorState) -> None:
        self.state = copy.deepcopy(state)

    def tune(self, household: int, *, false_alarm: bool) -> float:
        """A visit's outcome adjusts the learned rules for that household: a false alarm makes
        them ask for a quarter more evidence (up to twice the default), a real incident brings
        them back to the default. The fixed rules are the deployment's and stay as they are."""
        current = float(self.state.sensitivity[household])
        updated = min(current * 1.25, 2.0) if false_alarm else 1.0
        self.state.sensitivity[household] = updated
        for saved in self.checkpoints:  # a replay from a checkpoint keeps the outcome's lesson
            saved.sensitivity[household] = updated
        return updated

    def _step(self, x: Float, slot: int, away: Bool, fault: Bool, alerts: list[Alert]) -> None:
        """One half hour for every household: its features, the fixed rules, the learned
        rules, then the lesson learned from it (and from the day, at a day's end)."""
        s, r, rates = self.state, self.rules, self.rates
        step = features.observe(s, r, x, slot, away, fault, alerts)
        fixed.apply(s, r, step)
        learned.apply(s, r, step)
        features.incidents_close(s, r, step)
        learning.learn(s, step, rates.week)
        learning.learn_automatic(s, r, step)
        learning.learn_weekly_draws(s, r, step)
        if step.day_slot == SLOTS_PER_DAY - 1:
            learning.end_of_activity_day(s, rates.day)
        if step.slot_in_day == SLOTS_PER_DAY - 1:
            day = learning.day_figures(s, rates.standby)
            learned.level_change(s, r, day, step)
            learning.learn_day(s, r, day, rates.day, away, slot)
        s.slot = slot
