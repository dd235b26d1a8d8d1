"""Signs of a person that are not one: a toilet visit in the small hours does not make a boiler's
gas a stove somebody lit, and one appliance switched on part of the way through a reading (a
heater left on as its user fell) is one switch, not somebody about."""

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
    WellbeingDetector,
)

pytestmark = pytest.mark.once  # the same on any database: the SQLite run runs it

DAY = SLOTS_PER_DAY
H = SLOTS_PER_HOUR


def _at(day: int, hour: float) -> int:
    return day * DAY + round(hour * H)


def _routine(days: int) -> np.ndarray:
    """(slots, 3) of one person's ordinary days: a wash with the lights on at 06:00, water at
    lunch and after supper, a fridge's standby, no gas and nothing at night."""
    use = np.zeros((days * DAY, 3))
    use[:, ELECTRICITY] = 0.02
    for day in range(days):
        use[_at(day, 6.0), WATER] = 0.02
        use[_at(day, 6.5), WATER] = 0.005
        use[_at(day, 6.0) : _at(day, 7.0), ELECTRICITY] = 0.12
        use[_at(day, 12.0), WATER] = 0.008
        use[_at(day, 18.0), WATER] = 0.01
    return use


def _alerts(use: np.ndarray, rules: Rules | None = None) -> list[Alert]:
    detector = WellbeingDetector(np.array([[True, True, True]]), rules)
    return detector.process(use[None], 0)


def _kind(alerts: list[Alert], kind: str, after: int = 0) -> list[int]:
    return [a.slot for a in alerts if a.kind == kind and a.slot >= after]


def test_gas_lit_in_the_small_hours_after_a_toilet_visit_is_no_stove() -> None:
    use = _routine(3)
    # A boiler's first cold night: gas from 01:00 for four hours; the only sign of anybody is
    # a flush at 00:30 on the way back to bed (within the four hours a stove may be lit in).
    use[_at(2, 0.5), WATER] = 0.008
    boiler = use.copy()
    boiler[_at(2, 1.0) : _at(2, 5.0), GAS] = 0.1
    assert _kind(_alerts(boiler), Kind.GAS_LONG_FLOW) == []
    # Before, the flush was taken for somebody lighting the stove.
    before = Rules(night_stove_needs_someone_up=False)
    assert len(_kind(_alerts(boiler, before), Kind.GAS_LONG_FLOW)) == 1
    # Somebody up at 01:00 (a light switched on) who lights the stove and leaves it: urgent.
    stove = boiler.copy()
    stove[_at(2, 1.0) : _at(2, 6.0), ELECTRICITY] = 0.07
    assert _kind(_alerts(stove), Kind.GAS_LONG_FLOW) == [_at(2, 1.0) + 3 * H - 1]


def test_a_heater_switched_on_over_two_readings_does_not_hold_no_use_back() -> None:
    days = 28
    use = _routine(days + 2)
    # On the day after four weeks, after lunch's water at 12:00, a 2 kW heater is switched on
    # at 12:45 and its user falls: the meter shows it rising over two readings, then steady.
    fall = _at(days, 12.5)
    use[fall:, WATER] = 0.0
    use[fall:, ELECTRICITY] = 0.02 + 2.0 / 2
    use[fall, ELECTRICITY] = 0.02 + 2.0 / 2 * 0.5
    # No use twelve hours after the last water, at the end of the half hour at 00:00.
    assert _kind(_alerts(use), Kind.NO_USE, after=fall) == [_at(days, 12.0) + 12 * H]
    # Before, the two rising readings were taken for somebody about, an hour later.
    before = Rules(electricity_ramp_is_one_switch=False)
    assert _kind(_alerts(use, before), Kind.NO_USE, after=fall) == [_at(days, 13.0) + 12 * H]


def _hourly_days(days: int, rng: np.random.Generator) -> np.ndarray:
    """(slots, 3): a wash at 06:00, then water in about half of the hours from 08:00 to 20:00,
    on an hourly meter (each hour's reading split evenly over its two half hours)."""
    use = np.zeros((days * DAY, 3))
    use[:, ELECTRICITY] = 0.02
    for day in range(days):
        use[_at(day, 6.0) : _at(day, 7.0), WATER] = 0.01
        use[_at(day, 6.0) : _at(day, 7.0), ELECTRICITY] = 0.12
        for hour in range(8, 20):
            if rng.random() < 0.5:
                use[_at(day, hour) : _at(day, hour + 1), WATER] = 0.004
    return use


def test_a_busy_day_on_an_hourly_water_meter_is_no_leak_but_a_leak_still_is() -> None:
    days = 28
    use = _hourly_days(days + 2, np.random.default_rng(3))
    # Visitors: water in every hour from 08:00 to 20:00.
    busy = use.copy()
    busy[_at(days, 8.0) : _at(days, 20.0), WATER] = 0.004
    assert _kind(_alerts(busy), Kind.CONTINUOUS_FLOW, after=_at(days, 0)) == []
    # Before, each hour's reading counted twice, and twelve ordinary hours made a leak.
    before = Rules(flow_counts_a_split_reading_once=False)
    assert len(_kind(_alerts(busy, before), Kind.CONTINUOUS_FLOW, after=_at(days, 0))) == 1
    # The same water going on through the night, at hours the household never draws: a leak,
    # raised by the household's own routine hours before the fixed rule's 24.
    leak = busy.copy()
    leak[_at(days, 20.0) : _at(days + 1, 12.0), WATER] = 0.004
    alerts = _kind(_alerts(leak), Kind.CONTINUOUS_FLOW, after=_at(days, 0))
    assert len(alerts) == 1
    assert alerts[0] < _at(days, 8.0) + 24 * H - 1
