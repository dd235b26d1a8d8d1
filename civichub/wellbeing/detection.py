"""Household wellbeing detection over utility-meter readings: pure NumPy, no Django.

The detector works on a common half-hour grid ("slots") for many households at once. The caller
(ingestion) turns register values and interval readings into consumption per slot and per utility
(water m³, electricity kWh, gas m³); a slot with no reading is NaN, never zero, because a missing
reading says nothing about whether anybody used water. Each call to `WellbeingDetector.process`
takes the next slots for every household as one array of shape (households, slots, 3) and returns
the alerts those slots raise. Time is looped over (one step per half hour); households are never
looped over, so one step costs the same few dozen array operations for ten households or a
million.

Two families of rules run side by side:

- Fixed rules that the deployment configures (`Rules`), defaulting to the Chinese water-meter
  practice: less than 0.01 m³ in 12 h is no use; more than 2 m³ in 24 h is high use; water used in
  every half hour for 24 h is a leak; gas flowing for more than 3 h without a break is a stove
  left on; six hours without readings is a data gap; a meter flagged faulty, or an electricity
  meter stuck at exactly zero for a day (a home always draws standby), is a meter fault.
- A learned routine per household: the probability of activity in each hour of the week and the
  usual time of first use in the morning, exponentially weighted so that the routine follows a
  changed life within a few weeks (half-life `Rules.half_life_weeks`), and the daily totals. From
  it come the alerts a fixed rule cannot give: a quiet spell that is improbable for this household
  at this time of the week (long before 12 h pass), activity at night where this household is
  never active, no first use by the usual hour, and a sudden change of level over several days.
  These rules stay silent until `Rules.learning_weeks` weeks of readings have been seen.

Periods marked away (travel, a stay with children, hospital) silence the rules that look for
absence of use and are not learned from. An alert fires once when its condition starts and is not
repeated until the condition has cleared.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

SLOT_MINUTES = 30
SLOTS_PER_HOUR = 60 // SLOT_MINUTES
SLOTS_PER_DAY = 24 * SLOTS_PER_HOUR
SLOTS_PER_WEEK = 7 * SLOTS_PER_DAY
HOURS_PER_WEEK = 7 * 24
# Slot 0 starts on a Monday at 00:00 local time, so slot arithmetic gives the hour of the week.
EPOCH = datetime(1970, 1, 5)  # noqa: DTZ001 - local wall-clock time of the deployment

WATER, ELECTRICITY, GAS = 0, 1, 2
UTILITIES = ("water", "electricity", "gas")
UNITS = ("m³", "kWh", "m³")

# The activity day starts at 04:00, so that "first use of the day" never wraps round midnight.
DAY_START_SLOT = 4 * SLOTS_PER_HOUR

Float = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]
Int = npt.NDArray[np.int64]


class Kind:
    NO_USE = "no_use"
    INACTIVITY = "unusual_inactivity"
    HIGH_USE = "high_water_use"
    CONTINUOUS_FLOW = "continuous_flow"
    GAS_LONG_FLOW = "gas_long_flow"
    NIGHT_ACTIVITY = "night_activity"
    NO_FIRST_USE = "no_first_use"
    LEVEL_CHANGE = "level_change"
    DATA_GAP = "data_gap"
    METER_FAULT = "meter_fault"


class Severity:
    URGENT = "urgent"
    WARNING = "warning"
    INFO = "info"


SEVERITY = {
    Kind.NO_USE: Severity.URGENT,
    Kind.INACTIVITY: Severity.URGENT,
    Kind.GAS_LONG_FLOW: Severity.URGENT,
    Kind.CONTINUOUS_FLOW: Severity.WARNING,
    Kind.HIGH_USE: Severity.WARNING,
    Kind.NIGHT_ACTIVITY: Severity.WARNING,
    Kind.NO_FIRST_USE: Severity.WARNING,
    Kind.LEVEL_CHANGE: Severity.INFO,
    Kind.DATA_GAP: Severity.INFO,
    Kind.METER_FAULT: Severity.INFO,
}

EXPLANATION = {
    Kind.NO_USE: "Only {water_12h_l:.0f} litres of water were used in the last {hours:.0f} hours "
    "(the rule is less than {limit_l:.0f} litres). The last water use was {since_use_h:.1f} hours "
    "ago.",
    Kind.INACTIVITY: "No water or electricity use above standby for {quiet_h:.1f} hours, at times "
    "when this household is usually active (a quiet spell this long happens less than once in "
    "{odds:,.0f} at these hours of the week).",
    Kind.HIGH_USE: "{water_24h_m3:.2f} m³ of water were used in the last 24 hours (the rule is "
    "more than {limit_m3:.1f} m³; the usual daily use is {usual_m3:.2f} m³).",
    Kind.CONTINUOUS_FLOW: "Water has been used in every half hour for {hours:.0f} hours without a "
    "break: a tap left running or a leak.",
    Kind.GAS_LONG_FLOW: "Gas has been flowing without a break for {hours:.1f} hours (the rule is "
    "{limit_h:.1f} hours): a stove may have been left on.",
    Kind.NIGHT_ACTIVITY: "Activity at night for {hours:.1f} hours, at an hour when this household "
    "is active on fewer than {usual_pct:.0f} % of nights.",
    Kind.NO_FIRST_USE: "No water or electricity used yet today; usually the first use is by "
    "{usual_first:s} and it is now {now:s}.",
    Kind.LEVEL_CHANGE: "Daily {utility:s} use has been {ratio:.1f} times the usual level for "
    "{days:d} days running ({recent:.2f} {unit:s} a day against {usual:.2f}).",
    Kind.DATA_GAP: "No {utility:s} readings for {hours:.1f} hours: the meter or its connection may "
    "be down. This is not the same as no use.",
    Kind.METER_FAULT: "The {utility:s} meter reports a fault ({reason:s}); its readings are not "
    "used as evidence of use or of no use.",
}


@dataclass(frozen=True)
class Rules:
    """What the deployment configures; the defaults are the Chinese water-meter rules."""

    no_use_hours: float = 12.0
    no_use_water_m3: float = 0.01
    # Share of the window's half hours that must have a water reading; a reading or two lost in
    # transit does not hold back the alert, a real gap does (and raises a data-gap alert).
    no_use_coverage: float = 0.9
    high_water_m3_per_day: float = 2.0
    continuous_flow_hours: float = 24.0
    gas_max_flow_hours: float = 3.0
    gap_hours: float = 6.0
    stuck_zero_hours: float = 24.0
    water_use_m3: float = 0.001  # a slot with at least a litre of water is a use
    wash_m3: float = 0.015  # more than a toilet flush: a wash or a shower, someone is up
    gas_use_m3: float = 0.005
    electricity_margin_kwh: float = 0.03  # above the learned standby by this much is activity
    learning_weeks: float = 3.0
    standby_half_life_days: float = 2.0
    half_life_weeks: float = 4.0
    inactivity_probability: float = 1e-7
    active_probability_cap: float = 0.9
    night_start_hour: int = 0
    night_end_hour: int = 5
    night_rare_probability: float = 0.15
    night_min_hours: float = 1.5
    first_use_grace_hours: float = 2.0
    # Learned leak and stove rules: water in every half hour for a spell this household's
    # routine makes this improbable (and at least `flow_min_hours` long), gas flowing an hour
    # longer than this household's longest cooking lately (and at least `gas_min_learned_hours`).
    flow_probability: float = 1e-7
    flow_min_hours: float = 3.0
    gas_min_learned_hours: float = 1.5
    level_change_ratio: float = 2.0
    level_change_days: int = 3

    def slots(self, hours: float) -> int:
        return max(1, round(hours * SLOTS_PER_HOUR))


@dataclass
class Alert:
    household: int  # row in the detector's state
    kind: str
    slot: int  # the half hour whose reading raised it
    evidence: dict[str, Any]

    @property
    def severity(self) -> str:
        return SEVERITY[self.kind]

    @property
    def at(self) -> datetime:
        return slot_end(self.slot)

    @property
    def explanation(self) -> str:
        return EXPLANATION[self.kind].format(**self.evidence)


def slot_of(moment: datetime) -> int:
    """The slot holding `moment` (naive local time, or aware and taken in its own zone)."""
    naive = moment.replace(tzinfo=None)
    return int((naive - EPOCH) // timedelta(minutes=SLOT_MINUTES))


def slot_start(slot: int) -> datetime:
    return EPOCH + timedelta(minutes=SLOT_MINUTES * slot)


def slot_end(slot: int) -> datetime:
    return slot_start(slot + 1)


def _clock(slot_in_day: float) -> str:
    minutes = int(round(slot_in_day * SLOT_MINUTES)) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


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
    missing_run: Int = field(init=False)  # (H, 3) consecutive slots without a reading
    zero_run: Int = field(init=False)  # (H, 3) consecutive readings of exactly zero
    water_run: Int = field(init=False)  # consecutive half hours with water use
    gas_run: Int = field(init=False)
    since_water: Int = field(init=False)  # slots since the last water use
    # Slots since the last sign of someone about: water, gas, or electricity switched (a change
    # between half hours; a lamp or television left on is a steady level, not a sign).
    since_stir: Int = field(init=False)
    p_water: Float = field(init=False)  # (H, 168) learned probability of a water draw
    flow_log_p: Float = field(init=False)  # log probability of the current run of water draws
    gas_longest: Float = field(init=False)  # usual longest gas run of a day, decaying
    gas_day_longest: Int = field(init=False)
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

    def __post_init__(self) -> None:
        h = self.meters.shape[0]
        self.ring = np.zeros((h, SLOTS_PER_DAY, 3))
        self.ring_present = np.zeros((h, SLOTS_PER_DAY, 3), dtype=bool)
        self.sum12 = np.zeros((h, 3))
        self.sum24 = np.zeros((h, 3))
        self.count12 = np.zeros((h, 3), dtype=np.int64)
        self.count24 = np.zeros((h, 3), dtype=np.int64)
        self.missing_run = np.zeros((h, 3), dtype=np.int64)
        self.zero_run = np.zeros((h, 3), dtype=np.int64)
        self.water_run = np.zeros(h, dtype=np.int64)
        self.gas_run = np.zeros(h, dtype=np.int64)
        self.since_water = np.zeros(h, dtype=np.int64)
        self.since_stir = np.zeros(h, dtype=np.int64)
        self.p_water = np.full((h, HOURS_PER_WEEK), 0.5)
        self.flow_log_p = np.zeros(h)
        self.gas_longest = np.zeros(h)
        self.gas_day_longest = np.zeros(h, dtype=np.int64)
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


class WellbeingDetector:
    """Incremental detection over many households; see the module docstring."""

    def __init__(self, meters: npt.ArrayLike, rules: Rules | None = None) -> None:
        self.rules = rules or Rules()
        self.state = DetectorState(meters=np.asarray(meters, dtype=bool).reshape(-1, 3))
        # States saved at day boundaries, oldest first, so that readings arriving late can be
        # detected again from the last boundary before them (see `snapshot` and `restore`).
        self.checkpoints: list[DetectorState] = []
        # The readings (slots, 3) seen since the oldest checkpoint, for one household: the caller
        # compares them with what is stored now to find the half hours a late reading changed.
        self.seen: Float = np.zeros((0, 3))
        # Weight of one observation of an hour-of-week bin: each bin is seen twice a week.
        self.alpha_week = 1.0 - 0.5 ** (1.0 / (2 * self.rules.half_life_weeks))
        self.alpha_day = 1.0 - 0.5 ** (1.0 / (7 * self.rules.half_life_weeks))
        # The standby is a property of the appliances (a new fridge, a heater for the winter)
        # and follows them within days, not weeks.
        self.alpha_standby = 1.0 - 0.5 ** (1.0 / self.rules.standby_half_life_days)

    @property
    def households(self) -> int:
        return int(self.state.meters.shape[0])

    def process(
        self,
        readings: npt.ArrayLike,
        start_slot: int,
        *,
        away: npt.ArrayLike | None = None,
        fault: npt.ArrayLike | None = None,
    ) -> list[Alert]:
        """Consume the slots `start_slot, start_slot + 1, ...` for every household.

        `readings` has shape (households, slots, 3), NaN where there is no reading. `away` marks
        (households, slots) the household said it was away; `fault` marks (households, slots, 3)
        readings the meter or ingestion flagged as faulty. Slots must follow on from the last
        processed one (a gap in time is passed as NaN readings)."""
        values = np.asarray(readings, dtype=np.float64)
        if values.ndim != 3 or values.shape[0] != self.households or values.shape[2] != 3:
            raise ValueError("readings must have shape (households, slots, 3)")
        slots = values.shape[1]
        if self.state.slot >= 0 and start_slot != self.state.slot + 1:
            raise ValueError(f"expected slot {self.state.slot + 1}, got {start_slot}")
        away_mask = (
            np.zeros((self.households, slots), dtype=bool)
            if away is None
            else np.asarray(away, dtype=bool).reshape(self.households, slots)
        )
        fault_mask = (
            np.zeros(values.shape, dtype=bool)
            if fault is None
            else np.asarray(fault, dtype=bool).reshape(values.shape)
        )
        alerts: list[Alert] = []
        for t in range(slots):
            self._step(values[:, t, :], start_slot + t, away_mask[:, t], fault_mask[:, t], alerts)
        return alerts

    def snapshot(self) -> DetectorState:
        """A copy of everything the detector remembers, to go back to with `restore`."""
        return copy.deepcopy(self.state)

    def restore(self, state: DetectorState) -> None:
        self.state = copy.deepcopy(state)

    def tune(self, household: int, *, false_alarm: bool) -> float:
        """A visit's outcome adjusts the learned rules for that household: a false alarm makes
        them ask for a quarter more evidence (up to twice the default), a real incident brings
        them back to the default. The fixed rules are the deployment's and stay as they are."""
        current = float(self.state.sensitivity[household])
        updated = min(current * 1.25, 2.0) if false_alarm else 1.0
        self.state.sensitivity[household] = updated
        for saved in self.checkpoints:  # a replay from a checkpoint keeps the outcome's lesson
            saved.sensitivity[household] = updated
        return updated

    def _fire(
        self, kind: str, condition: Any, slot: int, alerts: list[Alert], evidence: Any
    ) -> None:
        """Raise `kind` where `condition` starts to hold; `evidence(rows)` gives a dict per row."""
        condition = np.asarray(condition, dtype=bool)
        was = self.state.active[kind]
        rows = np.flatnonzero(condition & ~was)
        self.state.active[kind] = condition
        if rows.size:
            for row, facts in zip(rows.tolist(), evidence(rows), strict=True):
                alerts.append(Alert(household=row, kind=kind, slot=slot, evidence=facts))

    def _step(self, x: Float, slot: int, away: Bool, fault: Bool, alerts: list[Alert]) -> None:
        s, r = self.state, self.rules
        meters = s.meters
        present = ~np.isnan(x) & ~fault & meters
        x0 = np.where(present, x, 0.0)
        ring_at = slot % SLOTS_PER_DAY
        half_ago = (slot - SLOTS_PER_DAY // 2) % SLOTS_PER_DAY
        previous = (slot - 1) % SLOTS_PER_DAY
        elec_change = np.where(
            present[:, ELECTRICITY] & s.ring_present[:, previous, ELECTRICITY],
            x0[:, ELECTRICITY] - s.ring[:, previous, ELECTRICITY],
            0.0,
        )
        # The standby wobbles in proportion to itself (a fridge's cycles), so the margin that
        # tells an appliance from the standby grows with it.
        margin = np.maximum(r.electricity_margin_kwh, 0.25 * np.nan_to_num(s.standby))
        elec_switch = np.abs(elec_change) > margin
        elec_switch_on = elec_change > margin
        s.sum12 += x0 - s.ring[:, half_ago, :]
        s.count12 += present.astype(np.int64) - s.ring_present[:, half_ago, :]
        s.sum24 += x0 - s.ring[:, ring_at, :]
        s.count24 += present.astype(np.int64) - s.ring_present[:, ring_at, :]
        s.ring[:, ring_at, :] = x0
        s.ring_present[:, ring_at, :] = present
        s.missing_run = np.where(present, 0, s.missing_run + 1)
        s.zero_run = np.where(
            present & (x0 == 0.0), s.zero_run + 1, np.where(present, 0, s.zero_run)
        )

        hour_of_week = (slot // SLOTS_PER_HOUR) % HOURS_PER_WEEK
        slot_in_day = slot % SLOTS_PER_DAY
        hour = slot_in_day // SLOTS_PER_HOUR
        learned = s.learned_slots >= r.learning_weeks * SLOTS_PER_WEEK

        water_use = present[:, WATER] & (x0[:, WATER] >= r.water_use_m3)
        gas_use = present[:, GAS] & (x0[:, GAS] >= r.gas_use_m3)
        standby = np.where(np.isnan(s.standby), np.inf, s.standby)
        elec_use = present[:, ELECTRICITY] & (x0[:, ELECTRICITY] > standby + margin)
        activity = water_use | gas_use | elec_use
        # A slot tells us about activity only if a meter that would show it was read.
        observed = present[:, WATER] | present[:, ELECTRICITY] & ~np.isnan(s.standby)

        s.water_run = np.where(
            water_use, s.water_run + 1, np.where(present[:, WATER], 0, s.water_run)
        )
        s.gas_run = np.where(gas_use, s.gas_run + 1, np.where(present[:, GAS], 0, s.gas_run))
        # Time away does not count towards a silence: the clock starts when the household is back.
        s.since_water = np.where(water_use | away, 0, s.since_water + 1)
        s.since_stir = np.where(water_use | gas_use | elec_switch | away, 0, s.since_stir + 1)
        # How improbable is this run of water draws for this household at these hours?
        pw = np.clip(
            s.p_water[:, hour_of_week], 1.0 - r.active_probability_cap, r.active_probability_cap
        )
        s.flow_log_p = np.where(
            water_use,
            s.flow_log_p + np.log(pw),
            np.where(present[:, WATER], 0.0, s.flow_log_p),
        )
        s.gas_day_longest = np.maximum(s.gas_day_longest, s.gas_run)

        # Learned quiet spell: how improbable is this much quiet for this household, now?
        p = np.clip(
            s.p_active[:, hour_of_week], 1.0 - r.active_probability_cap, r.active_probability_cap
        )
        quiet = observed & ~activity
        reset = activity | away
        s.quiet_run = np.where(reset, 0, np.where(quiet, s.quiet_run + 1, s.quiet_run))
        s.quiet_log_p = np.where(
            reset, 0.0, np.where(quiet, s.quiet_log_p + np.log1p(-p), s.quiet_log_p)
        )

        # Night activity where this household is rarely active.
        night = r.night_start_hour <= hour < r.night_end_hour
        # Nights are alike through the week, so the rarity is judged over all seven of them.
        rare = s.p_active[:, hour::24].mean(axis=1) < r.night_rare_probability
        # Someone up at night switches something on (lights, a kettle, the television) or lights
        # the stove, and it counts for as long as it stays on. Toilet flushes in the dark are
        # not it, nor a heater or a lamp left on all evening (a steady level, switched on before
        # the night). Without an electricity meter, water in two half hours running is.
        up_at_night = (
            elec_switch_on
            | gas_use
            | (elec_use & (s.night_run > 0))
            | (water_use & (s.water_run >= 2) & ~meters[:, ELECTRICITY])
        )
        # Rarity is judged when the spell starts (the spell itself teaches the routine a little);
        # a half hour whose electricity reading was lost neither extends nor ends it.
        seen_up = np.where(meters[:, ELECTRICITY], present[:, ELECTRICITY], observed)
        s.night_run = np.where(
            night & up_at_night & (rare | (s.night_run > 0)),
            s.night_run + 1,
            np.where(seen_up, 0, s.night_run),
        )

        # First use of the activity day.
        day_slot = (slot - DAY_START_SLOT) % SLOTS_PER_DAY
        if day_slot == 0:
            s.first_use_today[:] = -1
            s.away_today[:] = False
            s.morning_missing[:] = 0
        s.away_today |= away
        # Getting up is activity in two of three half hours running, with lights, appliances or
        # the stove in one of them where there is an electricity meter (a toilet visit at night
        # is water alone); the first use is the earliest of them. Two of three, not two in a
        # row, so that a quiet half hour after the morning wash does not put the first use late.
        up = elec_use | gas_use | ~meters[:, ELECTRICITY] | (x0[:, WATER] >= r.wash_m3)
        this_up = up & activity
        count = activity.astype(np.int64) + s.last_active + s.active_before
        # A wash or a shower, or water drawn with the lights or an appliance on in the same half
        # hour (the kettle), is getting up on its own: some go out straight after.
        washing = water_use & (elec_use | gas_use | (x0[:, WATER] >= r.wash_m3))
        getting_up = washing | (count >= 2) & (this_up | s.last_up | s.up_before)
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

        # --- fixed rules ---
        water_metered = meters[:, WATER]
        # The rolling sums cover 12 h and 24 h, the two windows deployments use.
        window_sum = s.sum12 if r.no_use_hours <= 12 else s.sum24
        window_count = s.count12 if r.no_use_hours <= 12 else s.count24
        no_use = (
            water_metered
            & (window_count[:, WATER] >= r.no_use_coverage * r.slots(min(r.no_use_hours, 24)))
            & (window_sum[:, WATER] < r.no_use_water_m3)
            & (s.since_water >= r.slots(r.no_use_hours))
            # Every meter must agree: gas used or electricity switched in the window means
            # someone was about, whatever the water meter says.
            & (s.since_stir >= r.slots(r.no_use_hours))
            & ~away
        )
        self._fire(
            Kind.NO_USE,
            no_use,
            slot,
            alerts,
            lambda rows: [
                {
                    "water_12h_l": max(0.0, 1000 * window_sum[i, WATER]),
                    "hours": r.no_use_hours,
                    "limit_l": 1000 * r.no_use_water_m3,
                    "since_use_h": s.since_water[i] / SLOTS_PER_HOUR,
                }
                for i in rows
            ],
        )
        high = water_metered & (s.sum24[:, WATER] > r.high_water_m3_per_day)
        self._fire(
            Kind.HIGH_USE,
            high,
            slot,
            alerts,
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
            & (s.flow_log_p < math.log(r.flow_probability) * s.sensitivity)
        )
        self._fire(
            Kind.CONTINUOUS_FLOW,
            flow,
            slot,
            alerts,
            lambda rows: [{"hours": s.water_run[i] / SLOTS_PER_HOUR} for i in rows],
        )
        gas_learned = np.maximum(
            r.slots(r.gas_min_learned_hours), (s.gas_longest + SLOTS_PER_HOUR) * s.sensitivity
        )
        gas_long = (s.gas_run >= r.slots(r.gas_max_flow_hours)) | (
            learned & (s.gas_run >= gas_learned)
        )
        self._fire(
            Kind.GAS_LONG_FLOW,
            gas_long,
            slot,
            alerts,
            lambda rows: [
                {"hours": s.gas_run[i] / SLOTS_PER_HOUR, "limit_h": r.gas_max_flow_hours}
                for i in rows
            ],
        )
        gap = meters & (s.missing_run >= r.slots(r.gap_hours)) & ~fault
        self._fire(
            Kind.DATA_GAP,
            gap.any(axis=1),
            slot,
            alerts,
            lambda rows: [
                {
                    "utility": UTILITIES[int(np.argmax(gap[i]))],
                    "hours": s.missing_run[i, int(np.argmax(gap[i]))] / SLOTS_PER_HOUR,
                }
                for i in rows
            ],
        )
        stuck = s.zero_run[:, ELECTRICITY] >= r.slots(r.stuck_zero_hours)
        faulty = (fault & meters).any(axis=1) | stuck
        self._fire(
            Kind.METER_FAULT,
            faulty,
            slot,
            alerts,
            lambda rows: [
                {
                    "utility": UTILITIES[int(np.argmax(fault[i]))]
                    if fault[i].any()
                    else "electricity",
                    "reason": "fault flag on the reading"
                    if fault[i].any()
                    else "exactly zero for a whole day, below any standby",
                }
                for i in rows
            ],
        )

        # --- learned rules ---
        inactive = (
            learned & (s.quiet_log_p < math.log(r.inactivity_probability) * s.sensitivity) & ~away
        )
        self._fire(
            Kind.INACTIVITY,
            inactive,
            slot,
            alerts,
            lambda rows: [
                {
                    "quiet_h": s.quiet_run[i] / SLOTS_PER_HOUR,
                    "odds": math.exp(-s.quiet_log_p[i]),
                }
                for i in rows
            ],
        )
        night_alert = learned & (s.night_run >= r.slots(r.night_min_hours))
        self._fire(
            Kind.NIGHT_ACTIVITY,
            night_alert,
            slot,
            alerts,
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
        spread = s.sensitivity * np.maximum(
            r.first_use_grace_hours * SLOTS_PER_HOUR, 3.0 * deviation
        )
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
            & ~s.active[Kind.NO_USE]
            & ~s.active[Kind.INACTIVITY]
        )
        self._fire(
            Kind.NO_FIRST_USE,
            late,
            slot,
            alerts,
            lambda rows: [
                {
                    "usual_first": _clock(DAY_START_SLOT + s.first_use_mean[i]),
                    "now": _clock(slot_in_day + 1),
                }
                for i in rows
            ],
        )

        # --- learning (not while away, so a trip does not become the routine) ---
        learn = observed & ~away
        # A plain mean over the first weeks, then exponential forgetting.
        seen = s.p_seen[:, hour_of_week]
        a = np.maximum(self.alpha_week, 1.0 / (seen + 1))
        s.p_active[:, hour_of_week] = np.where(
            learn,
            s.p_active[:, hour_of_week] + a * (activity - s.p_active[:, hour_of_week]),
            s.p_active[:, hour_of_week],
        )
        learn_water = present[:, WATER] & ~away
        s.p_water[:, hour_of_week] = np.where(
            learn_water,
            s.p_water[:, hour_of_week] + a * (water_use - s.p_water[:, hour_of_week]),
            s.p_water[:, hour_of_week],
        )
        s.p_seen[:, hour_of_week] = seen + learn
        s.last_observed = observed
        s.learned_slots += learn
        s.day_min_elec = np.where(
            present[:, ELECTRICITY], np.minimum(s.day_min_elec, x0[:, ELECTRICITY]), s.day_min_elec
        )
        s.day_total += x0
        s.day_count += present
        if day_slot == SLOTS_PER_DAY - 1:
            self._end_of_activity_day(s.away_today)
        if slot_in_day == SLOTS_PER_DAY - 1:
            self._end_of_day(slot, alerts, away)
        s.slot = slot

    def _end_of_activity_day(self, away: Bool) -> None:
        s, ad = self.state, self.alpha_day
        # Until the standby is known, lights and appliances cannot be told from it, so a first
        # use seen then is not learned.
        known = ~np.isnan(s.standby) | ~s.meters[:, ELECTRICITY]
        seen = (s.first_use_today >= 0) & ~away & known
        first = s.first_use_today.astype(np.float64)
        warm = s.first_use_days == 0
        # A plain mean over the first week, then exponential forgetting. Clipped once the
        # routine is known, so that one unusual morning (a lie-in, a night up) moves it a little
        # and does not widen the band for weeks.
        a = np.maximum(ad, 1.0 / (s.first_use_days + 1))
        raw = first - s.first_use_mean
        clipped = np.clip(raw, -2.0 * SLOTS_PER_HOUR, 2.0 * SLOTS_PER_HOUR)
        delta = np.where(s.first_use_days >= 7, clipped, raw)
        mean = np.where(warm, first, s.first_use_mean + a * delta)
        var = np.where(warm, 4.0, (1 - a) * (s.first_use_var + a * delta * delta))
        s.first_use_mean = np.where(seen, mean, s.first_use_mean)
        s.first_use_var = np.where(seen, var, s.first_use_var)
        s.first_use_days += seen

    def _end_of_day(self, slot: int, alerts: list[Alert], away: Bool) -> None:
        s, r, ad = self.state, self.rules, self.alpha_day
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
                s.standby + self.alpha_standby * (minimum - s.standby),
            ),
            s.standby,
        )
        total = s.day_total * SLOTS_PER_DAY / np.maximum(s.day_count, 1)
        log_total = np.log(np.maximum(total, 1e-3))
        usual = s.usual_log_daily
        established = s.usual_days >= 14
        deviation = log_total - usual
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
        self._fire(
            Kind.LEVEL_CHANGE,
            changed.any(axis=1),
            slot,
            alerts,
            lambda rows: [
                {
                    "utility": UTILITIES[u],
                    "ratio": math.exp(deviation[i, u]),
                    "days": int(max(abs(s.level_run[i, u]), s.level_days[i, u])),
                    "recent": total[i, u],
                    "unit": UNITS[u],
                    "usual": math.exp(usual[i, u]),
                }
                for i in rows
                for u in [int(np.argmax(changed[i]))]
            ],
        )
        learn = full & ~away[:, None]
        # A plain mean over the first weeks, then exponential forgetting.
        a = np.maximum(ad, 1.0 / (s.usual_days + 1))
        s.usual_log_daily = np.where(learn, usual + a * deviation, usual)
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
            ~away, np.maximum(cooked, s.gas_longest + ad * (cooked - s.gas_longest)), s.gas_longest
        )
        s.gas_day_longest[:] = 0
        s.day_total[:] = 0.0
        s.day_count[:] = 0
        s.day_min_elec[:] = np.inf
