"""A seeded household simulator written from what elderly households in a northern Chinese city
do, as the yardstick for wellbeing detection (the older `wellbeing_simulation` is kinder to the
detector: flat standby, no fridge, incidents just past each rule's threshold).

    homes = simulate_homes(500, 90, seed=1000)
    homes.readings  # (households, slots, 3) on the detector's half-hour grid, m³ / kWh / m³
    homes.away      # (households, slots) time away that the household marked
    homes.incidents # the ground truth, with the alert kinds that fit each incident
    raw_readings(homes, 0)  # what household 0's meters sent, in their own units

The model (details in each part's docstring):

- `wellbeing_homes_appliances`: what a household owns and the appliances that run by
  themselves day and night (fridges, freezers, water heaters, gas boilers and electric heating
  on thermostats in the heating season, summer air conditioning, standby, timers, leaking
  cisterns, purifiers).
- `wellbeing_homes_people`: one or two residents' days (sleep, naps, outings, television,
  meals, showers, toilet visits at night, visitors).
- `wellbeing_homes_incidents`: falls, leaks, a stove left on, late starts, confusion at night,
  meter faults and trips, with random durations on both sides of each rule's threshold.
- Here: the meters and what ingestion makes of their readings. Each household's water,
  electricity and (three in four) gas meter reads every 15 or 30 minutes or hourly, or sends a
  day's hourly values once a night (NB-IoT); water registers count in steps of 1 or 10 litres,
  electricity in 10 or 100 Wh, gas in 10 litres. A reading is the difference of the floored
  register values over its interval; on the half-hour grid, 15-minute readings are summed (NaN
  if either is missing), hourly ones split evenly over their two half hours. About one reading
  in 500 is lost, and each meter's link goes down for 1-6 hours about once in 40 days.

A run starts on a date drawn from the seed (any day of a year, so that some runs cross the
heating season's start on November 15 or its end on March 15) at local midnight, and its slots
are the detector's (`civichub.wellbeing.detection.slot_of`). Households are simulated in
chunks (`part`): each (seed, part) pair is one deterministic chunk sharing the seed's start date
and weather. Tuning seeds are 1-99; the benchmark reports on held-out seeds from 1000 that
nobody tunes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

from civichub.testing.wellbeing_homes_appliances import Equipment, appliances
from civichub.testing.wellbeing_homes_canvas import DAY_MINUTES, Calendar, Canvas
from civichub.testing.wellbeing_homes_incidents import (
    FAULT_GAP,
    FAULT_STUCK,
    TRIP_MARKED,
    HomeIncident,
    plan,
)
from civichub.testing.wellbeing_homes_people import Habits, incident_use, life, person_use
from civichub.wellbeing.detection import SLOTS_PER_DAY, Bool, Float, Int, slot_of

TICK_MINUTES = 15
TICKS_PER_DAY = DAY_MINUTES // TICK_MINUTES
UTILITY_NAMES = ("water", "electricity", "gas")
BASE_UNITS = ("L", "Wh", "L")
LARGE_UNITS = ("m³", "kWh", "m³")
TUNING_SEEDS = range(1, 100)
HELD_OUT_SEEDS = range(1000, 1_000_000)
DAILY_BATCH = 1440  # report_every_minutes of a meter that sends a day of hourly values at once

# Per utility: (interval minutes, sends once a day) and their shares; register steps and shares.
_INTERVALS = (
    ((15, False, 0.15), (30, False, 0.25), (60, False, 0.3), (60, True, 0.3)),
    ((15, False, 0.4), (30, False, 0.2), (60, False, 0.3), (60, True, 0.1)),
    ((15, False, 0.05), (30, False, 0.2), (60, False, 0.4), (60, True, 0.35)),
)
_STEPS = (((1.0, 0.6), (10.0, 0.4)), ((10.0, 0.7), (100.0, 0.3)), ((10.0, 1.0),))
LOST_READING = 1 / 500
OUTAGE_PER_DAY = 1 / 40


@dataclass(frozen=True)
class Meters:
    """Each household's meters, (households, 3) per field."""

    present: Bool
    interval_minutes: Int
    report_every_minutes: Int  # the interval, or DAILY_BATCH for a day's values sent at once
    step: Float  # register resolution in base units (litres, watt-hours)
    large_unit: Bool  # the meter reports m³ or kWh rather than litres or watt-hours
    send_minute: Float  # minute of the day a daily batch is sent
    register_start: Float  # the register's reading at the start, base units

    @classmethod
    def draw(cls, rng: np.random.Generator, gas: Bool) -> Meters:
        h = int(gas.shape[0])
        interval = np.zeros((h, 3), dtype=np.int64)
        report = np.zeros((h, 3), dtype=np.int64)
        step = np.zeros((h, 3))
        for u in range(3):
            choice = rng.choice(len(_INTERVALS[u]), h, p=[c[2] for c in _INTERVALS[u]])
            interval[:, u] = [_INTERVALS[u][c][0] for c in choice]
            report[:, u] = [
                DAILY_BATCH if _INTERVALS[u][c][1] else _INTERVALS[u][c][0] for c in choice
            ]
            steps = _STEPS[u]
            step[:, u] = rng.choice([s[0] for s in steps], h, p=[s[1] for s in steps])
        present = np.ones((h, 3), dtype=bool)
        present[:, 2] = gas
        return cls(
            present=present,
            interval_minutes=interval,
            report_every_minutes=report,
            step=step,
            large_unit=rng.random((h, 3)) < 0.5,
            send_minute=rng.uniform(60, 360, (h, 3)),
            register_start=rng.uniform(0, 1e5, (h, 3)) * step,
        )

    @property
    def slowest_minutes(self) -> Int:
        """(households,) the longest reading interval among each household's meters."""
        return np.where(self.present, self.interval_minutes, 0).max(axis=1)


@dataclass
class Homes:
    """One simulated chunk of households."""

    readings: Float  # (households, slots, 3) m³ / kWh / m³, NaN where there is no reading
    away: Bool  # (households, slots) marked away
    meters: Bool  # (households, 3) which meters exist (the detector's `meters`)
    start: datetime  # local midnight of the first day
    start_slot: int  # the detector's slot of `start`
    incidents: list[HomeIncident]
    meter_facts: Meters
    equipment: Equipment
    usual_wake: Float  # (households,) the (first) resident's usual weekday wake-up, minutes
    active: Bool  # (households, slots) somebody up and about at home in some part of the half hour
    registers: Float  # (3, households, ticks + 1) floored register values, base units
    lost: Bool  # (3, households, ticks) the reading ending with each 15-minute tick was lost
    seed: int
    part: int

    @property
    def households(self) -> int:
        return int(self.readings.shape[0])

    @property
    def slots(self) -> int:
        return int(self.readings.shape[1])

    def facts(self, household: int) -> dict[str, object]:
        """What household `household` has: its appliances and its meters."""
        m = self.meter_facts
        meters = {
            UTILITY_NAMES[u]: {
                "interval_minutes": int(m.interval_minutes[household, u]),
                "report_every_minutes": int(m.report_every_minutes[household, u]),
                "step": float(m.step[household, u]),
                "unit": (LARGE_UNITS if m.large_unit[household, u] else BASE_UNITS)[u],
            }
            for u in range(3)
            if m.present[household, u]
        }
        return {**self.equipment.names(household), "meters": meters}


def start_date(seed: int) -> date:
    """The first day of a run: any day of a year, drawn from the seed."""
    return date(2025, 1, 1) + timedelta(days=int(np.random.default_rng([seed, 7]).integers(0, 365)))


def simulate_homes(
    households: int, days: int, *, seed: int, part: int = 0, warmup_days: int = 21
) -> Homes:
    """Simulate `households` households for `days` days; incidents start after `warmup_days`."""
    first = start_date(seed)
    calendar = Calendar.of(first, days, np.random.default_rng([seed, 11]))
    rng = np.random.default_rng([seed, part, 13])
    eq = Equipment.draw(rng, households)
    meters = Meters.draw(rng, eq.gas)
    habits = Habits.draw(rng, households)
    incidents = plan(
        rng,
        days,
        warmup_days,
        eq.two_person,
        eq.cooks_on_gas,
        meters.present,
        habits.wake[:, 0],
        habits.weekend_late,
        calendar.weekday,
    )
    living = life(rng, calendar, eq, habits, incidents)
    canvas = Canvas(households, calendar.bins)
    appliances(rng, calendar, eq, canvas, living.home, living.away, living.evening_active)
    person_use(rng, calendar, eq, habits, living, canvas)
    incident_use(rng, calendar, incidents, meters.step[:, 0], canvas)
    use = canvas.render()
    # Somebody up and about at home in some part of each half hour.
    active = np.any(living.active.reshape(households, days * SLOTS_PER_DAY, -1), axis=2)
    del canvas, living
    registers, lost = _meter_registers(rng, use, meters, incidents, days)
    del use
    readings = _grid(registers, lost, meters)
    away = np.zeros((households, days * SLOTS_PER_DAY), dtype=bool)
    for incident in incidents:
        if incident.kind == TRIP_MARKED:
            away[incident.household, incident.start_slot : incident.end_slot] = True
    start = datetime(first.year, first.month, first.day)  # noqa: DTZ001 - local wall-clock time
    return Homes(
        readings=readings,
        away=away,
        meters=meters.present.copy(),
        start=start,
        start_slot=slot_of(start),
        incidents=incidents,
        meter_facts=meters,
        equipment=eq,
        usual_wake=habits.wake[:, 0],
        active=active,
        registers=registers,
        lost=lost,
        seed=seed,
        part=part,
    )


def _meter_registers(
    rng: np.random.Generator, use: Float, meters: Meters, incidents: list[HomeIncident], days: int
) -> tuple[Float, Bool]:
    """Floored register values at every 15-minute boundary (3, households, ticks + 1) and which
    readings were lost (3, households, ticks), from the use per 5-minute bin."""
    h, ticks = use.shape[1], days * TICKS_PER_DAY
    per_tick = use.reshape(3, h, ticks, TICK_MINUTES // 5).sum(axis=3)
    lost = rng.random((3, h, ticks)) < LOST_READING
    outage = rng.random((3, h, days)) < OUTAGE_PER_DAY
    u, hh, day = np.nonzero(outage)
    first = day * TICKS_PER_DAY + rng.integers(0, TICKS_PER_DAY, u.size)
    length = np.round(rng.uniform(1, 6, u.size) * 60 / TICK_MINUTES).astype(np.int64)
    for meter, household, tick, span in zip(u, hh, first, length, strict=True):
        lost[meter, household, tick : tick + span] = True
    for incident in incidents:
        if incident.kind not in (FAULT_GAP, FAULT_STUCK):
            continue
        utility = int(incident.detail["utility"])  # type: ignore[call-overload]
        a = int(incident.start_minute // TICK_MINUTES)
        b = int(np.ceil(incident.end_minute / TICK_MINUTES))
        if incident.kind == FAULT_GAP:
            lost[utility, incident.household, a:b] = True
        else:  # the register stops counting: every reading is zero
            per_tick[utility, incident.household, a:b] = 0.0
    registers = np.empty((3, h, ticks + 1))
    registers[:, :, 0] = meters.register_start.T
    np.cumsum(per_tick, axis=2, out=registers[:, :, 1:])
    registers[:, :, 1:] += meters.register_start.T[:, :, None]
    step = meters.step.T[:, :, None]
    return np.floor(registers / step) * step, lost


def _grid(registers: Float, lost: Bool, meters: Meters) -> Float:
    """The half-hour grid ingestion makes of the readings: (households, slots, 3) in m³ / kWh /
    m³, NaN where a reading is missing."""
    _, h, ticks_plus = registers.shape
    ticks = ticks_plus - 1
    slots = ticks // 2
    grid = np.full((h, slots, 3), np.nan)
    for u in range(3):
        for minutes in (15, 30, 60):
            rows = np.flatnonzero(meters.present[:, u] & (meters.interval_minutes[:, u] == minutes))
            if not rows.size:
                continue
            q = minutes // TICK_MINUTES
            register = registers[u, rows]
            values = register[:, q::q] - register[:, : ticks - q + 1 : q]
            values[lost[u, rows, q - 1 :: q]] = np.nan
            if q == 1:
                values = values.reshape(rows.size, slots, 2).sum(axis=2)
            elif q == 4:
                values = np.repeat(values / 2, 2, axis=1)
            grid[rows, :, u] = values / 1000
    return grid


@dataclass(frozen=True)
class RawReading:
    """One reading as a meter sent it."""

    utility: str
    time: datetime  # the end of the interval it covers (local time)
    sent: datetime  # when it reached the platform (a daily batch: the next night)
    value: float  # use over the interval, in the meter's unit
    register: float  # the register at `time`, in the meter's unit
    unit: str
    interval_minutes: int


def raw_readings(homes: Homes, household: int) -> list[RawReading]:
    """Every reading household `household`'s meters sent, in time order per meter, lost ones
    left out: for an end-to-end benchmark through ingestion."""
    m = homes.meter_facts
    out: list[RawReading] = []
    for u in range(3):
        if not m.present[household, u]:
            continue
        minutes = int(m.interval_minutes[household, u])
        q = minutes // TICK_MINUTES
        large = bool(m.large_unit[household, u])
        scale = 1000.0 if large else 1.0
        unit = (LARGE_UNITS if large else BASE_UNITS)[u]
        register = homes.registers[u, household]
        batched = m.report_every_minutes[household, u] == DAILY_BATCH
        for end in range(q, register.shape[0], q):
            if homes.lost[u, household, end - 1]:
                continue
            time = homes.start + timedelta(minutes=end * TICK_MINUTES)
            sent = time
            if batched:
                day_start = datetime(time.year, time.month, time.day)  # noqa: DTZ001
                sent = day_start + timedelta(minutes=float(m.send_minute[household, u]))
                if sent < time:
                    sent += timedelta(days=1)
            out.append(
                RawReading(
                    utility=UTILITY_NAMES[u],
                    time=time,
                    sent=sent,
                    value=(register[end] - register[end - q]) / scale,
                    register=register[end] / scale,
                    unit=unit,
                    interval_minutes=minutes,
                )
            )
    return out
