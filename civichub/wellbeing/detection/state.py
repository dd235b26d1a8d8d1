"""Everything the detector remembers per household, as arrays."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from civichub.wellbeing.detection.grid import (
    HOURS_PER_WEEK,
    SLOTS_PER_DAY,
    SLOTS_PER_WEEK,
    Bool,
    Float,
    Int,
)
from civichub.wellbeing.detection.rules import FAMILIES, SEVERITY

# Nights of the automatic pattern kept, and mornings of first use (see `Rules`).
NIGHTS = 7
# Half hours of the night the automatic pattern is learned from (at most; see `Rules`).
NIGHT_SLOTS = 10
MORNINGS = 28


@dataclass
class DetectorState:
    """Everything the detector remembers per household, as arrays (saved with `np.savez`)."""

    meters: Bool  # (H, 3): which utilities the household has a meter for
    slot: int = -1  # last slot processed
    ring: Float = field(init=False)  # (H, day, 3) last 24 h of consumption, 0 where missing
    ring_present: Bool = field(init=False)
    sum12: Float = field(init=False)
    sum24: Float = field(init=False)
    count12: Int = field(init=False)
    count24: Int = field(init=False)
    # Water a person drew (what runs by itself left out), the last 24 h of it and its 12- and
    # 24-hour sums: what the no-use rule measures (a purifier's flushes are nobody's use).
    person_water: Float = field(init=False)  # (H, day)
    person_water12: Float = field(init=False)
    person_water24: Float = field(init=False)
    missing_run: Int = field(init=False)  # (H, 3) consecutive slots without a reading
    zero_run: Int = field(init=False)  # (H, 3) consecutive readings of exactly zero
    water_run: Int = field(init=False)  # consecutive half hours with water use
    gas_run: Int = field(init=False)
    since_water: Int = field(init=False)  # slots since the last water use
    # Slots since the last sign of someone about: water, gas, or electricity switched (a change
    # between half hours; a lamp or television left on is a steady level, not a sign).
    since_stir: Int = field(init=False)
    # Slots since water was drawn or electricity switched by a person (gas aside), and
    # whether the current gas run started within `Rules.lit_hours` of one: a stove is lit by
    # somebody up and about; a boiler fires on its thermostat.
    since_hands: Int = field(init=False)
    gas_lit: Bool = field(init=False)
    p_water: Float = field(init=False)  # (H, 168) learned probability of a water draw
    flow_log_p: Float = field(init=False)  # log probability of the current run of water draws
    gas_longest: Float = field(init=False)  # usual longest gas run of a day, decaying
    gas_day_longest: Int = field(init=False)
    # The household's own longest run of water draws in a day lately, decaying like the
    # cooking (a day at home with the taps and the toilet in every hour is its routine).
    water_longest: Float = field(init=False)
    water_day_longest: Int = field(init=False)
    flow_today: Bool = field(init=False)  # a continuous-flow incident held today
    last_observed: Bool = field(init=False)
    active_before: Bool = field(init=False)  # activity two half hours ago
    up_before: Bool = field(init=False)
    quiet_run: Int = field(init=False)
    quiet_log_p: Float = field(init=False)  # log probability of the current quiet spell
    night_run: Int = field(init=False)
    p_active: Float = field(init=False)  # (H, 168) learned probability of activity
    p_seen: Int = field(init=False)  # (H, 168) observations behind it, for the warm start
    last_active: Bool = field(init=False)
    last_up: Bool = field(init=False)
    away_today: Bool = field(init=False)
    # Half hours without readings since this household could have got up today: a morning
    # lost in transit says nothing about whether it did.
    morning_missing: Int = field(init=False)
    learned_slots: Int = field(init=False)
    standby: Float = field(init=False)  # learned electricity standby per half hour
    day_min_elec: Float = field(init=False)
    first_use_mean: Float = field(init=False)  # in slots after DAY_START_SLOT
    first_use_var: Float = field(init=False)
    first_use_days: Int = field(init=False)
    first_use_today: Int = field(init=False)  # -1 until the first use of the activity day
    day_total: Float = field(init=False)  # (H, 3) this calendar day so far
    day_count: Int = field(init=False)
    usual_log_daily: Float = field(init=False)  # (H, 3)
    usual_log_var: Float = field(init=False)  # (H, 3) its day-to-day variance
    usual_days: Int = field(init=False)
    level_run: Int = field(init=False)  # (H, 3) signed run of days beyond the ratio
    level_up: Float = field(init=False)  # (H, 3) cumulative sums of the daily deviation
    level_down: Float = field(init=False)
    level_days: Int = field(init=False)
    # How much more evidence the learned rules need for this household: raised by visits that
    # found a false alarm, lowered back by real incidents.
    sensitivity: Float = field(init=False)
    active: dict[str, Bool] = field(init=False)  # alerts whose condition still holds
    # The automatic pattern (see `Rules.automatic_start_hour`): this night so far, the last
    # nights, and what they give. Per utility: the highest level, the largest change from the
    # half hour before, the least level; NaN until a night has been seen.
    night_hi: Float = field(init=False)  # (H, 3)
    night_change: Float = field(init=False)  # (H, 3)
    night_lo: Float = field(init=False)  # (H, 3)
    night_seen: Int = field(init=False)  # (H, 3) readings this night
    # (H, night half hours) this night's water, NaN where none: the trickle is the mean of
    # all but its two largest (a toilet visit or two is not a trickle).
    night_water: Float = field(init=False)
    nights_hi: Float = field(init=False)  # (H, NIGHTS, 3), NaN where no night
    nights_change: Float = field(init=False)
    nights_lo: Float = field(init=False)
    # (H, NIGHTS) each night's largest water reading, and what the nights give (see
    # `Rules.automatic_draw_max_m3`): a purifier's flush, a coarse register's step of a trickle.
    nights_draw: Float = field(init=False)
    auto_draw: Float = field(init=False)  # (H,)
    # Water drawn by itself at a half hour of the week (see `Rules.automatic_weekly_draw`):
    # bits (newest lowest) of half hours with water beyond the trickle, with another sign of a
    # person (gas, a switch counted as a person) and marked away; the current run of water;
    # and per half hour of the week the weeks in a row it drew alone, the least and largest
    # of those draws and the longest run they were part of.
    raw_water_bits: Int = field(init=False)
    other_bits: Int = field(init=False)
    away_bits: Int = field(init=False)
    raw_water_run: Int = field(init=False)
    weekly_streak: npt.NDArray[np.int8] = field(init=False)  # (H, SLOTS_PER_WEEK)
    weekly_lo: npt.NDArray[np.float32] = field(init=False)
    weekly_hi: npt.NDArray[np.float32] = field(init=False)
    weekly_run: npt.NDArray[np.int8] = field(init=False)
    nights_at: Int = field(init=False)  # (H,) where the next night goes in the ring
    # Meters read hourly (see `features.read_hourly`): hours whose two half hours with use
    # were equal and unequal, per utility.
    hours_equal: Int = field(init=False)  # (H, 3)
    hours_unequal: Int = field(init=False)  # (H, 3)
    # The current gas run's gas and its fullest half hour (see
    # `Rules.stove_hourly_needs_flame_time`).
    gas_run_total: Float = field(init=False)  # (H,)
    gas_run_peak: Float = field(init=False)  # (H,)
    auto_hi: Float = field(init=False)  # (H, 3) highest level the automatic pattern explains
    auto_change: Float = field(init=False)  # (H, 3) largest change it explains
    auto_lo: Float = field(init=False)  # (H, 3) its floor (a cistern's trickle, a boiler's)
    # Half hours (bits, newest lowest) with electricity changed beyond the automatic pattern,
    # and with any sign of a person.
    elec_bits: Int = field(init=False)
    person_bits: Int = field(init=False)
    water_bits: Int = field(init=False)  # half hours with water drawn by a person
    # First use of the last mornings, in slots after DAY_START_SLOT, -1 where none was seen.
    mornings: Int = field(init=False)  # (H, MORNINGS)
    # The longest spell without a sign of a person that ended (or went on) in each of the last
    # days, in half hours (-1 where none was learned), this day's so far, and the household's
    # own long quiet spell from them (see `Rules.no_use_quiet_extra_hours`).
    quiet_days: Int = field(init=False)  # (H, MORNINGS)
    quiet_today: Int = field(init=False)
    quiet_usual: Int = field(init=False)
    # The household's own night: when each of the last days' longest quiet spell began, in
    # half hours after noon (-1 where it was no night's length), this day's so far, the
    # second earliest of them (its early bedtime) and the second latest first use of the
    # mornings (its late rising), -1 until learned (see `Rules.no_use_sleep_extra_hours`).
    quiet_starts: Int = field(init=False)  # (H, MORNINGS)
    quiet_start_today: Int = field(init=False)
    # Lights switched off at bedtime since the last sign of a person (see
    # `Rules.no_use_sleep_needs_lights_out`).
    gone_to_bed: Bool = field(init=False)
    bedtime_early: Int = field(init=False)
    rising_late: Int = field(init=False)
    mornings_at: Int = field(init=False)
    # One alert per incident, per family of kinds (`rules.FAMILIES`): whether an incident is
    # open, which kinds it has reported (bits of `rules.KIND_BIT`) and how many half hours its
    # conditions have not held.
    incident_open: Bool = field(init=False)  # (H, families)
    incident_kinds: Int = field(init=False)
    incident_calm: Int = field(init=False)

    def __post_init__(self) -> None:
        h = self.meters.shape[0]
        self.ring = np.zeros((h, SLOTS_PER_DAY, 3))
        self.ring_present = np.zeros((h, SLOTS_PER_DAY, 3), dtype=bool)
        self.sum12 = np.zeros((h, 3))
        self.sum24 = np.zeros((h, 3))
        self.count12 = np.zeros((h, 3), dtype=np.int64)
        self.count24 = np.zeros((h, 3), dtype=np.int64)
        self.person_water = np.zeros((h, SLOTS_PER_DAY))
        self.person_water12 = np.zeros(h)
        self.person_water24 = np.zeros(h)
        self.missing_run = np.zeros((h, 3), dtype=np.int64)
        self.zero_run = np.zeros((h, 3), dtype=np.int64)
        self.water_run = np.zeros(h, dtype=np.int64)
        self.gas_run = np.zeros(h, dtype=np.int64)
        self.since_water = np.zeros(h, dtype=np.int64)
        self.since_stir = np.zeros(h, dtype=np.int64)
        self.since_hands = np.zeros(h, dtype=np.int64)
        self.gas_lit = np.zeros(h, dtype=bool)
        self.p_water = np.full((h, HOURS_PER_WEEK), 0.5)
        self.flow_log_p = np.zeros(h)
        self.gas_longest = np.zeros(h)
        self.gas_day_longest = np.zeros(h, dtype=np.int64)
        self.water_longest = np.zeros(h)
        self.water_day_longest = np.zeros(h, dtype=np.int64)
        self.flow_today = np.zeros(h, dtype=bool)
        self.last_observed = np.zeros(h, dtype=bool)
        self.active_before = np.zeros(h, dtype=bool)
        self.up_before = np.zeros(h, dtype=bool)
        self.quiet_run = np.zeros(h, dtype=np.int64)
        self.quiet_log_p = np.zeros(h)
        self.night_run = np.zeros(h, dtype=np.int64)
        self.p_active = np.full((h, HOURS_PER_WEEK), 0.5)
        self.p_seen = np.zeros((h, HOURS_PER_WEEK), dtype=np.int64)
        self.last_active = np.zeros(h, dtype=bool)
        self.last_up = np.zeros(h, dtype=bool)
        self.away_today = np.zeros(h, dtype=bool)
        self.morning_missing = np.zeros(h, dtype=np.int64)
        self.learned_slots = np.zeros(h, dtype=np.int64)
        self.standby = np.full(h, np.nan)
        self.day_min_elec = np.full(h, np.inf)
        self.first_use_mean = np.zeros(h)
        self.first_use_var = np.zeros(h)
        self.first_use_days = np.zeros(h, dtype=np.int64)
        self.first_use_today = np.full(h, -1, dtype=np.int64)
        self.day_total = np.zeros((h, 3))
        self.day_count = np.zeros((h, 3), dtype=np.int64)
        self.usual_log_daily = np.zeros((h, 3))
        self.usual_log_var = np.zeros((h, 3))
        self.usual_days = np.zeros((h, 3), dtype=np.int64)
        self.level_run = np.zeros((h, 3), dtype=np.int64)
        self.level_up = np.zeros((h, 3))
        self.level_down = np.zeros((h, 3))
        self.level_days = np.zeros((h, 3), dtype=np.int64)
        self.sensitivity = np.ones(h)
        self.active = {kind: np.zeros(h, dtype=bool) for kind in SEVERITY}
        self.night_hi = np.full((h, 3), -np.inf)
        self.night_change = np.full((h, 3), -np.inf)
        self.night_lo = np.full((h, 3), np.inf)
        self.night_seen = np.zeros((h, 3), dtype=np.int64)
        self.night_water = np.full((h, NIGHT_SLOTS), np.nan)
        self.nights_hi = np.full((h, NIGHTS, 3), np.nan)
        self.nights_change = np.full((h, NIGHTS, 3), np.nan)
        self.nights_lo = np.full((h, NIGHTS, 3), np.nan)
        self.nights_draw = np.full((h, NIGHTS), np.nan)
        self.auto_draw = np.full(h, np.nan)
        self.raw_water_bits = np.zeros(h, dtype=np.int64)
        self.other_bits = np.zeros(h, dtype=np.int64)
        self.away_bits = np.zeros(h, dtype=np.int64)
        self.raw_water_run = np.zeros(h, dtype=np.int64)
        self.weekly_streak = np.zeros((h, SLOTS_PER_WEEK), dtype=np.int8)
        self.weekly_lo = np.full((h, SLOTS_PER_WEEK), np.nan, dtype=np.float32)
        self.weekly_hi = np.full((h, SLOTS_PER_WEEK), np.nan, dtype=np.float32)
        self.weekly_run = np.zeros((h, SLOTS_PER_WEEK), dtype=np.int8)
        self.nights_at = np.zeros(h, dtype=np.int64)
        self.hours_equal = np.zeros((h, 3), dtype=np.int64)
        self.hours_unequal = np.zeros((h, 3), dtype=np.int64)
        self.gas_run_total = np.zeros(h)
        self.gas_run_peak = np.zeros(h)
        self.auto_hi = np.full((h, 3), np.nan)
        self.auto_change = np.full((h, 3), np.nan)
        self.auto_lo = np.full((h, 3), np.nan)
        self.elec_bits = np.zeros(h, dtype=np.int64)
        self.person_bits = np.zeros(h, dtype=np.int64)
        self.water_bits = np.zeros(h, dtype=np.int64)
        self.mornings = np.full((h, MORNINGS), -1, dtype=np.int64)
        self.quiet_days = np.full((h, MORNINGS), -1, dtype=np.int64)
        self.quiet_today = np.zeros(h, dtype=np.int64)
        self.quiet_usual = np.full(h, -1, dtype=np.int64)
        self.quiet_starts = np.full((h, MORNINGS), -1, dtype=np.int64)
        self.quiet_start_today = np.zeros(h, dtype=np.int64)
        self.gone_to_bed = np.zeros(h, dtype=bool)
        self.bedtime_early = np.full(h, -1, dtype=np.int64)
        self.rising_late = np.full(h, -1, dtype=np.int64)
        self.mornings_at = np.zeros(h, dtype=np.int64)
        self.incident_open = np.zeros((h, len(FAMILIES)), dtype=bool)
        self.incident_kinds = np.zeros((h, len(FAMILIES)), dtype=np.int64)
        self.incident_calm = np.zeros((h, len(FAMILIES)), dtype=np.int64)
