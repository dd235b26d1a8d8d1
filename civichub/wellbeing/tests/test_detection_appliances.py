"""Homes where appliances run by themselves, day and night: a fridge, a freezer, an electric
water heater, a gas boiler or electric heating on a thermostat, a router, a washing machine and a
rice cooker on timers, a cistern that leaks a little. Nobody home for 14 hours must still raise
exactly one no-use alert within the rule's window; somebody home must raise nothing."""

from __future__ import annotations

import numpy as np
import pytest

from civichub.wellbeing.detection import (
    ELECTRICITY,
    GAS,
    SLOTS_PER_DAY,
    SLOTS_PER_HOUR,
    WATER,
    Alert,
    Kind,
    Rules,
    Severity,
    WellbeingDetector,
)

pytestmark = pytest.mark.once  # the same on any database: the SQLite run runs it

DAY = SLOTS_PER_DAY
DAYS = 30
# A Wednesday after four weeks, 09:00: the household goes quiet for 14 hours.
QUIET_FROM = 29 * DAY + 9 * SLOTS_PER_HOUR
QUIET_HOURS = 14

APPLIANCES = (
    "fridge",
    "freezer",
    "water_heater",
    "gas_boiler",
    "electric_heating",
    "router",
    "washing_machine_timer",
    "rice_cooker_timer",
    "leaking_cistern",
)


def _cycling(rng: np.random.Generator, slots: int, watts: float, on_min: float, period_min: float):
    """Energy per half hour (kWh) of an appliance cycling `on_min` minutes every `period_min`,
    with the period wobbling by a fifth, at a random phase."""
    minutes = np.zeros(slots * 30)
    t = rng.uniform(0, period_min)
    while t < minutes.size:
        on = on_min * rng.uniform(0.8, 1.2)
        minutes[int(t) : int(t + on)] = 1.0
        t += period_min * rng.uniform(0.8, 1.2)
    return minutes.reshape(slots, 30).sum(axis=1) / 60 * watts / 1000


def automatic(kind: str, slots: int, rng: np.random.Generator) -> np.ndarray:
    """(slots, 3) use of one appliance running by itself."""
    use = np.zeros((slots, 3))
    hour = (np.arange(slots) % DAY) / SLOTS_PER_HOUR
    if kind == "fridge":
        use[:, ELECTRICITY] = _cycling(rng, slots, 90, 20, 60)
        defrost = np.arange(slots) % DAY == 14 * SLOTS_PER_HOUR  # 20 minutes at 14:00
        use[defrost, ELECTRICITY] += 0.3 * 20 / 60
    elif kind == "freezer":
        use[:, ELECTRICITY] = _cycling(rng, slots, 120, 35, 80)
    elif kind == "water_heater":
        use[:, ELECTRICITY] = _cycling(rng, slots, 2000, 8, 180)
    elif kind == "gas_boiler":  # a cold winter: gas in most half hours, day and night
        use[:, GAS] = _cycling(rng, slots, 1000, 18, 40) * 0.3
    elif kind == "electric_heating":
        use[:, ELECTRICITY] = _cycling(rng, slots, 1500, 15, 45)
    elif kind == "router":
        use[:, ELECTRICITY] = 0.006 + rng.normal(0, 0.0005, slots)
    elif kind == "washing_machine_timer":  # set the evening before, runs at 06:00
        run = hour == 6.0
        use[run, ELECTRICITY] = 0.25
        use[run, WATER] = 0.045
    elif kind == "rice_cooker_timer":  # cooks at 17:00, keeps warm for two hours
        use[(hour >= 17) & (hour < 19), ELECTRICITY] = 0.02
        use[hour == 17.0, ELECTRICITY] += 0.3
    elif kind == "leaking_cistern":
        use[:, WATER] = 0.0003 + rng.normal(0, 0.00003, slots).clip(-0.0002)
    return use


def person(slots: int, rng: np.random.Generator, *, gas: bool) -> np.ndarray:
    """(slots, 3) what an older person living alone uses: up at about 06:30, to bed at about
    22:00, a wash on rising, water, lights and appliances while awake, cooking three times a
    day, a toilet visit most nights."""
    use = np.zeros((slots, 3))
    for day in range(slots // DAY):
        base = day * DAY
        wake = base + 13 + int(rng.integers(-1, 2))
        bed = base + 44 + int(rng.integers(-1, 2))
        awake = np.arange(wake, bed)
        draws = awake[rng.random(awake.size) < 0.5]
        use[draws, WATER] += rng.uniform(0.003, 0.03, draws.size)
        use[wake, WATER] += rng.uniform(0.02, 0.06)
        use[awake, ELECTRICITY] += rng.gamma(2.0, 0.06, awake.size)
        for meal in (wake + 1, base + 23, base + 36):
            use[meal, ELECTRICITY] += 0.4  # the kettle, the rice cooker
            if gas:
                use[meal : meal + 2, GAS] += 0.08
        if rng.random() < 0.7:
            use[base + int(rng.integers(4, 10)), WATER] += 0.006
    return use


def home(appliances: tuple[str, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(slots, 3) readings of a home with `appliances` and a person, and the person's part."""
    rng = np.random.default_rng(seed)
    slots = DAYS * DAY
    machines = sum((automatic(kind, slots, rng) for kind in appliances), np.zeros((slots, 3)))
    machines[:, ELECTRICITY] += 0.01  # standby of the rest
    return machines, person(slots, rng, gas="gas_boiler" in appliances)


def detect(readings: np.ndarray, meters: np.ndarray) -> list[Alert]:
    detector = WellbeingDetector(meters)
    alerts: list[Alert] = []
    for start in range(0, readings.shape[1], DAY):
        alerts += detector.process(readings[:, start : start + DAY], start)
    return alerts


def serious(alerts: list[Alert], household: int, after: int) -> list[Alert]:
    return [
        a
        for a in alerts
        if a.household == household
        and a.slot >= after
        and a.severity != Severity.INFO
        and not a.follow_up
    ]


@pytest.fixture(scope="module")
def homes() -> dict[str, list[Alert]]:
    """One home per appliance (and one with all of them), each twice: with the person's use
    throughout, and with nobody home for 14 hours from `QUIET_FROM`."""
    cases = [(kind,) for kind in APPLIANCES] + [APPLIANCES]
    present, quiet = [], []
    for n, appliances in enumerate(cases):
        machines, use = home(appliances, seed=n)
        present.append(machines + use)
        gone = use.copy()
        gone[QUIET_FROM : QUIET_FROM + QUIET_HOURS * SLOTS_PER_HOUR] = 0.0
        quiet.append(machines + gone)
    meters = np.tile([True, True, True], (len(cases), 1))
    return {
        "present": detect(np.stack(present), meters),
        "quiet": detect(np.stack(quiet), meters),
        "cases": cases,  # type: ignore[dict-item]
    }


@pytest.mark.parametrize("row", range(len(APPLIANCES) + 1))
def test_nobody_home_for_14_hours_is_one_no_use_alert_within_the_window(homes, row) -> None:
    end = QUIET_FROM + QUIET_HOURS * SLOTS_PER_HOUR
    during = [a for a in serious(homes["quiet"], row, after=QUIET_FROM) if a.slot < end]
    # One alert for the incident (the learned quiet-spell rule may open it first) ...
    assert len(during) == 1, (homes["cases"][row], [(a.kind, a.slot) for a in during])
    assert during[0].kind in {Kind.NO_USE, Kind.INACTIVITY, Kind.NO_FIRST_USE}
    # ... which says no use, as a follow-up if it was opened before, within the rule's 12 hours
    # and one reading interval.
    no_use = [
        a
        for a in homes["quiet"]
        if a.household == row and a.kind == Kind.NO_USE and QUIET_FROM <= a.slot < end
    ]
    assert len(no_use) == 1, homes["cases"][row]
    assert no_use[0].slot - QUIET_FROM <= 12 * SLOTS_PER_HOUR + 1
    assert no_use[0].follow_up == (during[0].kind != Kind.NO_USE)


@pytest.mark.parametrize("row", range(len(APPLIANCES) + 1))
def test_a_person_at_home_with_the_appliances_raises_nothing(homes, row) -> None:
    """After the first week (the rules that learn speak after three), nights included."""
    alerts = serious(homes["present"], row, after=7 * DAY)
    assert alerts == [], (homes["cases"][row], [(a.kind, a.slot % DAY) for a in alerts])


def test_a_change_exactly_at_the_margin_is_not_a_switch_whatever_the_rounding() -> None:
    """0.05 - 0.02 is 0.030000000000000002 in floating point: the margin is 0.03 kWh."""
    detector = WellbeingDetector(np.array([[False, True, False]]))
    readings = np.zeros((1, 24, 3))
    readings[0, :, ELECTRICITY] = np.tile([0.02, 0.05], 12)
    detector.process(readings, 0)
    assert detector.state.since_stir[0] == 24


def test_a_leak_is_one_incident_whose_later_kinds_follow_up_the_first_alert() -> None:
    """Water in every half hour for 30 hours: the learned flow rule or the fixed 24-hour rule
    raises the alert; high use the next day updates it; nothing new until the leak stops."""
    machines, use = home(("fridge",), seed=20)
    readings = (machines + use)[None].copy()
    leak_from = 29 * DAY
    readings[0, leak_from : leak_from + 30 * SLOTS_PER_HOUR, WATER] += 0.05
    alerts = [
        a
        for a in detect(readings, np.array([[True, True, True]]))
        if a.slot >= leak_from and a.severity != Severity.INFO
    ]
    new = [a for a in alerts if not a.follow_up]
    assert [a.kind for a in new] == [Kind.CONTINUOUS_FLOW], [(a.kind, a.slot) for a in alerts]
    follow = [a for a in alerts if a.follow_up]
    assert [a.kind for a in follow] == [Kind.HIGH_USE]
    assert follow[0].family == new[0].family == "water"


def test_days_away_unannounced_are_one_alert_under_a_register_stepping_now_and_then() -> None:
    """A cistern trickling 0.2 litres a half hour into a meter counting whole litres shows a
    litre every few hours: no sign that anybody is back, so five days away are one alert."""
    machines, use = home(("fridge",), seed=30)
    use[QUIET_FROM - 5 * DAY : QUIET_FROM] = 0.0  # away since five days before
    water = machines[:, WATER] + use[:, WATER] + 0.0002
    register = np.floor(np.cumsum(water) / 0.001) * 0.001
    readings = (machines + use)[None].copy()
    readings[0, :, WATER] = np.diff(register, prepend=0.0)
    readings[0, 0, WATER] = 0.0
    gone = [
        a
        for a in detect(readings, np.array([[True, True, True]]))
        if QUIET_FROM - 5 * DAY <= a.slot < QUIET_FROM and a.severity != Severity.INFO
    ]
    assert [a.family for a in gone if not a.follow_up] == ["absence"], [
        (a.kind, a.slot, a.follow_up) for a in gone
    ]


def _hourly_gas(litres_per_minute: np.ndarray) -> np.ndarray:
    """(slots,) m³ per half hour of gas burnt at `litres_per_minute` (one value a minute) as a
    meter read every hour with a register of 10 litres a step shows it: each hour's reading
    split evenly over its two half hours."""
    register = np.floor(np.cumsum(litres_per_minute) / 10) * 10
    hourly = np.diff(register[59::60], prepend=0.0) / 1000
    return np.repeat(hourly / 2, 2)


@pytest.mark.parametrize("flame_time", [True, False])
def test_an_hourly_gas_meter_tells_a_stove_left_on_from_a_long_meal(flame_time: bool) -> None:
    """A meal every day from 10:40 to 12:20 (a boil, a simmer, a fry) touches three hourly
    readings, six half hours: the 3-hour rule's length, but 2.3 hours at the fullest reading's
    rate. A stove left on at one flame for 3.5 hours is caught before the reading after it;
    the meals are not (off, as before, every meal is a stove left on)."""
    rng = np.random.default_rng(50)
    slots = DAYS * DAY
    readings = person(slots, rng, gas=False)
    readings[:, ELECTRICITY] += 0.01
    minutes = np.zeros(slots * 30)
    for day in range(DAYS):
        base = day * 24 * 60
        minutes[base + 640 : base + 660] = 3.0
        minutes[base + 660 : base + 720] = 1.5
        minutes[base + 720 : base + 740] = 3.0
    stove_from = (29 * 24 + 17) * 60 + 20
    minutes[stove_from : stove_from + 210] += 2.0
    readings[:, GAS] = _hourly_gas(minutes)
    detector = WellbeingDetector(
        np.array([[True, True, True]]), Rules(stove_hourly_needs_flame_time=flame_time)
    )
    alerts: list[Alert] = []
    for start in range(0, slots, DAY):
        alerts += detector.process(readings[None, start : start + DAY], start)
    stove = [a for a in alerts if a.kind == Kind.GAS_LONG_FLOW]
    meals = [a for a in stove if a.slot < stove_from // 30]
    left_on = [a for a in stove if stove_from // 30 <= a.slot]
    if flame_time:
        assert meals == [], [(a.slot // DAY, a.slot % DAY) for a in meals]
        assert len(left_on) == 1
        # By the reading of the hour in which it was turned off (20:50): 21:00.
        assert left_on[0].slot <= 29 * DAY + 41
    else:
        assert len(meals) > 5
