"""What real homes do and the rules now learn from each household: its own longest run of water
draws in a day, its own early mornings, who lit the gas, what the nights draw by themselves (a
purifier's flush), and (an option) its own long quiet spells."""

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


def _routine(days: int, *, wake: float = 6.0, supper_water: float = 18.0) -> np.ndarray:
    """(slots, 3) of one person's ordinary days: a wash with the lights on on getting up and the
    kettle after it, water at lunch and after supper, a fridge's standby and nothing at night."""
    use = np.zeros((days * DAY, 3))
    use[:, ELECTRICITY] = 0.02
    for day in range(days):
        use[_at(day, wake), WATER] = 0.02
        use[_at(day, wake + 0.5), WATER] = 0.005
        use[_at(day, wake) : _at(day, wake + 1), ELECTRICITY] = 0.12
        use[_at(day, 12.0), WATER] = 0.008
        use[_at(day, supper_water), WATER] = 0.01
    return use


def _run(use: np.ndarray, rules: Rules | None = None, *, meters=(True, True, False)) -> list[Alert]:
    detector = WellbeingDetector(np.array([meters]), rules)
    return detector.process(use[None], 0)


def _kinds(alerts: list[Alert], kind: str, after: int = 0) -> list[Alert]:
    return [a for a in alerts if a.kind == kind and a.slot >= after and not a.follow_up]


def test_a_run_of_draws_no_longer_than_the_households_own_days_is_not_a_leak() -> None:
    days = 28
    use = _routine(days + 2)
    # On the last day, water in every half hour from 08:00 to 17:00, through hours this
    # household never draws: improbable hour by hour, so a leak for a household whose days
    # never run so long ...
    use[_at(days, 8.0) : _at(days, 17.0), WATER] = 0.004
    plain = _kinds(_run(use), Kind.CONTINUOUS_FLOW, after=_at(days, 0))
    assert len(plain) == 1
    # ... and its routine for one whose days at home draw water hour after hour like this.
    busy = use.copy()
    for day in range(days):
        busy[_at(day, 8.0) : _at(day, 16.0), WATER] = 0.004
    assert _kinds(_run(busy), Kind.CONTINUOUS_FLOW, after=_at(days, 0)) == []
    # Longer than its longest day by the margin, it is a leak again.
    busy[_at(days, 8.0) : _at(days + 1, 2.0), WATER] = 0.004
    assert len(_kinds(_run(busy), Kind.CONTINUOUS_FLOW, after=_at(days, 0))) == 1


def test_the_longest_run_is_learned_from_ordinary_days_but_not_from_a_leak() -> None:
    days = 25
    use = _routine(days)
    for day in range(days - 3):
        use[_at(day, 8.0) : _at(day, 13.0), WATER] = 0.004  # five hours of draws
    detector = WellbeingDetector(np.array([[True, True, False]]))
    detector.process(use[None, : _at(days - 3, 0)], 0)
    assert detector.state.water_longest[0] >= 5 * H
    learned = float(detector.state.water_longest[0])
    leak = use[_at(days - 3, 0) :].copy()
    leak[:, WATER] += 0.004  # a leak through the last three days
    alerts = detector.process(leak[None], _at(days - 3, 0))
    assert [a.kind for a in alerts if not a.follow_up].count(Kind.CONTINUOUS_FLOW) == 1
    assert detector.state.water_longest[0] <= learned


def test_a_flush_after_the_households_early_mornings_is_somebody_up_not_a_late_start() -> None:
    days = 30
    # Water last drawn at 21:30, so that no use (12 hours) does not speak before 09:30.
    use = _routine(days + 1, supper_water=21.5)
    morning = use[_at(days, 4.0) : _at(days, 14.0)]
    morning[:] = 0.0
    morning[:, ELECTRICITY] = 0.02
    late = _kinds(_run(use), Kind.NO_FIRST_USE, after=_at(days, 4.0))
    assert len(late) == 1  # nothing by 08:00 and later: a late start
    # A toilet flush at 07:30 on a meter too coarse to show a wash: somebody is up.
    use[_at(days, 7.5), WATER] = 0.006
    assert _kinds(_run(use), Kind.NO_FIRST_USE, after=_at(days, 4.0)) == []


def test_a_gas_run_nobody_lit_is_not_a_stove_left_on() -> None:
    use = _routine(3)
    use[:, GAS] = 0.0
    meters = (True, True, True)
    # A boiler's first winter night: gas from 23:00 for five hours, nobody up since supper.
    boiler = use.copy()
    boiler[_at(1, 23.0) : _at(2, 4.0), GAS] = 0.1
    assert _kinds(_run(boiler, meters=meters), Kind.GAS_LONG_FLOW) == []
    assert _kinds(_run(boiler, meters=meters), Kind.NIGHT_ACTIVITY) == []
    # The stove lit at supper (water drawn half an hour before) and left on: urgent.
    stove = use.copy()
    stove[_at(1, 18.5) : _at(1, 23.0), GAS] = 0.05
    alerts = _kinds(_run(stove, meters=meters), Kind.GAS_LONG_FLOW)
    assert [a.slot for a in alerts] == [_at(1, 18.5) + 3 * H - 1]


def test_what_the_nights_draw_by_themselves_is_no_sign_of_a_person() -> None:
    days = 10
    use = _routine(days + 2)
    purifier = np.arange(use.shape[0]) % (3 * H) == 1  # a litre every three hours
    use[purifier, WATER] += 0.001
    detector = WellbeingDetector(np.array([[True, True, False]]))
    detector.process(use[None, : _at(days, 9.0)], 0)
    assert abs(detector.state.auto_draw[0] - 0.001) < 1e-9
    # Nobody home from 09:00 (the purifier flushing on): one no-use alert at 21:00.
    quiet = use[_at(days, 9.0) :].copy()
    quiet[:, WATER] = np.where(purifier[_at(days, 9.0) :], 0.001, 0.0)
    quiet[:, ELECTRICITY] = 0.02
    alerts = _kinds(detector.process(quiet[None], _at(days, 9.0)), Kind.NO_USE)
    # (12 hours after the morning's last draw; the lunch's did not come.)
    assert [a.slot for a in alerts] == [_at(days, 6.5) + 12 * H]
    # Without the nights' lesson (until the next night teaches it again) the flushes would
    # have been taken for a person.
    fresh = WellbeingDetector(np.array([[True, True, False]]))
    fresh.process(use[None, : _at(days, 9.0)], 0)
    fresh.state.auto_draw[:] = np.nan
    alerts = _kinds(fresh.process(quiet[None], _at(days, 9.0)), Kind.NO_USE)
    assert [a for a in alerts if a.slot < _at(days + 1, 5.0)] == []


def test_no_use_may_wait_for_the_households_own_long_quiet_spells() -> None:
    days = 35
    # Supper's water at 17:00 and up at 06:30: 13.5 quiet hours every night.
    use = _routine(days, wake=6.5, supper_water=17.0)
    plain = _kinds(_run(use), Kind.NO_USE, after=_at(28, 0))
    assert len(plain) >= 5  # every morning at 05:00, before the alert is closed again
    patient = Rules(no_use_quiet_extra_hours=2.0)
    assert _kinds(_run(use, patient), Kind.NO_USE, after=_at(28, 0)) == []
    # A fall after supper on the last evening is still raised, within the extra two hours.
    fall = use.copy()
    fall[_at(days - 2, 17.5) :, WATER] = 0.0
    fall[_at(days - 2, 17.5) :, ELECTRICITY] = 0.02
    alerts = _kinds(_run(fall, patient), Kind.NO_USE, after=_at(days - 2, 17.5))
    assert len(alerts) == 1
    assert alerts[0].slot <= _at(days - 2, 17.0) + 14 * H


def test_a_gas_run_started_at_an_hour_the_household_is_rarely_up_is_not_a_stove() -> None:
    use = _routine(3)
    use[_at(1, 18.5) : _at(1, 23.0), GAS] = 0.05  # lit half an hour after water was drawn
    outcomes = {}
    for usual_up in (0.05, 0.5):
        detector = WellbeingDetector(np.array([[True, True, True]]))
        detector.process(use[None, : _at(1, 0)], 0)
        detector.state.p_active[:] = usual_up  # how often this household is up at each hour,
        detector.state.p_seen[:] = 1000  # learned over many weeks
        alerts = detector.process(use[None, _at(1, 0) :], _at(1, 0))
        outcomes[usual_up] = _kinds(alerts, Kind.GAS_LONG_FLOW)
    assert outcomes[0.05] == []
    assert len(outcomes[0.5]) == 1
