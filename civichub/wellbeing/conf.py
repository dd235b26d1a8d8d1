"""Wellbeing's part of the deployment profile: one frozen dataclass, each default written once
here, declared in the module's manifest.

A deployment overrides any key in `settings.CIVICHUB_WELLBEING` (settings.py sets a key only when
its environment variable is set, so that the default below holds otherwise); keys it does not
name keep their default. Code reads `module_config(WellbeingSettings).<key>`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from civichub.core.config import ModuleConfig


@dataclass(frozen=True)
class WellbeingSettings(ModuleConfig):
    setting: ClassVar[str] = "CIVICHUB_WELLBEING"

    # How long the family has to acknowledge an alert before it becomes a visit task.
    family_minutes: int = 15
    # How long the worker has to visit before the task goes to the community head.
    visit_minutes: int = 60
    # How long the signed link a family contact receives stays valid.
    ack_link_hours: int = 24
    # While nobody has answered, the next family contact in calling order is sent the alert this
    # many minutes after the previous one; 0 sends to all at once.
    contact_minutes: int = 5
    # The public address put in front of that link in SMS and e-mail (none: a relative link).
    site_url: str = ""
    # A reading time later than now by more than this is refused.
    future_minutes: int = 15
    # Raw readings older than this are summed into hourly and daily aggregates and deleted.
    raw_retention_days: int = 400
    # Hourly aggregates are deleted after this, daily ones after `daily_retention_days`.
    hourly_retention_days: int = 1095
    daily_retention_days: int = 3650
    # A household that withdrew consent this long ago loses its readings, aggregates and charts.
    withdrawn_retention_days: int = 30
    # Time away may last at most this many days (an end far ahead would silence detection for
    # ever); one longer than `away_review_days` needs a reason and a date to review it by.
    away_max_days: int = 30
    away_review_days: int = 7
    # The most a household can plausibly use per hour, by utility, in the canonical units; a
    # reading whose use over its interval (a register's: over the time since the reading before
    # it, at least one interval) is more than this is refused as `implausible`, never alerted
    # on. Water: the overload flow Q4 of a DN20 household water meter (ISO 4064 / GB/T 778,
    # Q3 = 4 m³/h), 5 m³/h. Electricity: a three-phase 60 A household supply at 230/400 V,
    # 3 × 60 A × 230 V = 41.4 kW (a single-phase 60 A supply at 220 V is 13.2 kW). Gas: the maximum
    # flow of a G4 household gas meter (EN 1359 / GB/T 6968), 6 m³/h.
    water_max_m3_per_hour: float = 5.0
    electricity_max_kw: float = 41.4
    gas_max_m3_per_hour: float = 6.0
