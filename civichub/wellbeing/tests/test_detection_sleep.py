"""What real homes show the no-use rule: a cistern's trickle on a coarse hourly register that
adds up to more than the rule's ten litres with nobody drawing any, and people who sleep long."""

from __future__ import annotations

import numpy as np
import pytest

from civichub.wellbeing.detection import (
    ELECTRICITY,
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


def _routine(days: int, *, wake: float = 6.0, bed: float = 21.5) -> np.ndarray:
    """(slots, 3) of one person's ordinary days, in litres for water: a wash with the lights on
    on getting up, water at lunch and supper, the toilet and a wash before bed."""
    use = np.zeros((days * DAY, 3))
    use[:, ELECTRICITY] = 0.02
    for day in range(days):
        use[_at(day, wake), WATER] = 20.0
        use[_at(day, wake) : _at(day, wake + 1), ELECTRICITY] = 0.12
        use[_at(day, 12.0), WATER] = 8.0
        use[_at(day, 18.0), WATER] = 10.0
        use[_at(day, bed), WATER] = 9.0
    return use


def _hourly_register(litres: np.ndarray, step: float = 10.0) -> np.ndarray:
    """Half-hourly litres as an hourly meter with a register of `step` litres sends them, in
    m³: the hourly difference of the floored register, split over its two half hours."""
    register = np.floor(np.concatenate([[3.0], 3.0 + np.cumsum(litres)]) / step) * step
    hourly = register[2::2] - register[:-2:2]
    return np.repeat(hourly / 2, 2) / 1000


def _run(use: np.ndarray, rules: Rules | None = None) -> list[Alert]:
    detector = WellbeingDetector(np.array([[True, True, False]]), rules)
    return detector.process(use[None], 0)


def _no_use(alerts: list[Alert], after: int) -> list[Alert]:
    return [a for a in alerts if a.kind == Kind.NO_USE and a.slot >= after and not a.follow_up]


def test_a_trickle_on_a_coarse_register_is_not_water_used_by_a_person() -> None:
    days = 24
    use = _routine(days)
    fall = _at(days - 2, 12.5)  # after lunch's water, nobody draws any more
    use[fall:, WATER] = 0.0
    use[fall:, ELECTRICITY] = 0.02
    use[:, WATER] += 2.9  # a cistern leaking 2.9 litres every half hour, day and night
    use[:, WATER] = _hourly_register(use[:, WATER])
    alerts = _no_use(_run(use), after=fall)
    # 34.8 litres in 12 hours, all of it the trickle the nights show: no use, within the
    # window and one reading interval.
    assert len(alerts) == 1
    assert alerts[0].slot < _at(days - 2, 12.0) + 13 * H
    # Counting all the window's water less the trickle the nights show (as before), the
    # register's steps add up to more than ten litres: nothing within the window.
    before = _run(use, Rules(no_use_counts_automatic_water=True))
    assert [a for a in _no_use(before, after=fall) if a.slot < _at(days - 2, 12.0) + 13 * H] == []


# The wait on its own, whatever the lights did (see `Rules.no_use_sleep_needs_lights_out`).
SLEEPY = Rules(no_use_sleep_extra_hours=3.0, no_use_sleep_needs_lights_out=False)


def test_a_long_sleeper_asleep_in_the_households_own_night_is_not_an_absence() -> None:
    days = 35
    # The toilet and a wash at 20:30, up at 09:00: twelve and a half quiet hours every night.
    use = _routine(days, wake=9.0, bed=20.5)
    use[:, WATER] /= 1000
    plain = _no_use(_run(use, Rules(no_use_sleep_extra_hours=0.0)), after=_at(28, 0))
    assert len(plain) >= 5  # every morning at 08:30
    assert _no_use(_run(use, SLEEPY), after=_at(28, 0)) == []


def test_a_quiet_spell_that_began_before_the_households_bedtime_does_not_wait() -> None:
    days = 35
    use = _routine(days, wake=9.0, bed=20.5)
    use[:, WATER] /= 1000
    # A fall after supper's water at 18:00 on the last evening but one: no use at 06:00.
    fall = _at(days - 2, 18.5)
    use[fall:, WATER] = 0.0
    use[fall:, ELECTRICITY] = 0.02
    alerts = _no_use(_run(use, SLEEPY), after=fall)
    assert [a.slot for a in alerts] == [_at(days - 2, 18.0) + 12 * H]


def test_somebody_who_does_not_get_up_is_raised_after_the_households_late_mornings() -> None:
    days = 35
    use = _routine(days, wake=9.0, bed=20.5)
    use[:, WATER] /= 1000
    # Asleep after the routine on the last evening but one, and nothing the next morning.
    night = _at(days - 2, 21.0)
    use[night:, WATER] = 0.0
    use[night:, ELECTRICITY] = 0.02
    alerts = _no_use(_run(use, SLEEPY), after=night)
    assert len(alerts) == 1
    # After its own late rising (09:00, as every day) and the hour's margin, and within the
    # window and the extra hours.
    assert _at(days - 1, 10.0) <= alerts[0].slot <= _at(days - 1, 10.5)


def _evenings_with_the_television(days: int) -> np.ndarray:
    """(slots, 3) of one person's days, water in m³: a wash with the lights on at 08:00,
    water at lunch and supper, the television from 19:00 until it is switched off at 23:00,
    no water after supper and no wash before bed."""
    use = np.zeros((days * DAY, 3))
    use[:, ELECTRICITY] = 0.02
    for day in range(days):
        use[_at(day, 8.0), WATER] = 0.012
        use[_at(day, 8.5), WATER] = 0.010
        use[_at(day, 8.0) : _at(day, 9.0), ELECTRICITY] = 0.12
        use[_at(day, 12.0), WATER] = 0.008
        use[_at(day, 18.0), WATER] = 0.010
        use[_at(day, 19.0) : _at(day, 23.0), ELECTRICITY] = 0.08
    return use


LIGHTS_OUT = Rules(no_use_lights_out_is_stir=True)


def test_the_television_switched_off_at_bedtime_is_somebody_going_to_bed() -> None:
    days = 35
    use = _evenings_with_the_television(days)
    # Twelve hours after supper's water (06:00) the person is asleep since 23:00.
    assert _no_use(_run(use, LIGHTS_OUT), after=_at(28, 0)) == []
    # Counting only switching on (the default), every morning at 06:00 is twelve quiet hours;
    # the sleep wait with the lights-out sign waits for the household's late rising.
    assert len(_no_use(_run(use), after=_at(28, 0))) >= 5
    bedtime = Rules(no_use_sleep_extra_hours=3.0)
    assert _no_use(_run(use, bedtime), after=_at(28, 0)) == []


def test_a_fall_with_the_television_left_on_is_raised_within_the_window() -> None:
    days = 35
    use = _evenings_with_the_television(days)
    # A fall at 19:30 on the last evening but one: the television is never switched off.
    fall = _at(days - 2, 19.5)
    use[fall:, WATER] = 0.0
    use[fall:, ELECTRICITY] = 0.08
    alerts = _no_use(_run(use, LIGHTS_OUT), after=_at(days - 2, 18.0))
    assert [a.slot for a in alerts] == [_at(days - 2, 18.0) + 12 * H]
