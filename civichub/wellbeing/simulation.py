"""A seeded simulator of one-person households' half-hourly water, electricity and gas use, with
injected incidents, for the detector's tests and the benchmark.

Each household has its own routine: a wake-up time (around 05:30-08:00) and bedtime (around
21:30-23:30) that wobble from day to day by about twenty minutes, a shower or wash on rising,
water draws in about half the waking half hours (kettle, toilet, washing up; 3-30 litres
each), a wash before bed, a toilet visit or two most nights (common at this age), cooking with
gas at breakfast, lunch and dinner on most days (when the household has gas), an electricity
standby of 30-80 Wh per half hour with appliance use on top while awake, and about one reading
in 500 lost in transit. Weekends start half an hour later.

Incidents (`Incident.kind`):
- `no_use`: from `start` for `hours`, everything stops (a fall, illness): no water, no gas,
  electricity at standby.
- `leak`: a running tap or leaking cistern adds 5-20 litres every half hour for `hours`.
- `stove`: gas flows at a cooking rate for `hours` (a stove left on).
- `shifted`: on that day the household gets up `hours` later than usual (no first use by the
  usual hour).
- `fault`: the water meter sends nothing for `hours` (a data gap, not inactivity).
- `away_marked`, `away_unmarked`: the household is away for `hours` (no use), with or without
  telling anyone; only the marked one is in the `away` mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from civichub.wellbeing.detection import (
    ELECTRICITY,
    GAS,
    SLOTS_PER_DAY,
    SLOTS_PER_HOUR,
    WATER,
)


@dataclass(frozen=True)
class Incident:
    household: int
    kind: str
    start: int  # slot, counted from the first simulated slot
    hours: float

    @property
    def end(self) -> int:
        return self.start + round(self.hours * SLOTS_PER_HOUR)


@dataclass
class Simulation:
    readings: np.ndarray  # (households, slots, 3), NaN where a reading was lost
    away: np.ndarray  # (households, slots) marked away
    meters: np.ndarray  # (households, 3)
    incidents: list[Incident]


def simulate(
    households: int, days: int, *, seed: int = 0, incidents: list[Incident] | None = None
) -> Simulation:
    """Simulate `days` days from a Monday 00:00 (slot 0 is a week boundary)."""
    rng = np.random.default_rng(seed)
    slots = days * SLOTS_PER_DAY
    h = households
    tod = np.arange(slots) % SLOTS_PER_DAY  # half hour of the day
    day = np.arange(slots) // SLOTS_PER_DAY
    weekend = (day % 7) >= 5
    wake_base = rng.uniform(5.5, 8.0, h) * SLOTS_PER_HOUR
    bed_base = rng.uniform(21.5, 23.5, h) * SLOTS_PER_HOUR
    wake = wake_base[:, None] + rng.normal(0, 0.7, (h, days)) + weekend[::SLOTS_PER_DAY]
    bed = bed_base[:, None] + rng.normal(0, 0.7, (h, days))
    shift = np.zeros((h, days))
    for incident in incidents or []:
        if incident.kind == "shifted":
            shift[incident.household, incident.start // SLOTS_PER_DAY] = incident.hours * 2
    wake = wake + shift
    awake = (tod[None, :] >= wake[:, day]) & (tod[None, :] < bed[:, day])
    rising = (tod[None, :] >= wake[:, day]) & (tod[None, :] < wake[:, day] + 1)
    bedtime = (tod[None, :] >= bed[:, day] - 1) & (tod[None, :] < bed[:, day])

    water = np.where(
        awake & (rng.random((h, slots)) < 0.45), rng.uniform(0.003, 0.03, (h, slots)), 0.0
    )
    water += np.where(rising, rng.uniform(0.02, 0.06, (h, slots)), 0.0)
    water += np.where(bedtime, rng.uniform(0.01, 0.03, (h, slots)), 0.0)
    water += np.where(~awake & (rng.random((h, slots)) < 0.07), 0.006, 0.0)
    standby = rng.uniform(0.03, 0.08, h)[:, None]
    electricity = standby * rng.uniform(0.9, 1.1, (h, slots))
    electricity += np.where(awake, rng.gamma(2.0, 0.06, (h, slots)), 0.0)
    has_gas = rng.random(h) < 0.7
    meals = np.zeros((h, slots), dtype=bool)
    for meal_hour in (0.5, 5.0, 11.0):  # hours after waking
        start = np.round(wake + meal_hour * SLOTS_PER_HOUR).astype(int)[:, day]
        meals |= (tod[None, :] == start) & (rng.random((h, slots)) < 0.8)
    gas = np.where(meals & has_gas[:, None], rng.uniform(0.03, 0.1, (h, slots)), 0.0)

    readings = np.stack([water, electricity, gas], axis=2)
    away = np.zeros((h, slots), dtype=bool)
    standby_row = standby[:, 0]
    for incident in incidents or []:
        i, a, b = incident.household, incident.start, min(incident.end, slots)
        if incident.kind in ("no_use", "away_marked", "away_unmarked"):
            readings[i, a:b, WATER] = 0.0
            readings[i, a:b, GAS] = 0.0
            readings[i, a:b, ELECTRICITY] = standby_row[i] * rng.uniform(0.9, 1.1, b - a)
            if incident.kind == "away_marked":
                away[i, a:b] = True
        elif incident.kind == "leak":
            readings[i, a:b, WATER] += rng.uniform(0.005, 0.02, b - a)
        elif incident.kind == "stove":
            readings[i, a:b, GAS] = rng.uniform(0.05, 0.1, b - a)
        elif incident.kind == "fault":
            readings[i, a:b, WATER] = np.nan
    meters = np.ones((h, 3), dtype=bool)
    meters[:, GAS] = has_gas
    readings[:, :, GAS] = np.where(has_gas[:, None], readings[:, :, GAS], np.nan)
    lost = rng.random((h, slots, 3)) < 0.002
    readings[lost] = np.nan
    return Simulation(readings=readings, away=away, meters=meters, incidents=incidents or [])
