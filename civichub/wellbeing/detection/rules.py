"""What the detector can raise (kinds, severities, the explanation of each) and the rules the
deployment configures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from civichub.wellbeing.detection.grid import SLOTS_PER_HOUR, slot_end


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

# Kinds that describe the same incident: while one of them is open for a household, another
# kind of its family updates the open alert (a follow-up) instead of raising a second one.
FAMILIES = ("absence", "water", "gas", "night", "level", "gap", "fault")
FAMILY = {
    Kind.NO_USE: "absence",
    Kind.INACTIVITY: "absence",
    Kind.NO_FIRST_USE: "absence",
    Kind.CONTINUOUS_FLOW: "water",
    Kind.HIGH_USE: "water",
    Kind.GAS_LONG_FLOW: "gas",
    Kind.NIGHT_ACTIVITY: "night",
    Kind.LEVEL_CHANGE: "level",
    Kind.DATA_GAP: "gap",
    Kind.METER_FAULT: "fault",
}
KIND_BIT = {kind: 1 << n for n, kind in enumerate(SEVERITY)}
SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.URGENT: 2}

# Readings arrive as litres and watt-hours turned into m³ and kWh, so a value exactly at a
# threshold may sit a rounding error either side of it (0.030000000000000002 kWh): every
# comparison with a threshold allows this much (a millilitre, a milliwatt-hour).
TOLERANCE = 1e-6

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
    # Some households go 12 hours without a sign of anybody on ordinary nights (an idle evening
    # with the television, no toilet at night, a late riser). Where the household's own
    # second longest quiet spell of the last four weeks was longer than the rule's window,
    # no use waits for that spell and an hour more, at most this many hours beyond the window.
    no_use_quiet_extra_hours: float = 0.0
    # The window's water is what a person drew (what runs by itself left out). Set, it is all
    # the window's water less the learned trickle, as it was before: a trickle on a coarse
    # register then adds up to more than the rule's limit (kept for the benchmark's baseline).
    no_use_counts_automatic_water: bool = False
    # A person asleep is no sign of anybody either, and some sleep long (on its own, on the
    # tuning seeds three hours of it halved no-use false alarms and lost 3-4 points of falls
    # caught within the window, whose quiet began an hour or two before bedtime; when set, it
    # needs the lights switched off, `no_use_sleep_needs_lights_out`): while the spell
    # began no earlier than this household's own early bedtime (the second earliest start of
    # its nights' quiet in four weeks) less `no_use_bedtime_margin_hours`, and it is not yet
    # past its own late rising (the second latest first use of four weeks) and
    # `no_use_rising_margin_hours`, no use waits, at most this many hours beyond the window.
    # A spell that began before the household's bedtime (a fall in the evening) never waits.
    no_use_sleep_extra_hours: float = 0.0
    no_use_bedtime_margin_hours: float = 1.0
    no_use_rising_margin_hours: float = 1.0
    # ... only where the lights were switched off, down to what runs by itself, in the
    # household's own evening after the last sign of a person: somebody going to bed, not
    # somebody who fell with the lamp or the television left on. With three hours above, on
    # tuning seeds 5-8 it cut no-use false alarms by an eighth (15.9 -> 13.9 per 100
    # household-months, 600 households) and lost no fall there, but one in 40 falls of 12 hours
    # or more in another 300 households: the wait stays off; when it is set, it needs this.
    no_use_sleep_needs_lights_out: bool = True
    # Lights or the television switched off at once, from above what runs by itself down to
    # it, in the household's own evening, as somebody going to bed: the quiet spell of a quiet
    # evening (the television on, no water after supper) then starts there, not at supper. An
    # option, off: on tuning seeds 5-20 it cut no-use false alarms by a tenth and lost four
    # points of falls caught within the window (somebody who switches off and falls on the
    # way to bed looks the same).
    no_use_lights_out_is_stir: bool = False
    high_water_m3_per_day: float = 2.0
    continuous_flow_hours: float = 24.0
    gas_max_flow_hours: float = 3.0
    gap_hours: float = 6.0
    stuck_zero_hours: float = 24.0
    water_use_m3: float = 0.001  # a slot with at least a litre of water is a use
    wash_m3: float = 0.015  # more than a toilet flush: a wash or a shower, someone is up
    gas_use_m3: float = 0.005
    # A burner on its lowest flame burns about 0.05 m³ an hour: less in a half hour is the
    # tail of a meal (or a meter's resolution), not a stove left on.
    stove_flow_m3: float = 0.02
    # Water in a half hour from which on gas burnt with it may be heating it.
    hot_water_m3: float = 0.02
    electricity_margin_kwh: float = 0.03  # above the learned standby by this much is activity
    learning_weeks: float = 3.0
    standby_half_life_days: float = 2.0
    half_life_weeks: float = 4.0
    inactivity_probability: float = 1e-10
    active_probability_cap: float = 0.9
    # A household that draws water in nearly every half hour of its day (an hourly meter shows
    # each draw in two) must not make a busy day look like a leak: water drawn at hours it
    # usually draws counts as little as this allows.
    flow_probability_cap: float = 0.98
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
    # ... and longer by this much than this household's own longest run of draws in a day
    # lately: draws are not independent hour by hour (a day at home draws in every hour, a day
    # out in none), so the improbability alone calls a busy day a leak.
    flow_beyond_longest_hours: float = 4.0
    # ... counting the two half hours of one hourly reading split evenly between them once
    # (see `features._runs`; off, as before, counted twice).
    flow_counts_a_split_reading_once: bool = True
    gas_min_learned_hours: float = 1.5
    # A stove is lit by somebody up and about: water drawn or electricity switched by a person
    # within this long before its run began. A run that began without (a boiler firing in the
    # night on its thermostat, before the nights have taught its pattern) is not a stove.
    lit_hours: float = 4.0
    # Between `night_start_hour` and `night_end_hour`, a run is lit by somebody only where
    # somebody is seen up then (see `features._runs`); off, a toilet visit within `lit_hours`
    # made a boiler's first cold night a stove left on.
    night_stove_needs_someone_up: bool = True
    # A meter read hourly shows a stove's run in whole hours: three readings with gas may be
    # a meal of an hour and a bit across two hour boundaries. Where the household's gas comes
    # in hourly readings (split evenly over two half hours, never otherwise), a run is as
    # long as its gas over the fullest reading's rate (a flame left on burns at one rate; a
    # meal's flames vary), and the stove rules need this flame time to reach this share of
    # their length. Off, as before: every half hour of the run counts in full.
    stove_hourly_needs_flame_time: bool = True
    stove_flame_time_share: float = 0.9
    level_change_ratio: float = 2.0
    level_change_days: int = 3
    # What runs by itself (a fridge, a water heater, a boiler or heating on a thermostat, a
    # cistern that leaks a little) is learned from the hours when nearly everybody sleeps, over
    # the last `automatic_nights` nights: the highest electricity and gas levels and the largest
    # change of electricity between half hours seen then, and the least water. Only what that
    # pattern cannot explain counts as a sign of a person.
    automatic_start_hour: int = 0
    automatic_end_hour: int = 5
    automatic_nights: int = 7
    automatic_change_factor: float = 1.25
    # A cistern leaking more than this (240 litres a day) is a leak to mend, not a pattern.
    trickle_max_m3: float = 0.005
    # Water that draws itself every night (a purifier flushing its membrane every few hours, a
    # trickle that a register of 10 litres shows as a step now and then): the second smallest
    # of the nights' largest readings, up to this much, is no sign of a person (a toilet flush
    # is 6-9 litres; a night without a toilet visit keeps it out).
    automatic_draw_max_m3: float = 0.0015
    # ... the median of the nights' largest readings rather than the second smallest: a
    # purifier flushing every three to six hours shows in the five night hours on most nights,
    # not on every one. An option, off: on tuning seeds 5-8 it caught one fall more in 600
    # households and none in another 300, and raised 0.6-1.3 more false alarms per 100
    # household-months (a person's small draws at night learned as a purifier's).
    automatic_draw_most_nights: bool = False
    # Water that draws itself at the same half hour of the same weekday (a washing machine or a
    # dishwasher on a timer, at night rates or before dawn): a draw at a half hour of the week
    # where, in each of the last `automatic_weekly_weeks` weeks, water was drawn in a run of at
    # most three half hours with no other sign of a person within
    # `automatic_weekly_isolation_hours` of it (no switch counted as a person, no gas, no other
    # water), of a size within `automatic_weekly_band` times the sizes seen then, and again no
    # sign of a person in the hour before, is no sign of a person (see
    # `features._weekly_draw`). A person's laundry with the lights or the kettle on around it
    # is never learned. An option, off: on tuning seeds 5-8 (600 households, 90 days) it caught
    # one fall of 12 hours or more more within the window of 78 (84.6 -> 85.9 %) and raised
    # 1.5 more false alarms per 100 household-months (29.5 -> 31.0, nearly all no use: a
    # resident's own draws at the same half hour each week learned as a timer's); on 300 it
    # caught none more and raised 1.4 more. With four weeks, the same fall more on the 600
    # and 0.7 more false alarms (29.5 -> 30.2).
    automatic_weekly_draw: bool = False
    automatic_weekly_weeks: int = 3
    automatic_weekly_isolation_hours: float = 1.0
    automatic_weekly_band: float = 1.5
    # ... and only where it draws so at that half hour on at most this many days of the week:
    # a timer runs on some weekdays; a resident's lunch or supper at the same half hour every
    # day, with nothing switched, is a person (a dishwasher on a daily timer is not learned).
    automatic_weekly_max_days: int = 3
    # Electricity alone is a sign of a person only when it changes beyond the automatic
    # pattern in two of the last `corroboration_slots` half hours (one change may be a defrost
    # or a reheat at an hour the nights did not show).
    corroboration_slots: int = 4
    # ... and the other switch is not in the half hour just before (see `features.observe`;
    # off, as before: a heater switched on as its user fell rose over two hourly readings
    # and counted as somebody about, holding no use back by an hour).
    electricity_ramp_is_one_switch: bool = True
    # An absence incident ends when signs of a person come in two of the last four half
    # hours; the other incidents end when their condition has not held for these hours.
    clear_hours: float = 2.0

    def slots(self, hours: float) -> int:
        return max(1, round(hours * SLOTS_PER_HOUR))


@dataclass
class Alert:
    household: int  # row in the detector's state
    kind: str
    slot: int  # the half hour whose reading raised it
    evidence: dict[str, Any]
    # True when the alert updates the open alert of the same incident (another kind of its
    # family, see `FAMILY`) rather than raising a new one.
    follow_up: bool = False

    @property
    def family(self) -> str:
        return FAMILY[self.kind]

    @property
    def severity(self) -> str:
        return SEVERITY[self.kind]

    @property
    def at(self) -> datetime:
        return slot_end(self.slot)

    @property
    def explanation(self) -> str:
        return EXPLANATION[self.kind].format(**self.evidence)
