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
absence of use and are not learned from. What runs by itself (a fridge, a water heater, a boiler
or heating on a thermostat, a cistern's trickle) is learned from the quiet hours of recent nights
and does not count as a sign of a person. One alert per incident: kinds that describe the same
incident form a family (`rules.FAMILY`); while its incident is open, another kind of the family is
a follow-up that updates the open alert (`Alert.follow_up`); an absence ends only on signs of a
person held for a while, never on an appliance's cycle.

The package: `grid` (the half-hour slots), `rules` (what can be raised, and the configured
rules), `state` (what is remembered per household), `features` (what a half hour's readings
say), `fixed` and `learned` (the two families of rules), `learning` (the routine) and
`detector` (the step that composes them, and the detector's interface).
"""

from __future__ import annotations

from civichub.wellbeing.detection.detector import WellbeingDetector
from civichub.wellbeing.detection.grid import (
    DAY_START_SLOT,
    ELECTRICITY,
    EPOCH,
    GAS,
    HOURS_PER_WEEK,
    SLOT_MINUTES,
    SLOTS_PER_DAY,
    SLOTS_PER_HOUR,
    SLOTS_PER_WEEK,
    UNITS,
    UTILITIES,
    WATER,
    Bool,
    Float,
    Int,
    slot_end,
    slot_of,
    slot_start,
)
from civichub.wellbeing.detection.rules import (
    EXPLANATION,
    FAMILY,
    SEVERITY,
    SEVERITY_RANK,
    Alert,
    Kind,
    Rules,
    Severity,
)
from civichub.wellbeing.detection.state import DetectorState

__all__ = [
    "DAY_START_SLOT",
    "ELECTRICITY",
    "EPOCH",
    "EXPLANATION",
    "FAMILY",
    "GAS",
    "HOURS_PER_WEEK",
    "SEVERITY",
    "SEVERITY_RANK",
    "SLOTS_PER_DAY",
    "SLOTS_PER_HOUR",
    "SLOTS_PER_WEEK",
    "SLOT_MINUTES",
    "UNITS",
    "UTILITIES",
    "WATER",
    "Alert",
    "Bool",
    "DetectorState",
    "Float",
    "Int",
    "Kind",
    "Rules",
    "Severity",
    "WellbeingDetector",
    "slot_end",
    "slot_of",
    "slot_start",
]
