"""The rules learned from the household's own routine: a quiet spell improbable for this
household at this time of the week, activity at night where it is never active, no first use by
the usual hour, and a sudden change of level over several days. They stay silent until
`Rules.learning_weeks` weeks of readings have been seen."""

from __future__ import annotations

import math

import numpy as np

from civichub.wellbeing.detection.features import FAMILY_COLUMN, Step, fire
from civichub.wellbeing.detection.grid import (
    DAY_START_SLOT,
    SLOTS_PER_HOUR,
    UNITS,
    UTILITIES,
    clock,
)
from civichub.wellbeing.detection.learning import Day
from civichub.wellbeing.detection.rules import Kind, Rules
from civichub.wellbeing.detection.state import DetectorState


def apply(s: DetectorState, r: Rules, step: Step) -> None:
    """Raises the learned rules' alerts for the half hour."""
    away, learned = step.away, step.learned
    observed, day_slot, slot_in_day = step.observed, step.day_slot, step.slot_in_day
    inactive = (
        learned & (s.quiet_log_p < math.log(r.inactivity_probability) * s.sensitivity) & ~away
    )
    fire(
        s,
        step,
        Kind.INACTIVITY,
        inactive,
        lambda rows: [
            {
                "quiet_h": s.quiet_run[i] / SLOTS_PER_HOUR,
                "odds": math.exp(-s.quiet_log_p[i]),
            }
            for i in rows
        ],
    )
    night_alert = learned & (s.night_run >= r.slots(r.night_min_hours))
    fire(
        s,
        step,
        Kind.NIGHT_ACTIVITY,
        night_alert,
        lambda rows: [
            {
                "hours": s.night_run[i] / SLOTS_PER_HOUR,
                "usual_pct": 100 * r.night_rare_probability,
            }
            for i in rows
        ],
    )
    deviation = np.sqrt(s.first_use_var)
    earliest_up = s.first_use_mean - np.maximum(2.0, 3.0 * deviation)
    s.morning_missing += ~observed & (day_slot >= earliest_up)
    # Later than this household got up on its last four weeks of mornings, by an hour,
    # beyond the grace and three deviations of its usual time: calibrated to its own spread.
    # (The second latest, so that one lie-in does not blunt the rule for four weeks.)
    latest = np.partition(s.mornings, -2, axis=1)[:, -2].astype(np.float64) - s.first_use_mean
    spread = s.sensitivity * np.maximum(
        np.maximum(r.first_use_grace_hours * SLOTS_PER_HOUR, 3.0 * deviation),
        latest + SLOTS_PER_HOUR,
    )
    seen = np.where(s.mornings >= 0, s.mornings, np.iinfo(np.int64).max)
    earliest_morning = np.partition(seen, 1, axis=1)[:, 1]
    late = (
        learned
        & (s.first_use_days >= 7)
        & (s.first_use_today < 0)
        & (day_slot > s.first_use_mean + spread)
        # Readings for this half hour and the one before, so that a morning lost in transit
        # is not taken for a late start.
        & observed
        & s.last_observed
        & (s.morning_missing <= 1)
        & ~s.away_today
        # Already alerted: nobody about since yesterday is one incident, not a second one.
        & ~s.incident_open[:, FAMILY_COLUMN["absence"]]
        # Signs of a person now: up, whatever the morning looked like.
        & ~step.person_around
        # No sign of a person since the household's own early mornings (the second earliest
        # of the last four weeks): a flush or a kettle after that hour, on a meter too coarse
        # to show a wash, is somebody up, not a late start.
        & (s.since_stir >= day_slot - earliest_morning)
    )
    fire(
        s,
        step,
        Kind.NO_FIRST_USE,
        late,
        lambda rows: [
            {
                "usual_first": clock(DAY_START_SLOT + s.first_use_mean[i]),
                "now": clock(slot_in_day + 1),
            }
            for i in rows
        ],
    )


def level_change(s: DetectorState, r: Rules, day: Day, step: Step) -> None:
    """At the end of a calendar day: daily use of a utility well beyond or below this
    household's usual level, for several days or by a large factor."""
    full, deviation, away = day.full, day.deviation, step.away
    established = s.usual_days >= 14
    # Beyond the ratio and beyond this household's own day-to-day spread (gas for one to
    # three meals a day varies far more than electricity).
    limit = np.maximum(math.log(r.level_change_ratio), 2.5 * np.sqrt(s.usual_log_var))
    up = full & established & (deviation > limit)
    down = full & established & (deviation < -limit) & ~away[:, None]
    s.level_run = np.where(
        up,
        np.maximum(s.level_run, 0) + 1,
        np.where(down, np.minimum(s.level_run, 0) - 1, np.where(full, 0, s.level_run)),
    )
    # A large change need not wait the days out: one-sided cumulative sums of the deviation
    # beyond three quarters of the limit reach one and a half limits in two days for a
    # tripling or a quartering. Each day counts at most two limits, so that one odd day (no
    # cooking at all) is never enough.
    counted = full & established
    slack = 0.75 * limit
    capped = np.clip(deviation, -2 * limit, 2 * limit)
    s.level_up = np.where(counted, np.maximum(0.0, s.level_up + capped - slack), s.level_up)
    s.level_down = np.where(
        counted & ~away[:, None],
        np.maximum(0.0, s.level_down - capped - slack),
        s.level_down,
    )
    building = (s.level_up > 0) | (s.level_down > 0)
    s.level_days = np.where(counted, np.where(building, s.level_days + 1, 0), s.level_days)
    changed = (
        (np.abs(s.level_run) >= r.level_change_days)
        | (s.level_up >= 1.5 * limit)
        | (s.level_down >= 1.5 * limit)
    )
    fire(
        s,
        step,
        Kind.LEVEL_CHANGE,
        changed.any(axis=1),
        lambda rows: [
            {
                "utility": UTILITIES[u],
                "ratio": math.exp(deviation[i, u]),
                "days": int(max(abs(s.level_run[i, u]), s.level_days[i, u])),
                "recent": day.total[i, u],
                "unit": UNITS[u],
                "usual": math.exp(day.usual[i, u]),
            }
            for i in rows
            for u in [int(np.argmax(changed[i]))]
        ],
    )
