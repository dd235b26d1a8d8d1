"""Learning the household's routine, not while away (so that a trip does not become the
routine): the chance of activity and of a water draw in each hour of the week every half hour;
the usual first use at the end of each activity day; the electricity standby, the usual daily
use of each utility and the longest cooking at the end of each calendar day. Exponentially
weighted, so that the routine follows a changed life within a few weeks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from civichub.wellbeing.detection.features import Step, spell_start
from civichub.wellbeing.detection.grid import (
    ELECTRICITY,
    SLOTS_PER_DAY,
    SLOTS_PER_HOUR,
    SLOTS_PER_WEEK,
    WATER,
    Bool,
    Float,
)
from civichub.wellbeing.detection.rules import Rules
from civichub.wellbeing.detection.state import MORNINGS, NIGHTS, DetectorState


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
    rows = np.arange(s.mornings.shape[0])
    s.mornings[rows, s.mornings_at % MORNINGS] = np.where(seen, s.first_use_today, -1)
    s.mornings_at += 1
    s.first_use_mean = np.where(seen, mean, s.first_use_mean)
    s.first_use_var = np.where(seen, var, s.first_use_var)
    s.first_use_days += seen
    # The household's late mornings: the second latest first use of the last four weeks.
    late = np.partition(s.mornings, -2, axis=1)[:, -2]
    s.rising_late = np.where((s.mornings >= 0).sum(axis=1) >= 7, late, -1)


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


def learn_day(
    s: DetectorState, r: Rules, day: Day, alpha_day: float, away: Bool, slot: int
) -> None:
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
    # The day's longest quiet spell joins the last days' (not a day away: the clock stood),
    # and the household's own long quiet spell is the second longest of them.
    today = np.where(away, -1, s.quiet_today)
    s.quiet_days = np.concatenate([s.quiet_days[:, 1:], today[:, None]], axis=1)
    s.quiet_usual = np.partition(s.quiet_days, -2, axis=1)[:, -2]
    # When the day's longest spell began, where it was a night's (six hours or more).
    night = today >= 6 * SLOTS_PER_HOUR
    start = np.where(night, s.quiet_start_today, -1)
    s.quiet_starts = np.concatenate([s.quiet_starts[:, 1:], start[:, None]], axis=1)
    known = s.quiet_starts >= 0
    starts = np.sort(np.where(known, s.quiet_starts, SLOTS_PER_DAY), axis=1)
    s.bedtime_early = np.where(known.sum(axis=1) >= 7, starts[:, 1], -1)
    s.quiet_today = np.where(s.since_stir > 0, s.since_stir, 0)
    s.quiet_start_today = spell_start(slot, s.since_stir)
    # Likewise the longest run of water draws, but for a day that held a leak.
    ran = s.water_day_longest.astype(np.float64)
    s.water_longest = np.where(
        ~away & ~s.flow_today,
        np.maximum(ran, s.water_longest + alpha_day * (ran - s.water_longest)),
        s.water_longest,
    )
    s.water_day_longest[:] = 0
    s.flow_today[:] = False
    s.day_total[:] = 0.0
    s.day_count[:] = 0
    s.day_min_elec[:] = np.inf


def learn_automatic(s: DetectorState, r: Rules, step: Step) -> None:
    """What runs by itself, from the hours when nearly everybody sleeps (see `Rules`): this
    night's highest and least level and largest change per utility, and, when the night is
    over, the envelope of the last nights. Nights marked away count (nobody is home)."""
    hour = step.hour
    if r.automatic_start_hour <= hour < r.automatic_end_hour:
        present, x0 = step.present, step.x0
        s.night_hi = np.where(present, np.maximum(s.night_hi, x0), s.night_hi)
        s.night_lo = np.where(present, np.minimum(s.night_lo, x0), s.night_lo)
        change = np.zeros_like(x0)
        change[:, ELECTRICITY] = np.abs(step.elec_change)
        s.night_change = np.where(present, np.maximum(s.night_change, change), s.night_change)
        s.night_seen += present
        at = step.slot_in_day - r.automatic_start_hour * SLOTS_PER_HOUR
        if at < s.night_water.shape[1]:
            s.night_water[:, at] = np.where(present[:, WATER], x0[:, WATER], np.nan)
    elif step.slot_in_day == r.automatic_end_hour * SLOTS_PER_HOUR:
        _night_over(s, r)


def _night_over(s: DetectorState, r: Rules) -> None:
    """The night that ended joins the last nights (where half its readings came), and the
    automatic pattern is taken from them: the second highest level and change of the nights
    kept, or the last night's where it is higher (a boiler switched on for the winter is
    learned in a night); the median of their least levels."""
    hours = r.automatic_end_hour - r.automatic_start_hour
    counted = s.night_seen >= hours * SLOTS_PER_HOUR / 2
    at = s.nights_at % NIGHTS
    rows = np.arange(s.meters.shape[0])
    s.nights_hi[rows, at] = np.where(counted, s.night_hi, np.nan)
    s.nights_change[rows, at] = np.where(counted, s.night_change, np.nan)
    lows = np.where(counted, s.night_lo, np.nan)
    lows[:, WATER] = _trickle(s.night_water)
    seen = (~np.isnan(s.night_water)).sum(axis=1)
    largest = np.nanmax(np.where(seen[:, None] > 0, s.night_water, 0.0), axis=1)
    s.nights_draw[rows, at] = np.where(seen >= 4, largest, np.nan)
    ordered = np.sort(s.nights_draw, axis=1)  # NaN last
    kept = (~np.isnan(s.nights_draw)).sum(axis=1)
    # The second smallest (or the median, see `Rules.automatic_draw_most_nights`) where three
    # nights or more were kept.
    rank = (kept - 1) // 2 if r.automatic_draw_most_nights else np.ones_like(kept)
    chosen = np.take_along_axis(ordered, np.clip(rank, 0, NIGHTS - 1)[:, None], axis=1)[:, 0]
    s.auto_draw = np.where(kept >= 3, chosen, np.nan)
    s.nights_lo[rows, at] = lows
    s.nights_at += 1
    last_hi = np.where(counted, s.night_hi, -np.inf)
    last_change = np.where(counted, s.night_change, -np.inf)
    s.auto_hi = _envelope(s.nights_hi, last_hi)
    s.auto_change = _envelope(s.nights_change, last_change)
    lows = np.sort(np.where(np.isnan(s.nights_lo), np.inf, s.nights_lo), axis=1)
    kept = (~np.isnan(s.nights_lo)).sum(axis=1)  # (H, 3)
    middle = np.take_along_axis(lows, np.maximum(kept - 1, 0)[:, None, :] // 2, axis=1)[:, 0]
    s.auto_lo = np.where(kept > 0, middle, np.nan)
    s.night_hi[:] = -np.inf
    s.night_lo[:] = np.inf
    s.night_change[:] = -np.inf
    s.night_seen[:] = 0
    s.night_water[:] = np.nan


def _trickle(water: Float) -> Float:
    """(H, night half hours) -> (H,): the mean of all but the two largest readings, where at
    least four came (NaN elsewhere)."""
    seen = (~np.isnan(water)).sum(axis=1)
    ordered = np.sort(water, axis=1)  # NaN last
    kept = seen - 2
    totals = np.cumsum(np.nan_to_num(ordered), axis=1)
    index = np.clip(kept - 1, 0, water.shape[1] - 1)[:, None]
    total = np.take_along_axis(totals, index, axis=1)[:, 0]
    return np.where(seen >= 4, total / np.maximum(kept, 1), np.nan)


def _envelope(nights: Float, last: Float) -> Float:
    """(H, NIGHTS, 3) -> (H, 3): the second highest of the nights kept (the highest when only
    one is), or `last` where higher; NaN where no night is kept."""
    ordered = np.sort(np.where(np.isnan(nights), -np.inf, nights), axis=1)
    top, second = ordered[:, -1], ordered[:, -2]
    envelope = np.maximum(np.where(np.isfinite(second), second, top), last)
    return np.where(np.isfinite(envelope), envelope, np.nan)


def learn_weekly_draws(s: DetectorState, r: Rules, step: Step) -> None:
    """Whether the water drawn `automatic_weekly_isolation_hours` ago drew alone (see
    `Rules.automatic_weekly_draw`): in a run of draws with a half hour without either side
    within that long, and no other sign of a person nor a day away then. Its half hour of the
    week counts one week more where it drew about as much the week before, starts again
    where it did not, and is forgotten where water was drawn with a person about."""
    if not r.automatic_weekly_draw:
        return
    k = r.slots(r.automatic_weekly_isolation_hours)
    width = (1 << (2 * k + 1)) - 1
    mask = s.raw_water_bits & width
    lowest = mask & -mask
    run = mask // np.maximum(lowest, 1)
    drew = ((mask >> k) & 1) == 1
    alone = (
        drew
        & ((run & (run + 1)) == 0)  # one run of draws
        & ((mask & 1) == 0)
        & (((mask >> (2 * k)) & 1) == 0)
        & ((s.other_bits & width) == 0)
    )
    then = step.slot - k
    day_slot = then % SLOTS_PER_DAY
    known = s.ring_present[:, day_slot, WATER] & ((s.away_bits & width) == 0)
    # A week it drew with somebody about says nothing either way (the resident up early).
    known &= alone | ~drew
    week_slot = then % SLOTS_PER_WEEK
    volume = s.ring[:, day_slot, WATER].astype(np.float32)
    streak = s.weekly_streak[:, week_slot]
    lo, hi = s.weekly_lo[:, week_slot], s.weekly_hi[:, week_slot]
    band = r.automatic_weekly_band
    similar = alone & (streak > 0) & (volume >= lo / band) & (volume <= hi * band)
    length = np.bitwise_count(mask).astype(np.int8)
    length = np.where(similar, np.maximum(s.weekly_run[:, week_slot], length), length)
    s.weekly_streak[:, week_slot] = np.where(
        known, np.where(alone, np.where(similar, np.minimum(streak + 1, 100), 1), 0), streak
    )
    s.weekly_lo[:, week_slot] = np.where(
        known & alone, np.where(similar, np.fmin(lo, volume), volume), lo
    )
    s.weekly_hi[:, week_slot] = np.where(
        known & alone, np.where(similar, np.fmax(hi, volume), volume), hi
    )
    s.weekly_run[:, week_slot] = np.where(
        known, np.where(alone, length, 0), s.weekly_run[:, week_slot]
    )
