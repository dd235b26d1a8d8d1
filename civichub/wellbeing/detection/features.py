"""What one half hour's readings say, for every household at once: which readings came, whether
anybody was about, and the running counts the rules look at (the last 12 and 24 hours, runs of
use and of quiet, night activity, the first use of the day).

`observe` updates the state's running features with the half hour and returns a `Step`, which
the fixed rules, the learned rules and the learning then read."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from civichub.wellbeing.detection.grid import (
    DAY_START_SLOT,
    ELECTRICITY,
    GAS,
    HOURS_PER_WEEK,
    SLOTS_PER_DAY,
    SLOTS_PER_HOUR,
    SLOTS_PER_WEEK,
    WATER,
    Bool,
    Float,
    Int,
)
from civichub.wellbeing.detection.rules import (
    FAMILIES,
    FAMILY,
    KIND_BIT,
    TOLERANCE,
    Alert,
    Rules,
)
from civichub.wellbeing.detection.state import DetectorState

FAMILY_COLUMN = {family: n for n, family in enumerate(FAMILIES)}


@dataclass(slots=True)
class Step:
    """One half hour (`slot`) for every household, as the rules and the learning read it."""

    slot: int
    alerts: list[Alert]  # what this half hour raises, appended to by `fire`
    away: Bool  # (H,) the household said it was away
    fault: Bool  # (H, 3) readings flagged faulty
    present: Bool  # (H, 3) a usable reading from a meter the household has
    x0: Float  # (H, 3) the reading, 0 where there is none
    hour_of_week: int
    slot_in_day: int
    hour: int
    day_slot: int  # half hours since the activity day started (04:00)
    learned: Bool  # enough weeks seen for the learned rules to speak
    elec_change: Float  # (H,) electricity against the half hour before, 0 where unknown
    elec_switch: Bool  # electricity changed beyond what runs by itself
    elec_person: Bool  # ... and again within `Rules.corroboration_slots`: a person
    lights_out: Bool  # (H,) electricity switched off down to what runs by itself
    trickle: Float  # (H,) water per half hour a cistern's trickle explains
    water_use: Bool  # water beyond what runs by itself (a cistern's trickle): a person
    gas_use: Bool  # gas beyond what runs by itself (a boiler): a person
    gas_flow: Bool  # gas flowing beyond a boiler's floor and swing (for the stove rule)
    elec_use: Bool  # electricity above what runs by itself
    activity: Bool
    person: Bool  # a sign of a person: water, gas or corroborated electricity
    person_around: Bool  # signs of a person in two of the last six half hours
    observed: Bool  # a meter that would show activity was read


def fire(
    state: DetectorState,
    step: Step,
    kind: str,
    condition: Any,
    evidence: Callable[[Any], Iterable[dict[str, Any]]],
) -> None:
    """Raise `kind` where `condition` starts to hold and no incident of its family is open;
    where one is open and has not reported this kind yet, the alert is a follow-up that
    updates it. `evidence(rows)` gives a dict per row."""
    condition = np.asarray(condition, dtype=bool)
    family, bit = FAMILY_COLUMN[FAMILY[kind]], KIND_BIT[kind]
    opened = state.incident_open[:, family].copy()
    kinds = state.incident_kinds[:, family].copy()
    new = condition & ~opened
    follow = condition & opened & ((kinds & bit) == 0)
    state.active[kind] = condition
    state.incident_open[:, family] = opened | condition
    state.incident_kinds[:, family] = np.where(condition, kinds | bit, kinds)
    rows = np.flatnonzero(new | follow)
    if rows.size:
        for row, facts in zip(rows.tolist(), evidence(rows), strict=True):
            step.alerts.append(
                Alert(
                    household=row,
                    kind=kind,
                    slot=step.slot,
                    evidence=facts,
                    follow_up=bool(follow[row]),
                )
            )


def incidents_close(s: DetectorState, r: Rules, step: Step) -> None:
    """Ends the incidents whose conditions no longer hold: an absence only when somebody is
    evidently back (never on an appliance's cycle), a night's activity once the night is over,
    the others when none of their conditions has held for `Rules.clear_hours`."""
    held = np.zeros_like(s.incident_open)
    for kind, flags in s.active.items():
        held[:, FAMILY_COLUMN[FAMILY[kind]]] |= flags
    s.incident_calm = np.where(held, 0, s.incident_calm + 1)
    close = s.incident_open & (s.incident_calm >= r.slots(r.clear_hours))
    absence, night = FAMILY_COLUMN["absence"], FAMILY_COLUMN["night"]
    # Somebody is back: water drawn in two of the last six half hours adding up to a wash, or
    # signs of a person in four of them (a thermostat's cycles in an empty home are not, nor a
    # register stepping a litre now and then under a cistern's trickle).
    trickle = step.trickle
    drawn = np.zeros_like(trickle)
    for back_slots in range(6):
        drawn += np.maximum(s.ring[:, (step.slot - back_slots) % SLOTS_PER_DAY, WATER] - trickle, 0)
    back = ((_bits(s.water_bits & 0x3F) >= 2) & (drawn >= r.wash_m3 - TOLERANCE)) | (
        _bits(s.person_bits & 0x3F) >= 4
    )
    close[:, absence] = s.incident_open[:, absence] & back
    if r.night_start_hour <= step.hour < r.night_end_hour:
        close[:, night] = False
    s.incident_open &= ~close
    s.incident_kinds = np.where(close, 0, s.incident_kinds)


_POPCOUNT = np.array([bin(n).count("1") for n in range(256)], dtype=np.int64)


def _bits(flags: Int) -> Int:
    """How many of the low eight bits are set."""
    return _POPCOUNT[flags & 0xFF]


def observe(
    s: DetectorState,
    r: Rules,
    x: Float,
    slot: int,
    away: Bool,
    fault: Bool,
    alerts: list[Alert],
) -> Step:
    """Takes in the readings `x` (H, 3) of `slot` and returns what they say."""
    meters = s.meters
    present = ~np.isnan(x) & ~fault & meters
    x0 = np.where(present, x, 0.0)
    previous = (slot - 1) % SLOTS_PER_DAY
    elec_change = np.where(
        present[:, ELECTRICITY] & s.ring_present[:, previous, ELECTRICITY],
        x0[:, ELECTRICITY] - s.ring[:, previous, ELECTRICITY],
        0.0,
    )
    _hours(s, slot, present, x0)
    _windows(s, slot, present, x0)
    slot_in_day = slot % SLOTS_PER_DAY
    margin = r.electricity_margin_kwh
    # What runs by itself, as the quiet hours of recent nights showed it (NaN until a night
    # has been seen: then only the configured margins apply).
    auto_hi = np.nan_to_num(s.auto_hi, nan=0.0)
    auto_lo = np.nan_to_num(s.auto_lo, nan=0.0)
    change_limit = np.maximum(
        margin, r.automatic_change_factor * np.nan_to_num(s.auto_change[:, ELECTRICITY], nan=0.0)
    )
    # A cistern's trickle runs by itself (up to `Rules.trickle_max_m3`); water is a person's
    # when it is beyond the trickle by a litre and as much again as the trickle (a meter
    # of coarse resolution shows a trickle in steps).
    trickle = np.minimum(auto_lo[:, WATER], r.trickle_max_m3)
    # Nor is a draw no larger than what the nights draw by themselves (a purifier's flush).
    draw = np.minimum(np.nan_to_num(s.auto_draw, nan=0.0), r.automatic_draw_max_m3)
    water_use = (
        present[:, WATER]
        & (x0[:, WATER] - trickle >= r.water_use_m3 + trickle - TOLERANCE)
        & (x0[:, WATER] > draw + TOLERANCE)
    )
    # A few quiet hours a night show a thermostat's cycles, not their extremes over a day:
    # levels count as a person's only half the nightly swing above the nights' highest.
    swing = 0.5 * (auto_hi - auto_lo)
    # Where the nights burn gas (a boiler on a thermostat), gas follows the weather, not a
    # person: it is no sign of one there.
    boiler = auto_hi[:, GAS] > 2 * r.gas_use_m3
    gas_use = (
        present[:, GAS]
        & ~boiler
        & (x0[:, GAS] - auto_hi[:, GAS] >= np.maximum(r.gas_use_m3, swing[:, GAS]) - TOLERANCE)
    )
    # A stove left on flows without a break; a boiler's cycles dip below the nights' highest.
    gas_flow = present[:, GAS] & (
        x0[:, GAS] - auto_lo[:, GAS] >= np.maximum(r.stove_flow_m3, 2 * swing[:, GAS]) - TOLERANCE
    )
    level = np.fmax(s.auto_hi[:, ELECTRICITY], s.standby)
    level = np.where(np.isnan(level), np.inf, level) + np.maximum(margin, swing[:, ELECTRICITY])
    elec_use = present[:, ELECTRICITY] & (x0[:, ELECTRICITY] > level + TOLERANCE)
    elec_switch = np.abs(elec_change) > change_limit + TOLERANCE
    lights_out = _lights_out(s, r, slot, x0, present, elec_change, elec_switch, level)
    # Switched on, twice: an appliance that switches itself on and off again is one event.
    elec_on = elec_switch & (elec_change > 0)
    s.elec_bits = ((s.elec_bits << 1) | elec_on) & ((1 << r.corroboration_slots) - 1)
    if r.electricity_ramp_is_one_switch:
        # ... not in the half hour just before: one appliance switched on part of the way
        # through a reading (a heater left on at a fall, a boiler's fan) rises over two
        # readings, and that is one switch.
        elec_person = elec_on & ((s.elec_bits >> 2) > 0)
    else:
        elec_person = elec_on & (_bits(s.elec_bits) >= 2)
    water_use = _weekly_draw(s, r, slot, x0, water_use, gas_use | elec_person, away)
    person = water_use | gas_use | elec_person
    _person_water(s, slot, np.where(water_use, np.maximum(x0[:, WATER] - trickle, 0.0), 0.0))
    s.person_bits = ((s.person_bits << 1) | person) & 0xFF
    s.water_bits = ((s.water_bits << 1) | water_use) & 0xFF
    step = Step(
        slot=slot,
        alerts=alerts,
        away=away,
        fault=fault,
        present=present,
        x0=x0,
        hour_of_week=(slot // SLOTS_PER_HOUR) % HOURS_PER_WEEK,
        slot_in_day=slot_in_day,
        hour=slot_in_day // SLOTS_PER_HOUR,
        day_slot=(slot - DAY_START_SLOT) % SLOTS_PER_DAY,
        learned=s.learned_slots >= r.learning_weeks * SLOTS_PER_WEEK,
        elec_change=elec_change,
        elec_switch=elec_switch,
        elec_person=elec_person,
        lights_out=lights_out,
        trickle=trickle,
        water_use=water_use,
        gas_use=gas_use,
        gas_flow=gas_flow,
        elec_use=elec_use,
        activity=water_use | gas_use | elec_use,
        person=person,
        person_around=_bits(s.person_bits & 0x3F) >= 2,
        # A slot tells us about activity only if a meter that would show it was read.
        observed=present[:, WATER] | present[:, ELECTRICITY] & ~np.isnan(level),
    )
    _runs(s, r, step)
    _quiet(s, r, step)
    _night(s, r, step)
    _first_use(s, r, step)
    return step


def _windows(s: DetectorState, slot: int, present: Bool, x0: Float) -> None:
    """The last 24 hours of readings, their 12- and 24-hour sums and counts, and the runs of
    missing readings and of readings of exactly zero."""
    ring_at = slot % SLOTS_PER_DAY
    half_ago = (slot - SLOTS_PER_DAY // 2) % SLOTS_PER_DAY
    counted = present.astype(np.int64)
    s.sum12 += x0 - s.ring[:, half_ago, :]
    s.count12 += counted - s.ring_present[:, half_ago, :]
    s.sum24 += x0 - s.ring[:, ring_at, :]
    s.count24 += counted - s.ring_present[:, ring_at, :]
    s.ring[:, ring_at, :] = x0
    s.ring_present[:, ring_at, :] = present
    s.missing_run = np.where(present, 0, s.missing_run + 1)
    s.zero_run = np.where(present & (x0 == 0.0), s.zero_run + 1, np.where(present, 0, s.zero_run))


def spell_start(slot: int, quiet: Int) -> Int:
    """When a quiet spell of `quiet` half hours up to `slot` began, in half hours after noon
    (so that a night's spell that began at 21:00 or at 01:00 is 18 or 26, in order)."""
    return (slot - quiet + 1 - SLOTS_PER_DAY // 2) % SLOTS_PER_DAY


def _person_water(s: DetectorState, slot: int, drawn: Float) -> None:
    """The water a person drew this half hour joins the last 24 hours' and their sums."""
    ring_at = slot % SLOTS_PER_DAY
    half_ago = (slot - SLOTS_PER_DAY // 2) % SLOTS_PER_DAY
    s.person_water12 += drawn - s.person_water[:, half_ago]
    s.person_water24 += drawn - s.person_water[:, ring_at]
    s.person_water[:, ring_at] = drawn


def _weekly_draw(
    s: DetectorState, r: Rules, slot: int, x0: Float, drawn: Bool, other: Bool, away: Bool
) -> Bool:
    """`drawn` less the water drawn at a half hour of the week where it has drawn by itself in
    each of the last weeks, about as much, with no sign of a person now nor in the hour before
    (see `Rules.automatic_weekly_draw`); the half hour joins the bits
    `learning.learn_weekly_draws` reads."""
    if not r.automatic_weekly_draw:
        return drawn
    k = r.slots(r.automatic_weekly_isolation_hours)
    s.raw_water_bits = ((s.raw_water_bits << 1) | drawn) & 0xFF
    s.other_bits = ((s.other_bits << 1) | other) & 0xFF
    s.away_bits = ((s.away_bits << 1) | away) & 0xFF
    s.raw_water_run = np.where(drawn, s.raw_water_run + 1, 0)
    week_slot = slot % SLOTS_PER_WEEK
    band = r.automatic_weekly_band
    low = s.weekly_lo[:, week_slot].astype(np.float64) / band
    high = s.weekly_hi[:, week_slot].astype(np.float64) * band
    # Water a person drew in the hour before, or gas or a person's switch now or then.
    # ... on a few days of the week at this half hour of the day, not every day.
    days = s.weekly_streak[:, slot % SLOTS_PER_DAY :: SLOTS_PER_DAY] >= r.automatic_weekly_weeks
    some_days = days.sum(axis=1) <= r.automatic_weekly_max_days
    quiet = ((s.other_bits & ((1 << (k + 1)) - 1)) == 0) & ((s.water_bits & ((1 << k) - 1)) == 0)
    automatic: Bool = (
        drawn
        & (s.weekly_streak[:, week_slot] >= r.automatic_weekly_weeks)
        & (x0[:, WATER] >= low - TOLERANCE)
        & (x0[:, WATER] <= high + TOLERANCE)
        & (s.raw_water_run <= s.weekly_run[:, week_slot])
        & some_days
        & quiet
    )
    return drawn & ~automatic


def _lights_out(
    s: DetectorState,
    r: Rules,
    slot: int,
    x0: Float,
    present: Bool,
    elec_change: Float,
    elec_switch: Bool,
    level: Float,
) -> Bool:
    """Lights and the television switched off, from above what runs by itself (`level`) down to
    it, in the household's own evening (from an hour before its early bedtime to 04:00):
    somebody going to bed (an option, see `Rules.no_use_lights_out_is_stir`)."""
    waits = r.no_use_sleep_needs_lights_out and r.no_use_sleep_extra_hours > 0
    if not (r.no_use_lights_out_is_stir or waits):
        return np.zeros_like(elec_switch)
    after_noon = (slot - SLOTS_PER_DAY // 2) % SLOTS_PER_DAY
    lights_out: Bool = (
        elec_switch
        & (elec_change < 0)
        & present[:, ELECTRICITY]
        & (x0[:, ELECTRICITY] <= level + TOLERANCE)
        & (x0[:, ELECTRICITY] - elec_change > level + TOLERANCE)
        & (s.bedtime_early >= 0)
        & (after_noon >= s.bedtime_early - SLOTS_PER_HOUR)
        & (after_noon < SLOTS_PER_DAY // 2 + DAY_START_SLOT)
    )
    return lights_out


def _runs(s: DetectorState, r: Rules, step: Step) -> None:
    """Runs of water and gas use, the time since the last use and the last sign of anybody
    about, and how improbable the current run of water draws is for this household."""
    present, water_use, away = step.present, step.water_use, step.away
    s.water_run = np.where(water_use, s.water_run + 1, np.where(present[:, WATER], 0, s.water_run))
    # Gas burnt while water runs heats it (a gas water heater, the washing-up): it neither
    # lengthens a stove's run nor breaks it; a stove left on is gas with the taps shut.
    hot_water = present[:, WATER] & (step.x0[:, WATER] >= r.hot_water_m3 - TOLERANCE)
    s.since_hands = np.where(water_use | step.elec_person, 0, s.since_hands + 1)
    # ... at an hour this household is usually up (a boiler's run starts in the night too).
    awake_hour = s.p_active[:, step.hour_of_week] >= r.night_rare_probability
    if r.night_stove_needs_someone_up and r.night_start_hour <= step.hour < r.night_end_hour:
        # In the small hours a flush on the way back to bed is no cook: somebody who got up
        # to cook switches a light on, so a run lit then needs somebody seen up now (the
        # night rule's own evidence, or a switch beyond the automatic pattern within the
        # hour; without an electricity meter, water drawn within the hour).
        hour_bits = (1 << SLOTS_PER_HOUR) - 1
        seen_up = np.where(
            s.meters[:, ELECTRICITY], (s.elec_bits & hour_bits) > 0, (s.water_bits & hour_bits) > 0
        )
        awake_hour = awake_hour & (seen_up | (s.night_run > 0))
    s.gas_lit = np.where(
        step.gas_flow & (s.gas_run == 0),
        (s.since_hands <= r.slots(r.lit_hours)) & awake_hour,
        s.gas_lit,
    )
    s.gas_run = np.where(
        step.gas_flow,
        s.gas_run + ~hot_water,
        np.where(present[:, GAS], 0, s.gas_run),
    )
    _gas_hourly(s, step, step.gas_flow, hot_water)
    # Time away does not count towards a silence: the clock starts when the household is back.
    s.since_water = np.where(water_use | away, 0, s.since_water + 1)
    stirred = step.person | (step.lights_out if r.no_use_lights_out_is_stir else False)
    s.since_stir = np.where(stirred | away, 0, s.since_stir + 1)
    s.gone_to_bed = np.where(step.lights_out, True, s.gone_to_bed & ~step.person & ~away)
    longer = s.since_stir > s.quiet_today
    s.quiet_start_today = np.where(
        longer, spell_start(step.slot, s.since_stir), s.quiet_start_today
    )
    s.quiet_today = np.maximum(s.quiet_today, s.since_stir)
    # How improbable is this run of water draws for this household at these hours?
    pw = np.clip(
        s.p_water[:, step.hour_of_week], 1.0 - r.active_probability_cap, r.flow_probability_cap
    )
    # An hourly meter's reading is split evenly over the hour's two half hours: the second
    # half is the same draw seen again, not a second improbable one (a busy evening on an
    # hourly meter looked twice as improbable as it was, and a leak).
    evidence = np.log(pw)
    if r.flow_counts_a_split_reading_once and step.slot % SLOTS_PER_HOUR == SLOTS_PER_HOUR - 1:
        before = (step.slot - 1) % SLOTS_PER_DAY
        split = (
            (s.water_run >= 2)
            & s.ring_present[:, before, WATER]
            & (np.abs(step.x0[:, WATER] - s.ring[:, before, WATER]) <= TOLERANCE)
        )
        evidence = np.where(split, 0.0, evidence)
    s.flow_log_p = np.where(
        water_use,
        s.flow_log_p + evidence,
        np.where(present[:, WATER], 0.0, s.flow_log_p),
    )
    s.gas_day_longest = np.maximum(s.gas_day_longest, s.gas_run)
    s.water_day_longest = np.maximum(s.water_day_longest, s.water_run)


def _gas_hourly(s: DetectorState, step: Step, burning: Bool, hot_water: Bool) -> None:
    """Whether the household's gas comes in hourly readings, and the run's gas and fullest
    half hour (see `Rules.stove_hourly_needs_flame_time`). A half hour that heated water
    counts up to the run's fullest other half hour (a stove left on burns through a shower
    too, and the shower's gas is not the flame's rate)."""
    gas = step.x0[:, GAS]
    running = s.gas_run > 0
    flame = np.where(burning & ~hot_water, gas, 0.0)
    s.gas_run_peak = np.where(running, np.maximum(s.gas_run_peak, flame), 0.0)
    heated = np.where(burning & hot_water, np.minimum(gas, s.gas_run_peak), 0.0)
    s.gas_run_total = np.where(running, s.gas_run_total + flame + heated, 0.0)


def flame_slots(s: DetectorState) -> Float:
    """(H,) how many half hours the current gas run burnt at its fullest half hour's rate."""
    return s.gas_run_total / np.maximum(s.gas_run_peak, TOLERANCE)


def read_hourly(s: DetectorState) -> Bool:
    """(H, 3) the meter is read hourly: enough hours with use seen, each split evenly over its
    two half hours, and never otherwise."""
    return (s.hours_equal >= 6) & (s.hours_unequal == 0)


def _hours(s: DetectorState, slot: int, present: Bool, x0: Float) -> None:
    """Counts the hours with use whose two half hours were equal, and unequal (before the
    ring takes the half hour in)."""
    if slot % SLOTS_PER_HOUR != SLOTS_PER_HOUR - 1:
        return
    before = (slot - 1) % SLOTS_PER_DAY
    earlier = s.ring[:, before, :]
    both = present & s.ring_present[:, before, :] & ((x0 > TOLERANCE) | (earlier > TOLERANCE))
    equal = np.abs(x0 - earlier) <= TOLERANCE
    s.hours_equal += both & equal
    s.hours_unequal += both & ~equal


def _quiet(s: DetectorState, r: Rules, step: Step) -> None:
    """Learned quiet spell: how improbable is this much quiet for this household, now?"""
    p = np.clip(
        s.p_active[:, step.hour_of_week], 1.0 - r.active_probability_cap, r.active_probability_cap
    )
    quiet = step.observed & ~step.activity
    reset = step.activity | step.away
    s.quiet_run = np.where(reset, 0, np.where(quiet, s.quiet_run + 1, s.quiet_run))
    s.quiet_log_p = np.where(
        reset, 0.0, np.where(quiet, s.quiet_log_p + np.log1p(-p), s.quiet_log_p)
    )


def _night(s: DetectorState, r: Rules, step: Step) -> None:
    """Night activity where this household is rarely active."""
    meters, hour = s.meters, step.hour
    night = r.night_start_hour <= hour < r.night_end_hour
    # Nights are alike through the week, so the rarity is judged over all seven of them. Only
    # at night: by day no spell starts or goes on whatever the rarity, and the mean over seven
    # columns of the routine is one of the dearest reads of the step.
    rare = s.p_active[:, hour::24].mean(axis=1) < r.night_rare_probability if night else False
    # Someone up at night switches something on (lights, a kettle, the television) or lights
    # the stove, and it counts for as long as it stays on. Toilet flushes in the dark are
    # not it, nor a heater or a lamp left on all evening (a steady level, switched on before
    # the night). Without an electricity meter, water in two half hours running is.
    up_at_night = (
        # At night a switch beyond what runs by itself needs no second one: the appliances
        # that run at night are what the automatic pattern is learned from.
        (step.elec_switch & (step.elec_change > 0))
        # Gas lit by somebody (see `Rules.lit_hours`), not a boiler's first winter nights.
        | (step.gas_use & s.gas_lit)
        | (step.elec_use & (s.night_run > 0))
        | (step.water_use & (s.water_run >= 2) & ~meters[:, ELECTRICITY])
    )
    # Rarity is judged when the spell starts (the spell itself teaches the routine a little);
    # a half hour whose electricity reading was lost neither extends nor ends it.
    seen_up = np.where(meters[:, ELECTRICITY], step.present[:, ELECTRICITY], step.observed)
    s.night_run = np.where(
        night & up_at_night & (rare | (s.night_run > 0)),
        s.night_run + 1,
        np.where(seen_up, 0, s.night_run),
    )


def _first_use(s: DetectorState, r: Rules, step: Step) -> None:
    """First use of the activity day."""
    day_slot, activity, x0 = step.day_slot, step.activity, step.x0
    if day_slot == 0:
        s.first_use_today[:] = -1
        s.away_today[:] = False
        s.morning_missing[:] = 0
    s.away_today |= step.away
    # Getting up is activity in two of three half hours running, with lights, appliances or
    # the stove in one of them where there is an electricity meter (a toilet visit at night
    # is water alone); the first use is the earliest of them. Two of three, not two in a
    # row, so that a quiet half hour after the morning wash does not put the first use late.
    up = (
        step.elec_use
        | step.elec_switch
        | step.gas_use
        | ~s.meters[:, ELECTRICITY]
        | (x0[:, WATER] >= r.wash_m3)
    )
    this_up = up & activity
    count = activity.astype(np.int64) + s.last_active + s.active_before
    # A wash or a shower, or water drawn with the lights or an appliance on in the same half
    # hour (the kettle), is getting up on its own: some go out straight after.
    washing = step.water_use & (
        step.elec_use | step.elec_switch | step.gas_use | (x0[:, WATER] >= r.wash_m3)
    )
    # Or water drawn in two of three half hours adding up to a wash (an hourly meter spreads
    # each draw over two half hours; a toilet visit is less).
    slot = step.slot
    water3 = s.ring[:, slot % SLOTS_PER_DAY, WATER] + s.ring[:, (slot - 1) % SLOTS_PER_DAY, WATER]
    water3 = water3 + s.ring[:, (slot - 2) % SLOTS_PER_DAY, WATER]
    getting_up = (
        washing
        | (count >= 2) & (this_up | s.last_up | s.up_before)
        | (count >= 2) & (water3 >= r.wash_m3 - TOLERANCE)
    )
    earliest = np.where(
        s.active_before, day_slot - 2, np.where(s.last_active, day_slot - 1, day_slot)
    )
    s.first_use_today = np.where(
        (s.first_use_today < 0) & getting_up, np.maximum(earliest, 0), s.first_use_today
    )
    s.active_before = s.last_active & (day_slot > 0)
    s.up_before = s.last_up & (day_slot > 0)
    s.last_active = activity
    s.last_up = this_up
