"""A washing machine on a timer (an option, off by default, see `Rules.automatic_weekly_draw`):
water that draws itself at the same half hour of the same weekdays, with nobody about, is no
sign of a person, so a fall is still raised within the rule's window; a person's laundry at the
same hour every week, with the lights and the kettle around it, is still a person."""

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
TIMERS = Rules(automatic_weekly_draw=True)
MONDAY, THURSDAY, SUNDAY = 0, 3, 6  # slot 0 is a Monday at 00:00
WEEKS = 5
FALL_DAY = 7 * (WEEKS - 1) + SUNDAY
SUPPER = 18.0


def _at(day: int, hour: float) -> int:
    return day * DAY + round(hour * H)


def _household(days: int, *, timer: bool, laundry: bool) -> np.ndarray:
    """(slots, 3): up at 08:00 (the lights, a wash, the kettle), water at lunch, supper at
    18:00 with the television until 21:00 and the toilet at bedtime. On Mondays and Thursdays
    a wash at 05:30 (two fills, the drum's motor): on a timer with nobody about, or as the
    resident's laundry with the lights on at 05:00 and the kettle at 06:00."""
    use = np.zeros((days * DAY, 3))
    use[:, ELECTRICITY] = 0.02
    for day in range(days):
        use[_at(day, 8.0), WATER] = 0.02
        use[_at(day, 8.0), ELECTRICITY] = 0.15
        use[_at(day, 9.0), ELECTRICITY] = 0.15
        use[_at(day, 9.0), WATER] = 0.004
        use[_at(day, 12.0), WATER] = 0.008
        use[_at(day, SUPPER), WATER] = 0.01
        use[_at(day, SUPPER) : _at(day, 21.0), ELECTRICITY] = 0.12
        use[_at(day, 21.0), WATER] = 0.007
        if day % 7 in (MONDAY, THURSDAY) and (timer or laundry):
            use[_at(day, 5.5), WATER] = 0.03
            use[_at(day, 6.0), WATER] = 0.015
            use[_at(day, 5.5) : _at(day, 6.5), ELECTRICITY] = 0.1
            if laundry:
                use[_at(day, 5.0), ELECTRICITY] = 0.15
                use[_at(day, 6.0), ELECTRICITY] = 0.25
    return use


def _fall(use: np.ndarray, *, machine_runs: bool) -> np.ndarray:
    """The resident falls on Sunday evening after supper's water; nothing until Thursday
    noon but standby (and Monday's and Thursday's washes, where `machine_runs`: their water
    and the drum's motor)."""
    fall = _at(FALL_DAY, SUPPER + 0.5)
    use = use.copy()
    washes = use[fall:, :].copy()
    use[fall:, WATER] = 0.0
    use[fall:, ELECTRICITY] = 0.02
    if machine_runs:
        for day in (FALL_DAY + 1, FALL_DAY + 4):
            for hour in (5.5, 6.0):
                if _at(day, hour) < len(use):
                    use[_at(day, hour), WATER] = washes[_at(day, hour) - fall, WATER]
                    use[_at(day, hour), ELECTRICITY] = 0.1  # the drum's motor
    return use


def _detect(use: np.ndarray, rules: Rules | None) -> tuple[WellbeingDetector, list[Alert]]:
    detector = WellbeingDetector(np.array([[True, True, False]]), rules)
    return detector, detector.process(use[None], 0)


def _no_use_after(alerts: list[Alert], slot: int) -> list[int]:
    return [a.slot for a in alerts if a.kind == Kind.NO_USE and a.slot >= slot]


def test_a_fall_before_a_timed_wash_is_raised_within_the_window() -> None:
    days = FALL_DAY + 5
    use = _fall(_household(days, timer=True, laundry=False), machine_runs=True)
    fall = _at(FALL_DAY, SUPPER + 0.5)
    due = _at(FALL_DAY, SUPPER) + 12 * H
    _, alerts = _detect(use, TIMERS)
    assert _no_use_after(alerts, fall)[:1] == [due]
    # Without the option, Monday's 05:30 fills count as somebody drawing water, and the fall
    # is raised twelve hours after them instead.
    _, before = _detect(use, Rules())
    assert _no_use_after(before, fall)[0] > due + 6 * H


def test_the_timer_is_learned_at_its_half_hour_of_the_week_only() -> None:
    days = 7 * WEEKS
    detector, _ = _detect(_household(days, timer=True, laundry=False), TIMERS)
    streak = detector.state.weekly_streak[0]
    monday, thursday = _at(MONDAY, 5.5), _at(THURSDAY, 5.5)
    assert streak[monday] >= TIMERS.automatic_weekly_weeks
    assert streak[thursday] >= TIMERS.automatic_weekly_weeks
    assert streak[monday + 1] >= TIMERS.automatic_weekly_weeks  # the second fill
    # The resident's morning wash comes with the lights and the kettle: never learned.
    assert streak[_at(MONDAY, 8.0)] == 0


def test_laundry_done_by_the_resident_at_the_same_hour_is_still_a_person() -> None:
    days = 7 * WEEKS + 1
    use = _household(days, timer=False, laundry=True)
    detector, _ = _detect(use[: (days - 1) * DAY], TIMERS)
    streak = detector.state.weekly_streak[0]
    for day in (MONDAY, THURSDAY):
        assert streak[_at(day, 5.5)] == streak[_at(day, 6.0)] == 0
    # Quiet from Sunday's supper, then on Monday only the laundry's water at 05:30 (the
    # lights left off): it is somebody, so no use is not raised at 06:00 but twelve hours
    # after the laundry's last water.
    quiet = _fall(use, machine_runs=True)
    _, alerts = _detect(quiet, TIMERS)
    after_laundry = _at(FALL_DAY + 1, 6.0) + 12 * H
    assert _no_use_after(alerts, _at(FALL_DAY, SUPPER + 0.5)) == [after_laundry]
