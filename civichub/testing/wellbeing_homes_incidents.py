"""Incidents of the household simulator (`wellbeing_homes`): what happens, to whom, when and
for how long, and the alert kinds that fit each (the ground truth the scorer compares alerts
with).

Durations are random and straddle each rule's threshold on purpose, so a catch rate measures
detection, not construction: falls last 4 hours to 2 days (log-uniform) and start at any time
of day or night; leaks 6-48 hours (the fixed rule is 24 hours); a stove left on 1-8 hours
(the rule is 3 hours); a late start 1-6 hours; confusion at night 1-4 hours; meters send
nothing for 6-72 hours or report zero for 1-3 days; trips last 1-10 days unmarked, 2-14 marked.
Falls, late starts and night confusion happen to people living alone (a partner would notice or
call for help); the rest to any household.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from civichub.testing.wellbeing_homes_canvas import DAY_MINUTES
from civichub.wellbeing.detection import Kind

FALL = "fall"
LEAK = "leak"
STOVE = "stove"
SHIFTED = "shifted"
NIGHT = "night"
FAULT_GAP = "fault_gap"
FAULT_STUCK = "fault_stuck"
TRIP_MARKED = "trip_marked"
TRIP_UNMARKED = "trip_unmarked"
KINDS = (FALL, LEAK, STOVE, SHIFTED, NIGHT, FAULT_GAP, FAULT_STUCK, TRIP_MARKED, TRIP_UNMARKED)

_ABSENCE = (Kind.NO_USE, Kind.INACTIVITY, Kind.NO_FIRST_USE)
FITS: dict[str, tuple[str, ...]] = {
    FALL: _ABSENCE,
    TRIP_UNMARKED: _ABSENCE,
    LEAK: (Kind.CONTINUOUS_FLOW, Kind.HIGH_USE),
    STOVE: (Kind.GAS_LONG_FLOW,),
    SHIFTED: (Kind.NO_FIRST_USE, Kind.INACTIVITY),
    NIGHT: (Kind.NIGHT_ACTIVITY,),
    FAULT_GAP: (Kind.DATA_GAP, Kind.METER_FAULT),
    FAULT_STUCK: (Kind.DATA_GAP, Kind.METER_FAULT),
    TRIP_MARKED: (),
}
# The fixed rules' thresholds: only incidents longer than these must be caught.
THRESHOLD_HOURS = {LEAK: 24.0, STOVE: 3.0}

_ALONE = {
    FALL: 0.32,
    SHIFTED: 0.12,
    NIGHT: 0.1,
    LEAK: 0.08,
    STOVE: 0.07,
    FAULT_GAP: 0.07,
    FAULT_STUCK: 0.05,
    TRIP_MARKED: 0.09,
    TRIP_UNMARKED: 0.1,
}
_COUPLE = {
    LEAK: 0.2,
    STOVE: 0.15,
    FAULT_GAP: 0.15,
    FAULT_STUCK: 0.1,
    TRIP_MARKED: 0.2,
    TRIP_UNMARKED: 0.2,
}


@dataclass(frozen=True)
class HomeIncident:
    """One incident. Minutes and slots are counted from the simulation's first midnight (add
    `Homes.start_slot` for the detector's slot numbers); `end_slot` is the first half hour after
    the incident."""

    household: int
    kind: str
    start_minute: float
    end_minute: float
    # What else: the appliance left on during a fall ("lamp", "tv", "heater"), the utility of a
    # meter fault ("water", "electricity", "gas"), a leak's or stove's rate.
    detail: dict[str, object] = field(default_factory=dict, hash=False, compare=False)

    @property
    def start_slot(self) -> int:
        return int(self.start_minute // 30)

    @property
    def end_slot(self) -> int:
        return int(math.ceil(self.end_minute / 30))

    @property
    def hours(self) -> float:
        return (self.end_minute - self.start_minute) / 60

    @property
    def fits(self) -> tuple[str, ...]:
        return FITS[self.kind]


def plan(
    rng: np.random.Generator,
    days: int,
    warmup_days: int,
    two_person: np.ndarray,
    cooks_on_gas: np.ndarray,
    meters: np.ndarray,
    usual_wake: np.ndarray,
    weekend_late: np.ndarray,
    weekday: np.ndarray,
) -> list[HomeIncident]:
    """Up to two incidents per household after the warm-up days, one in each half of the rest
    (each with probability 0.6), ending a day before the simulation does."""
    incidents: list[HomeIncident] = []
    first, last = warmup_days, days - 1
    if last - first < 2:
        return incidents
    middle = (first + last) // 2
    for household in range(two_person.shape[0]):
        weights = dict(_COUPLE if two_person[household] else _ALONE)
        if not cooks_on_gas[household]:
            weights.pop(STOVE)
        kinds = list(weights)
        p = np.array([weights[k] for k in kinds])
        for lo, hi in ((first, middle), (middle, last)):
            if hi <= lo or rng.random() >= 0.6:
                continue
            kind = kinds[int(rng.choice(len(kinds), p=p / p.sum()))]
            incident = _one(
                rng,
                household,
                kind,
                lo,
                hi,
                meters[household],
                usual_wake[household],
                weekend_late[household],
                weekday,
            )
            if incident is not None:
                incidents.append(incident)
    return incidents


def _one(
    rng: np.random.Generator,
    household: int,
    kind: str,
    lo: int,
    hi: int,
    meters: np.ndarray,
    usual_wake: float,
    weekend_late: float,
    weekday: np.ndarray,
) -> HomeIncident | None:
    """One incident of `kind` inside days [lo, hi), or None when it does not fit."""
    detail: dict[str, object] = {}
    if kind in (TRIP_MARKED, TRIP_UNMARKED):
        nights = int(rng.integers(2, 15)) if kind == TRIP_MARKED else int(rng.integers(1, 11))
        if hi - lo <= nights:
            nights = hi - lo - 1
            if nights < 1:
                return None
        day = int(rng.integers(lo, hi - nights))
        start = day * DAY_MINUTES + rng.uniform(8, 10) * 60
        end = (day + nights) * DAY_MINUTES + rng.uniform(15, 18) * 60
        return HomeIncident(household, kind, start, end, detail)
    hours = {
        FALL: lambda: math.exp(rng.uniform(math.log(4), math.log(48))),
        LEAK: lambda: rng.uniform(6, 48),
        STOVE: lambda: rng.uniform(1, 8),
        SHIFTED: lambda: rng.uniform(1, 6),
        NIGHT: lambda: rng.uniform(1, 4),
        FAULT_GAP: lambda: rng.uniform(6, 72),
        FAULT_STUCK: lambda: rng.uniform(24, 72),
    }[kind]()
    span_days = int(math.ceil(hours / 24)) + 1
    if hi - lo < span_days:
        return None
    day = int(rng.integers(lo, hi - span_days + 1))
    start = day * DAY_MINUTES + rng.uniform(0, DAY_MINUTES)  # falls, leaks, faults: any time
    if kind == STOVE:
        start = day * DAY_MINUTES + rng.choice([11.5, 17.5]) * 60 + rng.uniform(-20, 20)
        detail["gas_l_per_minute"] = float(rng.uniform(1.2, 4.0))
    elif kind == SHIFTED:  # from the usual wake-up of that day
        start = day * DAY_MINUTES + usual_wake + (weekend_late if weekday[day] >= 5 else 0.0)
    elif kind == NIGHT:
        start = day * DAY_MINUTES + rng.uniform(60, 240)
    elif kind in (FAULT_GAP, FAULT_STUCK):
        detail["utility"] = int(rng.choice(np.flatnonzero(meters))) if kind == FAULT_GAP else 1
    return HomeIncident(household, kind, float(start), float(start + hours * 60), detail)
