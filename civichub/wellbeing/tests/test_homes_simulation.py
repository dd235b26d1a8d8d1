"""The household simulator used as the detection yardstick (`civichub.testing.wellbeing_homes`):
seeded and deterministic, appliances that run with nobody awake, incidents on both sides of each
rule's threshold, and meters read as ingestion reads them."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import numpy as np
import pytest

from civichub.testing.wellbeing_homes import (
    DAILY_BATCH,
    Homes,
    raw_readings,
    simulate_homes,
    start_date,
)
from civichub.testing.wellbeing_homes_appliances import (
    DISTRICT,
    GAS_BOILER,
    NO_HEATER,
    Equipment,
    appliances,
)
from civichub.testing.wellbeing_homes_canvas import (
    BINS_PER_DAY,
    ELECTRICITY_WH,
    WATER_L,
    Calendar,
    Canvas,
)
from civichub.testing.wellbeing_homes_incidents import FALL, LEAK, SHIFTED, STOVE
from civichub.wellbeing.detection import ELECTRICITY, GAS, SLOTS_PER_DAY, slot_of

pytestmark = pytest.mark.once  # the same on any database: the SQLite run runs it

NIGHT = np.arange(SLOTS_PER_DAY) < 10  # 00:00-05:00


@pytest.fixture(scope="module")
def winter() -> Homes:
    """Three weeks from December 15 (seed 38), incidents from the first day."""
    homes = simulate_homes(200, 21, seed=38, warmup_days=0)
    assert homes.start.month == 12
    return homes


def test_the_same_seed_gives_the_same_households_and_another_seed_others() -> None:
    first = simulate_homes(20, 30, seed=5, warmup_days=5)
    again = simulate_homes(20, 30, seed=5, warmup_days=5)
    assert np.array_equal(first.readings, again.readings, equal_nan=True)
    assert np.array_equal(first.away, again.away)
    assert first.incidents == again.incidents
    assert first.start_slot == again.start_slot == slot_of(first.start)
    other = simulate_homes(20, 30, seed=6, warmup_days=5)
    assert not np.array_equal(first.readings, other.readings, equal_nan=True)
    # Another chunk of the same seed: other households, the same calendar.
    part = simulate_homes(20, 30, seed=5, part=1, warmup_days=5)
    assert part.start == first.start
    assert not np.array_equal(first.readings, part.readings, equal_nan=True)


def test_runs_start_on_dates_across_the_year_and_some_cross_the_heating_season() -> None:
    starts = [start_date(seed) for seed in range(1, 100)]
    assert len({s.month for s in starts}) == 12
    changes = [date(y, m, d) for y in (2025, 2026) for m, d in ((3, 15), (11, 15))]
    crossing = [s for s in starts if any(s <= c < s + timedelta(days=90) for c in changes)]
    assert len(crossing) >= 20


def _only_a_fridge(households: int) -> Equipment:
    eq = Equipment.draw(np.random.default_rng(1), households)
    off = np.zeros(households, dtype=bool)
    return dataclasses.replace(
        eq,
        fridge=np.ones(households, dtype=bool),
        freezer=off,
        hot_water=np.full(households, NO_HEATER),
        heater_timer=off,
        heating=np.full(households, DISTRICT),
        air_conditioning=off,
        washer_timer=off,
        rice_timer=off,
        cistern_leak=np.zeros(households),
        purifier=off,
    )


def test_a_fridge_cycles_all_night_in_an_empty_home() -> None:
    households, days = 50, 3
    calendar = Calendar.of(start_date(3), days, np.random.default_rng(0))
    eq = _only_a_fridge(households)
    canvas = Canvas(households, calendar.bins)
    nobody = np.zeros((households, calendar.bins), dtype=bool)
    evenings = np.zeros((households, days), dtype=bool)
    appliances(np.random.default_rng(2), calendar, eq, canvas, nobody, nobody, evenings)
    watts = canvas.render()[ELECTRICITY_WH] * 12  # watt-hours per 5 minutes to watts
    assert canvas.use[WATER_L].sum() == 0
    night = watts[:, BINS_PER_DAY + 12 : BINS_PER_DAY + 60]  # 01:00-05:00 on the second day
    standby = night.min(axis=1, keepdims=True)
    running = night > standby + 30  # the compressor (50-150 W) is on
    starts = (running[:, 1:] & ~running[:, :-1]).sum(axis=1)
    # A cycle every 30-90 minutes: at least two starts in four hours, in every home.
    assert starts.min() >= 2
    assert running.mean() > 0.1
    # Without the fridge the same night is flat: standby wanders a few per cent.
    eq = dataclasses.replace(eq, fridge=np.zeros(households, dtype=bool))
    canvas = Canvas(households, calendar.bins)
    appliances(np.random.default_rng(2), calendar, eq, canvas, nobody, nobody, evenings)
    flat = canvas.render()[ELECTRICITY_WH][:, BINS_PER_DAY + 12 : BINS_PER_DAY + 60]
    assert (flat.max(axis=1) <= flat.min(axis=1) * 1.2).all()


def test_gas_boilers_fire_through_winter_nights_with_nobody_up(winter: Homes) -> None:
    boilers = np.flatnonzero(winter.equipment.heating == GAS_BOILER)
    others = np.flatnonzero(winter.meters[:, GAS] & (winter.equipment.heating != GAS_BOILER))
    assert boilers.size >= 10 and others.size >= 10
    night = np.tile(NIGHT, winter.slots // SLOTS_PER_DAY)[None, :]
    nobody_up = night & ~winter.active
    gas = winter.readings[:, :, GAS]
    assert np.nanmean(gas[boilers][nobody_up[boilers]] > 0) > 0.8
    # Homes cooking on gas without a boiler: hardly any gas while everybody sleeps.
    assert np.nanmean(gas[others][nobody_up[others]] > 0) < 0.02


def test_electricity_changes_from_half_hour_to_half_hour_at_night_with_nobody_up(
    winter: Homes,
) -> None:
    facts = winter.meter_facts
    fine = np.flatnonzero(
        winter.equipment.fridge
        & (facts.interval_minutes[:, ELECTRICITY] <= 30)
        & (facts.step[:, ELECTRICITY] == 10)
    )
    assert fine.size >= 20
    varied = 0
    nights = 0
    for household in fine:
        for day in range(1, winter.slots // SLOTS_PER_DAY):
            slots = day * SLOTS_PER_DAY + np.flatnonzero(NIGHT)
            if winter.active[household, slots].any():
                continue
            values = winter.readings[household, slots, ELECTRICITY]
            values = values[~np.isnan(values)]
            nights += 1
            varied += np.unique(values).size >= 3 and np.ptp(values) >= 0.02
    assert nights > 100
    # The rest: a stuck meter, or a small fridge that barely stops.
    assert varied / nights > 0.9


def test_incident_durations_fall_on_both_sides_of_each_rule() -> None:
    incidents = simulate_homes(400, 60, seed=2).incidents
    hours = {kind: [i.hours for i in incidents if i.kind == kind] for kind in (FALL, LEAK, STOVE)}
    leaks, stoves, falls = np.array(hours[LEAK]), np.array(hours[STOVE]), np.array(hours[FALL])
    assert (leaks < 24).sum() >= 3 and (leaks > 24).sum() >= 3
    assert (stoves < 3).sum() >= 3 and (stoves > 3).sum() >= 3
    assert (falls < 12).sum() >= 10 and (falls > 12).sum() >= 10
    assert falls.min() >= 4 and falls.max() <= 48
    assert len({int(i.start_minute % 1440 // 60) for i in incidents if i.kind == FALL}) >= 18
    late = [i.hours for i in incidents if i.kind == SHIFTED]
    assert late and min(late) >= 1 and max(late) <= 6
    assert all(i.start_minute >= 21 * 1440 for i in incidents)


def test_the_grid_is_what_ingestion_makes_of_floored_registers(winter: Homes) -> None:
    facts = winter.meter_facts
    for u in range(3):
        for household in range(winter.households):
            if not facts.present[household, u]:
                assert np.isnan(winter.readings[household, :, u]).all()
                continue
            register = winter.registers[u, household]
            step = facts.step[household, u]
            assert np.allclose(register / step, np.round(register / step))
            grid = winter.readings[household, :, u] * 1000
            lost = winter.lost[u, household]
            minutes = facts.interval_minutes[household, u]
            if minutes == 60:  # an hour's use split evenly over its two half hours
                hourly = register[4::4] - register[:-4:4]
                expected = np.repeat(np.where(lost[3::4], np.nan, hourly) / 2, 2)
            else:  # a half hour's use, or its two quarters summed (missing if either is)
                expected = register[2::2] - register[:-2:2]
                missing = lost[1::2] | (lost[0::2] if minutes == 15 else False)
                expected = np.where(missing, np.nan, expected)
            assert np.allclose(grid, expected, equal_nan=True, atol=1e-6)


def test_some_readings_are_lost_and_meters_differ(winter: Homes) -> None:
    share = np.isnan(winter.readings[:, :, :2]).mean()
    assert 0.002 < share < 0.05
    facts = winter.meter_facts
    assert set(np.unique(facts.interval_minutes[:, 0])) == {15, 30, 60}
    assert (facts.report_every_minutes == DAILY_BATCH).any()
    assert set(np.unique(facts.step[:, 0])) == {1.0, 10.0}
    assert set(np.unique(facts.step[:, 1])) == {10.0, 100.0}


def test_raw_readings_are_the_registers_in_the_meters_own_units(winter: Homes) -> None:
    for household in range(20):
        rows = raw_readings(winter, household)
        description = winter.facts(household)["meters"]
        assert isinstance(description, dict)
        assert {r.utility for r in rows} == set(description)
        for u, utility in enumerate(("water", "electricity", "gas")):
            if utility not in description:
                continue
            meter = description[utility]
            mine = [r for r in rows if r.utility == utility]
            every = timedelta(minutes=meter["interval_minutes"])
            q = meter["interval_minutes"] // 15
            assert len(mine) == np.count_nonzero(~winter.lost[u, household, q - 1 :: q])
            assert all(r.unit == meter["unit"] and r.interval_minutes == q * 15 for r in mine)
            step = meter["step"] / (1000.0 if meter["unit"] in ("m³", "kWh") else 1.0)
            for previous, reading in zip(mine, mine[1:], strict=False):
                assert (reading.time - winter.start) % every == timedelta(0)
                if reading.time - previous.time == every:
                    assert reading.value == pytest.approx(reading.register - previous.register)
                assert reading.value / step == pytest.approx(round(reading.value / step))
                if meter["report_every_minutes"] == DAILY_BATCH:
                    assert timedelta(0) <= reading.sent - reading.time < timedelta(days=1)
                else:
                    assert reading.sent == reading.time


def test_residents_have_a_bedtime_routine_and_some_rise_late() -> None:
    """Nearly everybody uses the toilet and washes before bed, so water is drawn in the last
    hour up on most nights (without the routine, an evening in front of the television left
    about half the nights dry); one resident in seven gets up after 07:30."""
    homes = simulate_homes(150, 14, seed=3, warmup_days=14)
    water = homes.registers[0]
    drawn = []
    for h in np.flatnonzero(~homes.equipment.two_person):
        for day in range(13):
            evening = homes.active[h, day * SLOTS_PER_DAY + 38 : (day + 1) * SLOTS_PER_DAY]
            if not evening.any() or evening[-1]:
                continue
            last = day * SLOTS_PER_DAY + 38 + int(np.flatnonzero(evening)[-1])
            # 15-minute register ticks from the half hour before the last one up to an hour on.
            drawn.append(water[h, 2 * (last + 2)] - water[h, 2 * (last - 1)] >= 5)
    assert len(drawn) > 500
    assert np.mean(drawn) >= 0.85
    late = homes.usual_wake > 7.5 * 60
    assert 0.05 <= late.mean() <= 0.3
