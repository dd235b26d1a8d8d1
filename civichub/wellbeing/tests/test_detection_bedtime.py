"""Two options, off by default (see `Rules`): with the sleep wait and its lights-out sign, a long
night after the lights were switched off at bedtime is somebody asleep, not no use, and an
evening fall with the lamp left on is still raised within the rule's window; learned from most
nights, a purifier that flushes in the night hours on most nights, not on every one, is what runs
by itself."""

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
BEFORE = Rules(no_use_sleep_extra_hours=0.0, no_use_sleep_needs_lights_out=False)
# The options (off by default, see `Rules`): the sleep wait with the lights-out sign, and the
# purifier learned from most nights.
BEDTIME = Rules(no_use_sleep_extra_hours=3.0)
PURIFIER = Rules(automatic_draw_most_nights=True)


def _at(day: int, hour: float) -> int:
    return day * DAY + round(hour * H)


def _long_sleeper(days: int) -> np.ndarray:
    """(slots, 3): up at 08:30 (a wash, the kettle), water at lunch and at supper (19:00), the
    lamp and the television on from supper until 20:30, then the lights off and nothing until
    the morning: 13.5 hours without a sign of anybody every night."""
    use = np.zeros((days * DAY, 3))
    use[:, ELECTRICITY] = 0.02
    for day in range(days):
        use[_at(day, 8.5), WATER] = 0.02
        use[_at(day, 9.0), WATER] = 0.005
        use[_at(day, 8.5) : _at(day, 9.5), ELECTRICITY] = 0.12
        use[_at(day, 12.0), WATER] = 0.008
        use[_at(day, 19.0), WATER] = 0.01
        use[_at(day, 19.0) : _at(day, 20.5), ELECTRICITY] = 0.12
    return use


def _no_use(use: np.ndarray, rules: Rules | None = None, after: int = 0) -> list[int]:
    detector = WellbeingDetector(np.array([[True, True, False]]), rules)
    alerts: list[Alert] = detector.process(use[None], 0)
    return [a.slot for a in alerts if a.kind == Kind.NO_USE and a.slot >= after]


def test_a_long_night_after_the_lights_go_out_is_sleep_not_no_use() -> None:
    days = 35
    use = _long_sleeper(days)
    # Once the household's bedtime and late rising are learned (four weeks), its long nights
    # raise nothing.
    assert _no_use(use, BEDTIME, after=_at(29, 0)) == []
    # Before, every morning at 07:00, twelve hours after supper's water.
    assert len(_no_use(use, BEFORE, after=_at(29, 0))) >= 5


def test_an_evening_fall_with_the_lamp_left_on_is_still_no_use_within_the_window() -> None:
    days = 35
    use = _long_sleeper(days + 2)
    # On the last evening the resident falls after supper's water, the lamp left on.
    fall = _at(days, 19.5)
    use[fall:, WATER] = 0.0
    use[fall:, ELECTRICITY] = 0.12
    assert _no_use(use, BEDTIME, after=fall) == [_at(days, 19.0) + 12 * H]
    # The same without the lights-out sign (the wait on its own) also raises it: the spell
    # began before the household's bedtime.
    assert _no_use(use, BEFORE, after=fall) == [_at(days, 19.0) + 12 * H]


def _purified(days: int) -> tuple[np.ndarray, np.ndarray]:
    """(slots, 3) of a household whose purifier flushes a litre every seven hours: in the night
    hours 00:00-05:00 on five nights in seven."""
    use = np.zeros((days * DAY, 3))
    use[:, ELECTRICITY] = 0.02
    for day in range(days):
        use[_at(day, 6.0), WATER] = 0.02
        use[_at(day, 6.5), WATER] = 0.005
        use[_at(day, 6.0) : _at(day, 7.0), ELECTRICITY] = 0.12
        use[_at(day, 12.0), WATER] = 0.008
        use[_at(day, 18.0), WATER] = 0.01
    purifier = np.arange(use.shape[0]) % (7 * H) == 1
    use[purifier, WATER] += 0.001
    return use, purifier


def test_a_purifier_flushing_on_most_nights_is_no_sign_of_a_person() -> None:
    days = 10
    use, purifier = _purified(days + 2)
    # Nobody home from 09:00 on the eleventh day (the purifier flushing on).
    quiet = use.copy()
    quiet[_at(days, 9.0) :, WATER] = np.where(purifier[_at(days, 9.0) :], 0.001, 0.0)
    quiet[_at(days, 9.0) :, ELECTRICITY] = 0.02
    detector = WellbeingDetector(np.array([[True, True, False]]), PURIFIER)
    detector.process(quiet[None, : _at(days, 9.0)], 0)
    assert abs(detector.state.auto_draw[0] - 0.001) < 1e-9
    after = _at(days, 9.0)
    assert _no_use(quiet, PURIFIER, after=after) == [_at(days, 6.5) + 12 * H]
    # By default the two nights without a flush teach nothing, and each flush is a person.
    assert [s for s in _no_use(quiet, after=after) if s < _at(days + 1, 5.0)] == []
