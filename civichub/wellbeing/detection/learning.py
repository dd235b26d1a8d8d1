"""Learning the household's routine, not while away (so that a trip does not become the
routine): the chance of activity and of a water draw in each hour of the week every half hour;
the usual first use at the end of each activity day; the electricity standby, the usual daily
use of each utility and the longest cooking at the end of each calendar day. Exponentially
weighted, so that the routine follows a changed life within a few weeks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from civichub.wellbeing.detection.features import Step
from civichub.wellbeing.detection.grid import (
    ELECTRICITY,
    SLOTS_PER_DAY,
    SLOTS_PER_HOUR,
    WATER,
    Bool,
    Float,
)
from civichub.wellbeing.detection.rules import Rules
from civichub.wellbeing.detection.state import DetectorState


@dataclass(frozen=True)
class Rates:
    """How fast the routine is learned: the weight of one new observation of an hour of the
    week, of a day, and of a day's electricity standby."""

    week: float
    day: float
    standby: float

    @classmethod
    def of(cls, rules: Rules) -> Rates:
        return cls(
            # Each hour-of-week bin is seen twice a week.
            week=1.0 - 0.5 ** (1.0 / (2 * rules.half_life_weeks)),
            day=1.0 - 0.5 ** (1.0 / (7 * rules.half_life_weeks)),
            # The standby is a property of the appliances (a new fridge, a heater for the
            # winter) and follows them within days, not weeks.
            standby=1.0 - 0.5 ** (1.0 / rules.standby_half_life_days),
        )


@dataclass(frozen=True)
class Day:
    """A calendar day's figures, per household and utility, for the level rule and learning."""

    full: Bool  # nine in ten of the day's readings came
    total: Float  # the day's use, scaled up for the readings that did not come
    usual: Float  # the usual log daily use before this day
    deviation: Float  # log of the day's use against the usual


def learn(s: DetectorState, step: Step, alpha_week: float) -> None:
    """The half hour's lesson: activity and water draws in this hour of the week, and the
    running figures of the day."""
    hour_of_week, present, x0, away = step.hour_of_week, step.present, step.x0, step.away
    learn = step.observed & ~away
    # A plain mean over the first weeks, then exponential forgetting.
    seen = s.p_seen[:, hour_of_week].copy()
    a = np.maximum(alpha_week, 1.0 / (seen + 1))
    # Each hour of the week is a column of the (H, 168) routine, a strided read: it is read
    # once into a contiguous copy, and written back only where there is something to learn.
    p_active = s.p_active[:, hour_of_week].copy()
    np.copyto(s.p_active[:, hour_of_week], p_active + a * (step.activity - p_active), where=learn)
    learn_water = present[:, WATER] & ~away
    p_water = s.p_water[:, hour_of_week].copy()
    np.copyto(
        s.p_water[:, hour_of_week], p_water + a * (step.water_use - p_water), where=learn_water
    )
    s.p_seen[:, hour_of_week] = seen + learn
    s.last_observed = step.observed
    s.learned_slots += learn
    s.day_min_elec = np.where(
        present[:, ELECTRICITY], np.minimum(s.day_min_elec, x0[:, ELECTRICITY]), s.day_min_elec
    )
    s.day_total += x0
    s.day_count += present


def end_of_activity_day(s: DetectorState, alpha_day: float) -> None:
    """The usual time of the first use, from the activity day that ends."""
    away = s.away_today
    # Until the standby is known, lights and appliances cannot be told from it, so a first
    # use seen then is not learned.
    known = ~np.isnan(s.standby) | ~s.meters[:, ELECTRICITY]
    seen = (s.first_use_today >= 0) & ~away & known
    first = s.first_use_today.astype(np.float64)
    warm = s.first_use_days == 0
    # A plain mean over the first week, then exponential forgetting. Clipped once the
    # routine is known, so that one unusual morning (a lie-in, a night up) moves it a little
    # and does not widen the band for weeks.
    a = np.maximum(alpha_day, 1.0 / (s.first_use_days + 1))
    raw = first - s.first_use_mean
    clipped = np.clip(raw, -2.0 * SLOTS_PER_HOUR, 2.0 * SLOTS_PER_HOUR)
    delta = np.where(s.first_use_days >= 7, clipped, raw)
    mean = np.where(warm, first, s.first_use_mean + a * delta)
    var = np.where(warm, 4.0, (1 - a) * (s.first_use_var + a * delta * delta))
    s.first_use_mean = np.where(seen, mean, s.first_use_mean)
    s.first_use_var = np.where(seen, var, s.first_use_var)
    s.first_use_days += seen


def day_figures(s: DetectorState, alpha_standby: float) -> Day:
    """The calendar day that ends: its standby is learned, and its use measured against the
    usual."""
    # A day counts when nine in ten of its readings came; its total is scaled up for the
    # rest (a reading or an hour lost in transit does not hide a change for a day).
    full = s.day_count >= 0.9 * SLOTS_PER_DAY
    minimum = np.where(np.isfinite(s.day_min_elec), s.day_min_elec, np.nan)
    # A meter stuck at zero is a fault, not a lower standby.
    has_min = full[:, ELECTRICITY] & ~np.isnan(minimum) & (minimum > 0)
    s.standby = np.where(
        has_min,
        np.where(
            np.isnan(s.standby),
            minimum,
            s.standby + alpha_standby * (minimum - s.standby),
        ),
        s.standby,
    )
    total = s.day_total * SLOTS_PER_DAY / np.maximum(s.day_count, 1)
    log_total = np.log(np.maximum(total, 1e-3))
    usual = s.usual_log_daily
    return Day(full=full, total=total, usual=usual, deviation=log_total - usual)


def learn_day(s: DetectorState, r: Rules, day: Day, alpha_day: float, away: Bool) -> None:
    """The usual daily use and the longest cooking learned from the day that ends, and the
    day's running figures started again."""
    learn = day.full & ~away[:, None]
    deviation = day.deviation
    # A plain mean over the first weeks, then exponential forgetting.
    a = np.maximum(alpha_day, 1.0 / (s.usual_days + 1))
    s.usual_log_daily = np.where(learn, day.usual + a * deviation, day.usual)
    s.usual_log_var = np.where(
        learn & (s.usual_days > 0),
        (1 - a) * (s.usual_log_var + a * deviation * deviation),
        s.usual_log_var,
    )
    s.usual_days += learn
    # Longest cooking of the day; a run that reached the fixed rule was an incident, not
    # cooking, and is not learned.
    cooked = np.where(
        s.gas_day_longest < r.slots(r.gas_max_flow_hours), s.gas_day_longest, 0
    ).astype(np.float64)
    s.gas_longest = np.where(
        ~away,
        np.maximum(cooked, s.gas_longest + alpha_day * (cooked - s.gas_longest)),
        s.gas_longest,
    )
    s.gas_day_longest[:] = 0
    s.day_total[:] = 0.0
    s.day_count[:] = 0
    s.day_min_elec[:] = np.inf
