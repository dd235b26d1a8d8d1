"""A seeded simulator of one-person households' half-hourly water, electricity and gas use, with
injected incidents, for the detector's tests and the benchmark.

The routine, per household (all figures drawn per household unless said otherwise):

- Sleep: a wake-up time around 05:30-08:00 and a bedtime around 21:30-23:30, each wobbling from
  day to day by about twenty minutes; weekends start half an hour later. Bedtimes after midnight
  carry over into the next day (the evening wash and the appliances stay on until then).
- Seasonal drift: over the simulated months the wake-up time drifts steadily by up to 45 minutes
  either way (daylight), and the electricity used while awake by up to 30 % either way (heating,
  lighting), so a routine learned in the first weeks is a little off by the end.
- Water: a shower or wash on rising (20-60 litres), draws in about half of the waking half
  hours (kettle, toilet, washing up; 3-30 litres each), a wash before bed (10-30 litres), and
  at night a 6-litre toilet flush in about one half hour in fourteen (common at this age).
- Gas (seven households in ten have a meter): cooking at breakfast, lunch and dinner, each meal
  on four days in five.
- Electricity: a standby of 30-80 Wh per half hour (fridge, routers), ±10 % noise, and appliances
  on top while awake (a gamma-distributed 120 Wh per half hour on average).
- Going out: half the households have a weekly outing (market, temple, a club) on one weekday
  morning for 2-3 hours; every household goes out for 1-2.5 hours in the afternoon on about one
  day in four. Out of the house, only standby electricity is used.
- Transmission: about one reading in 500 is lost on its own, and once a month or so a meter's
  link drops for 1-4 hours (all three utilities of the household at once).

Incidents (`Incident.kind`), starting at `start` for `hours`:
- `no_use`: everything stops (a fall, illness): no water, no gas, electricity at standby.
- `no_use_lamp`: the same with a lamp or television left on (a steady extra 20-150 Wh per half
  hour), so electricity stays above standby without anybody about.
- `leak`: a running tap or leaking cistern adds 5-20 litres every half hour.
- `stove`: gas flows at a cooking rate (a stove left on).
- `shifted`: on that day the household gets up `hours` later than usual.
- `night`: the household is up at night (insomnia, confusion): lights and appliances on and a
  draw of water in most half hours.
- `level`: daily use changes and stays changed for `hours`: water falls to a quarter (no longer
  washing or cooking) and electricity triples (an electric heater left running), at random one of
  the two.
- `fault`: the water meter sends nothing (a data gap, not inactivity).
- `stuck`: the electricity meter reports exactly zero (a meter fault; a home always draws standby).
- `away_marked`, `away_unmarked`: the household is away (no use, standby electricity), with or
  without telling anyone; only the marked one is in the `away` mask.
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
    # (households,) each household's usual weekday wake-up, in slots after midnight, before the
    # seasonal drift: the moment a late start is measured from.
    usual_wake: np.ndarray


def _between(tod: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Slots of the day in [start, end) (in slots from midnight), with the part of the previous
    day's interval that ran past midnight; `start` and `end` have shape (households, days)."""
    days = start.shape[1]
    day = np.arange(tod.shape[0]) // SLOTS_PER_DAY
    today = (tod[None, :] >= start[:, day]) & (tod[None, :] < end[:, day])
    previous_end = np.concatenate([np.zeros((start.shape[0], 1)), end[:, : days - 1]], axis=1)
    carried = tod[None, :] < previous_end[:, day] - SLOTS_PER_DAY
    return today | carried


@dataclass(frozen=True)
class _Calendar:
    days: int
    slots: int
    tod: np.ndarray  # (slots,) half hour of the day
    day: np.ndarray  # (slots,) day of each slot
    weekend: np.ndarray  # (days,)
    season: np.ndarray  # (1, days): 0 at the start, 1 at the end

    @classmethod
    def of(cls, days: int) -> _Calendar:
        slots = days * SLOTS_PER_DAY
        return cls(
            days=days,
            slots=slots,
            tod=np.arange(slots) % SLOTS_PER_DAY,
            day=np.arange(slots) // SLOTS_PER_DAY,
            weekend=(np.arange(days) % 7) >= 5,
            season=np.linspace(0.0, 1.0, days)[None, :],
        )


@dataclass(frozen=True)
class _Routine:
    wake_base: np.ndarray  # (households,) usual weekday wake-up, in slots
    wake: np.ndarray  # (households, days)
    awake: np.ndarray  # (households, slots)
    rising: np.ndarray
    bedtime: np.ndarray
    home: np.ndarray


def simulate(
    households: int, days: int, *, seed: int = 0, incidents: list[Incident] | None = None
) -> Simulation:
    """Simulate `days` days from a Monday 00:00 (slot 0 is a week boundary)."""
    rng = np.random.default_rng(seed)
    h = households
    calendar = _Calendar.of(days)
    routine = _routine(rng, h, calendar, incidents or [])
    readings, standby, has_gas = _use(rng, h, calendar, routine)
    away = np.zeros((h, calendar.slots), dtype=bool)
    _incidents(rng, readings, away, standby[:, 0], incidents or [])
    meters = np.ones((h, 3), dtype=bool)
    meters[:, GAS] = has_gas
    readings[:, :, GAS] = np.where(has_gas[:, None], readings[:, :, GAS], np.nan)
    _transmission(rng, readings, h, calendar)
    return Simulation(
        readings=readings,
        away=away,
        meters=meters,
        incidents=incidents or [],
        usual_wake=routine.wake_base,
    )


def _routine(
    rng: np.random.Generator, h: int, calendar: _Calendar, incidents: list[Incident]
) -> _Routine:
    """When each household is up, and when it is at home."""
    days, tod, weekend, season = calendar.days, calendar.tod, calendar.weekend, calendar.season
    wake_base = rng.uniform(5.5, 8.0, h) * SLOTS_PER_HOUR
    bed_base = rng.uniform(21.5, 23.5, h) * SLOTS_PER_HOUR
    wake_drift = rng.uniform(-1.5, 1.5, h)[:, None] * season  # up to 45 minutes, in slots
    wake = wake_base[:, None] + rng.normal(0, 0.7, (h, days)) + weekend + wake_drift
    bed = bed_base[:, None] + rng.normal(0, 0.7, (h, days))
    shift = np.zeros((h, days))
    for incident in incidents:
        if incident.kind == "shifted":
            shift[incident.household, incident.start // SLOTS_PER_DAY] = incident.hours * 2
    wake = wake + shift
    awake = _between(tod, wake, bed)
    rising = _between(tod, wake, wake + 1)
    bedtime = _between(tod, bed - 1, bed)

    # Going out: a weekly outing on one weekday morning for half the households, and short
    # afternoon errands on about one day in four.
    out = np.zeros((h, calendar.slots), dtype=bool)
    weekly = rng.random(h) < 0.5
    outing_day = rng.integers(0, 5, h)
    outing_start = rng.uniform(8.5, 10.0, h) * SLOTS_PER_HOUR
    outing_hours = rng.uniform(2.0, 3.0, h) * SLOTS_PER_HOUR
    start = outing_start[:, None] + rng.normal(0, 1.0, (h, days))
    length = outing_hours[:, None] + rng.normal(0, 0.5, (h, days))
    on = weekly[:, None] & ((np.arange(days) % 7)[None, :] == outing_day[:, None])
    out |= _between(tod, np.where(on, start, -1), np.where(on, start + length, -1))
    errand = rng.random((h, days)) < 0.25
    start = rng.uniform(14.0, 16.5, (h, days)) * SLOTS_PER_HOUR
    length = rng.uniform(1.0, 2.5, (h, days)) * SLOTS_PER_HOUR
    out |= _between(tod, np.where(errand, start, -1), np.where(errand, start + length, -1))
    out &= awake & ~rising & ~bedtime
    return _Routine(
        wake_base=wake_base,
        wake=wake,
        awake=awake,
        rising=rising,
        bedtime=bedtime,
        home=awake & ~out,
    )


def _use(
    rng: np.random.Generator, h: int, calendar: _Calendar, routine: _Routine
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Water, electricity and gas per half hour (households, slots, 3), with each household's
    standby (households, 1) and whether it has gas (households,)."""
    slots, tod, day = calendar.slots, calendar.tod, calendar.day
    home, awake = routine.home, routine.awake
    water = np.where(
        home & (rng.random((h, slots)) < 0.45), rng.uniform(0.003, 0.03, (h, slots)), 0.0
    )
    water += np.where(routine.rising, rng.uniform(0.02, 0.06, (h, slots)), 0.0)
    water += np.where(routine.bedtime, rng.uniform(0.01, 0.03, (h, slots)), 0.0)
    water += np.where(~awake & (rng.random((h, slots)) < 0.07), 0.006, 0.0)
    standby = rng.uniform(0.03, 0.08, h)[:, None]
    appliance_drift = 1.0 + rng.uniform(-0.3, 0.3, h)[:, None] * calendar.season[:, day]
    electricity = standby * rng.uniform(0.9, 1.1, (h, slots))
    electricity += np.where(home, rng.gamma(2.0, 0.06, (h, slots)) * appliance_drift, 0.0)
    has_gas = rng.random(h) < 0.7
    meals = np.zeros((h, slots), dtype=bool)
    for meal_hour in (0.5, 5.0, 11.0):  # hours after waking
        meal = np.round(routine.wake + meal_hour * SLOTS_PER_HOUR).astype(int)[:, day]
        meals |= (tod[None, :] == meal) & (rng.random((h, slots)) < 0.8)
    meals &= home
    gas = np.where(meals & has_gas[:, None], rng.uniform(0.03, 0.1, (h, slots)), 0.0)
    return np.stack([water, electricity, gas], axis=2), standby, has_gas


def _incidents(
    rng: np.random.Generator,
    readings: np.ndarray,
    away: np.ndarray,
    standby_row: np.ndarray,
    incidents: list[Incident],
) -> None:
    """The incidents written into the readings (and the marked time away into `away`)."""
    slots = readings.shape[1]
    for incident in incidents:
        i, a, b = incident.household, incident.start, min(incident.end, slots)
        if b <= a:
            continue
        if incident.kind in ("no_use", "no_use_lamp", "away_marked", "away_unmarked"):
            readings[i, a:b, WATER] = 0.0
            readings[i, a:b, GAS] = 0.0
            readings[i, a:b, ELECTRICITY] = standby_row[i] * rng.uniform(0.9, 1.1, b - a)
            if incident.kind == "no_use_lamp":
                lamp = rng.uniform(0.02, 0.15)
                readings[i, a:b, ELECTRICITY] += lamp * rng.uniform(0.97, 1.03, b - a)
            if incident.kind == "away_marked":
                away[i, a:b] = True
        elif incident.kind == "leak":
            readings[i, a:b, WATER] += rng.uniform(0.005, 0.02, b - a)
        elif incident.kind == "stove":
            readings[i, a:b, GAS] = rng.uniform(0.05, 0.1, b - a)
        elif incident.kind == "night":
            readings[i, a:b, ELECTRICITY] += rng.uniform(0.08, 0.3, b - a)
            draws = rng.random(b - a) < 0.7
            readings[i, a:b, WATER] += np.where(draws, rng.uniform(0.003, 0.02, b - a), 0.0)
        elif incident.kind == "level":
            if rng.random() < 0.5:
                readings[i, a:b, WATER] *= 0.25
            else:
                readings[i, a:b, ELECTRICITY] *= 3.0
        elif incident.kind == "fault":
            readings[i, a:b, WATER] = np.nan
        elif incident.kind == "stuck":
            readings[i, a:b, ELECTRICITY] = 0.0


def _transmission(
    rng: np.random.Generator, readings: np.ndarray, h: int, calendar: _Calendar
) -> None:
    """Readings lost in transit, one by one and in link outages."""
    days, tod = calendar.days, calendar.tod
    lost = rng.random((h, calendar.slots, 3)) < 0.002
    # Link outages: about one a month per household, 1-4 hours, every meter at once.
    outages = rng.random((h, days)) < 1 / 30
    start = rng.uniform(0, SLOTS_PER_DAY, (h, days))
    length = rng.uniform(1.0, 4.0, (h, days)) * SLOTS_PER_HOUR
    link_down = _between(tod, np.where(outages, start, -1), np.where(outages, start + length, -1))
    lost |= link_down[:, :, None]
    readings[lost] = np.nan
