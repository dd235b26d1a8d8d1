"""The rules the deployment fixes (`Rules`): no use, high use, a tap left running or a leak, a
stove left on, a data gap, a meter fault. The leak and stove rules also have a learned half,
which speaks once the household's routine is known (longer than usual for this household)."""

from __future__ import annotations

import math

import numpy as np

from civichub.wellbeing.detection.features import (
    Step,
    fire,
    flame_slots,
    read_hourly,
    spell_start,
)
from civichub.wellbeing.detection.grid import (
    ELECTRICITY,
    GAS,
    SLOTS_PER_HOUR,
    UTILITIES,
    WATER,
    Bool,
)
from civichub.wellbeing.detection.rules import TOLERANCE, Kind, Rules
from civichub.wellbeing.detection.state import DetectorState


def apply(s: DetectorState, r: Rules, step: Step) -> None:
    """Raises the fixed rules' alerts for the half hour."""
    _use_rules(s, r, step)
    _meter_rules(s, r, step)


def _use_rules(s: DetectorState, r: Rules, step: Step) -> None:
    """No use, high use, water running without a break, gas left on."""
    meters, away, learned = s.meters, step.away, step.learned
    water_metered = meters[:, WATER]
    # The rolling sums cover 12 h and 24 h, the two windows deployments use.
    window_count = s.count12 if r.no_use_hours <= 12 else s.count24
    # Only what a person drew counts: what runs by itself (a cistern's trickle, a purifier's
    # flushes, learned from recent nights) is not use, however much it adds up to.
    used = s.person_water12 if r.no_use_hours <= 12 else s.person_water24
    if r.no_use_counts_automatic_water:
        window_sum = s.sum12 if r.no_use_hours <= 12 else s.sum24
        used = window_sum[:, WATER] - step.trickle * window_count[:, WATER]
    patience = r.slots(r.no_use_hours + r.no_use_quiet_extra_hours)
    # Asleep in the household's own night (see `Rules.no_use_sleep_extra_hours`), gone to
    # bed by switching the lights off where that is asked for.
    bed_sign = s.gone_to_bed if r.no_use_sleep_needs_lights_out else True
    began = spell_start(step.slot, s.since_stir)
    asleep = (
        (s.bedtime_early >= 0)
        & (s.rising_late >= 0)
        & (began >= s.bedtime_early - r.slots(r.no_use_bedtime_margin_hours))
        & (step.day_slot <= s.rising_late + r.slots(r.no_use_rising_margin_hours))
        & (s.since_stir < r.slots(r.no_use_hours + r.no_use_sleep_extra_hours))
        # ... and, where set, the spell began with the lights switched off at bedtime.
        & bed_sign
    )
    no_use = (
        water_metered
        & (window_count[:, WATER] >= r.no_use_coverage * r.slots(min(r.no_use_hours, 24)))
        & (used < r.no_use_water_m3 - TOLERANCE)
        & (s.since_water >= r.slots(r.no_use_hours))
        # Every meter must agree: gas used or electricity switched in the window means
        # someone was about, whatever the water meter says.
        & (s.since_stir >= r.slots(r.no_use_hours))
        # A household whose ordinary nights are this quiet waits for more (an option).
        & (s.since_stir >= np.minimum(s.quiet_usual + SLOTS_PER_HOUR, patience))
        & ~asleep
        & ~away
    )
    fire(
        s,
        step,
        Kind.NO_USE,
        no_use,
        lambda rows: [
            {
                "water_12h_l": max(0.0, 1000 * used[i]),
                "hours": r.no_use_hours,
                "limit_l": 1000 * r.no_use_water_m3,
                "since_use_h": s.since_water[i] / SLOTS_PER_HOUR,
            }
            for i in rows
        ],
    )
    high = water_metered & (s.sum24[:, WATER] > r.high_water_m3_per_day + TOLERANCE)
    fire(
        s,
        step,
        Kind.HIGH_USE,
        high,
        lambda rows: [
            {
                "water_24h_m3": s.sum24[i, WATER],
                "limit_m3": r.high_water_m3_per_day,
                "usual_m3": math.exp(s.usual_log_daily[i, WATER])
                if s.usual_days[i, WATER]
                else 0.0,
            }
            for i in rows
        ],
    )
    flow = (s.water_run >= r.slots(r.continuous_flow_hours)) | (
        learned
        & (s.water_run >= r.slots(r.flow_min_hours))
        & (s.water_run >= (s.water_longest + r.slots(r.flow_beyond_longest_hours)) * s.sensitivity)
        & (s.flow_log_p < math.log(r.flow_probability) * s.sensitivity)
    )
    # A run that raised the alert is a leak, not the household's routine: that day's longest
    # run is not learned.
    s.flow_today |= flow
    fire(
        s,
        step,
        Kind.CONTINUOUS_FLOW,
        flow,
        lambda rows: [{"hours": s.water_run[i] / SLOTS_PER_HOUR} for i in rows],
    )
    _stove_rule(s, r, step)


def _stove_rule(s: DetectorState, r: Rules, step: Step) -> None:
    """Gas left on: a run somebody lit, longer than the fixed rule or, once learned, than this
    household's own longest cooking."""
    learned = step.learned
    gas_learned = np.maximum(
        r.slots(r.gas_min_learned_hours), (s.gas_longest + SLOTS_PER_HOUR) * s.sensitivity
    )
    gas_fixed = np.full(s.gas_run.shape, float(r.slots(r.gas_max_flow_hours)))
    gas_long = s.gas_lit & ((s.gas_run >= gas_fixed) | (learned & (s.gas_run >= gas_learned)))
    if r.stove_hourly_needs_flame_time:
        # An hourly meter's run is as long as its flame time (see the rule).
        needed = r.stove_flame_time_share * np.minimum(
            gas_fixed, np.where(learned, gas_learned, gas_fixed)
        )
        gas_long &= ~read_hourly(s)[:, GAS] | (flame_slots(s) >= needed - TOLERANCE)
    fire(
        s,
        step,
        Kind.GAS_LONG_FLOW,
        gas_long,
        lambda rows: [
            {"hours": s.gas_run[i] / SLOTS_PER_HOUR, "limit_h": r.gas_max_flow_hours} for i in rows
        ],
    )


def _meter_rules(s: DetectorState, r: Rules, step: Step) -> None:
    """Readings missing for hours (a data gap, not no use) and a faulty meter."""
    meters, fault = s.meters, step.fault
    gap = meters & (s.missing_run >= r.slots(r.gap_hours)) & ~fault
    fire(
        s,
        step,
        Kind.DATA_GAP,
        _any_utility(gap),
        lambda rows: [
            {
                "utility": UTILITIES[int(np.argmax(gap[i]))],
                "hours": s.missing_run[i, int(np.argmax(gap[i]))] / SLOTS_PER_HOUR,
            }
            for i in rows
        ],
    )
    stuck = s.zero_run[:, ELECTRICITY] >= r.slots(r.stuck_zero_hours)
    faulty = _any_utility(fault & meters) | stuck
    fire(
        s,
        step,
        Kind.METER_FAULT,
        faulty,
        lambda rows: [
            {
                "utility": UTILITIES[int(np.argmax(fault[i]))] if fault[i].any() else "electricity",
                "reason": "fault flag on the reading"
                if fault[i].any()
                else "exactly zero for a whole day, below any standby",
            }
            for i in rows
        ],
    )


def _any_utility(flags: Bool) -> Bool:
    """Whether any of a household's utilities is flagged, for (H, 3) flags: the same as
    `flags.any(axis=1)`, which reduces three values at a time and costs as much as a dozen
    whole-column operations."""
    return flags[:, WATER] | flags[:, ELECTRICITY] | flags[:, GAS]
