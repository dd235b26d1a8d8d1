"""The casework part of the deployment profile, with documented defaults.

A deployment overrides any field through the Django setting `CIVICHUB_CASEWORK` (a dict; dict
fields such as `deadline_working_days` are merged key by key):

    CIVICHUB_CASEWORK = {"deadline_working_days": {"complaint": 10}, "triage_threshold": 0.7}

Code reads it with `casework_settings()` (`core.config.module_config(CaseworkSettings)`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from civichub.core.config import ModuleConfig, module_config

_HOLIDAYS_2026 = {
    # 元旦
    "2026-01-01": "元旦",
    "2026-01-02": "元旦",
    "2026-01-03": "元旦",
    # 春节
    **{f"2026-02-{d:02d}": "春节" for d in range(15, 24)},
    # 清明节
    "2026-04-04": "清明节",
    "2026-04-05": "清明节",
    "2026-04-06": "清明节",
    # 劳动节
    **{f"2026-05-{d:02d}": "劳动节" for d in range(1, 6)},
    # 端午节
    "2026-06-19": "端午节",
    "2026-06-20": "端午节",
    "2026-06-21": "端午节",
    # 中秋节
    "2026-09-25": "中秋节",
    "2026-09-26": "中秋节",
    "2026-09-27": "中秋节",
    # 国庆节
    **{f"2026-10-{d:02d}": "国庆节" for d in range(1, 8)},
}
_MAKEUP_2026 = {
    "2026-01-04": "元旦调休上班",
    "2026-02-14": "春节调休上班",
    "2026-02-28": "春节调休上班",
    "2026-05-09": "劳动节调休上班",
    "2026-09-20": "国庆节调休上班",
    "2026-10-10": "国庆节调休上班",
}


@dataclass(frozen=True)
class CaseworkSettings(ModuleConfig):
    """Fields:

    - `deadline_working_days` — time limit per kind, in working days after the day of receipt;
      the deadline is the end of that day in the deployment's time zone. Defaults follow one
      12345 bureau's rules: consultation and help 3, complaint and suggestion 13, praise 13.
    - `near_due_hours` — an open case whose deadline is closer than this is highlighted as near
      due.
    - `triage_threshold` — below this router confidence a case goes to the triage queue instead
      of straight to the category's department.
    - `routing_sweep_minutes` — the periodic sweep routes cases still `received` after this long
      (routing crashed, or the task was lost).
    - `escalation_steps_working_days` — overdue steps: a case overdue by at least each number of
      working days escalates once more to the department head (0 = as soon as it is overdue).
    - `max_extension_working_days` — the longest extension one request may ask for.
    - `duplicate_window_days`, `duplicate_radius_m`, `duplicate_min_score` — duplicate
      suggestions: cases received within the window, scored by text similarity (character
      bigram Jaccard), place (within the radius) and time.
    - `nearest_community_max_m` — a pin outside every community area goes to the nearest
      community centre within this distance; farther pins leave the community unset.
    - `photo_max_bytes`, `photo_max_pixels`, `photo_max_count`, `photo_types` — upload limits.
    - `verification_code_minutes`, `verification_max_attempts`, `verification_use_hours` —
      one-time codes for anonymous senders.
    - `verification_per_address_hour`, `verification_per_client_hour`,
      `verification_per_network_hour` — codes sent in an hour at most to one phone or email
      address, for one client address, and for one network (a /24 of IPv4, a /48 of IPv6):
      one client cannot pump SMS to many numbers. A network is many residents behind one
      carrier's NAT, so its limit is the larger.
    - `sms_cost`, `sms_budget_per_hour` — what one verification SMS costs and what the whole
      deployment may spend on them in an hour (in the same currency, yuan by default); past
      the budget, codes by SMS are refused until the hour ends and operators are told once.
    - `holidays`, `makeup_workdays` — the default calendar: ISO dates of public holidays that
      fall on weekdays or weekends (days off) and of weekend days worked in exchange. The
      defaults are China's 2026 schedule (State Council General Office notice of 2025-11-04).
      Rows of the `CalendarDay` table (edited per deployment) override these.
    - `jurisdiction_code` — the organisation code of the area that receives cases before
      routing; empty means the root of the organisation tree.
    - `route_to_local_department` — send a case to the department of its category's function
      that sits nearest above its community (the district's bureau rather than the city's),
      when one exists; off, every case goes to the category's own department.
    """

    setting: ClassVar[str] = "CIVICHUB_CASEWORK"

    deadline_working_days: dict[str, int] = field(
        default_factory=lambda: {
            "consultation": 3,
            "help": 3,
            "complaint": 13,
            "suggestion": 13,
            "praise": 13,
        }
    )
    near_due_hours: int = 24
    triage_threshold: float = 0.5
    routing_sweep_minutes: int = 10
    escalation_steps_working_days: list[int] = field(default_factory=lambda: [0, 3, 10])
    max_extension_working_days: int = 10
    duplicate_window_days: int = 14
    duplicate_radius_m: float = 300
    duplicate_min_score: float = 0.35
    nearest_community_max_m: float = 2000
    photo_max_bytes: int = 8 * 1024 * 1024
    photo_max_pixels: int = 40_000_000
    photo_max_count: int = 6
    photo_types: list[str] = field(default_factory=lambda: ["JPEG", "PNG", "WEBP"])
    verification_code_minutes: int = 15
    verification_max_attempts: int = 5
    verification_use_hours: int = 24
    verification_per_address_hour: int = 5
    verification_per_client_hour: int = 10
    verification_per_network_hour: int = 40
    sms_cost: float = 0.05
    sms_budget_per_hour: float = 100.0
    holidays: dict[str, str] = field(default_factory=lambda: dict(_HOLIDAYS_2026))
    makeup_workdays: dict[str, str] = field(default_factory=lambda: dict(_MAKEUP_2026))
    jurisdiction_code: str = ""
    route_to_local_department: bool = True


def casework_settings() -> CaseworkSettings:
    """The defaults with the deployment's `CIVICHUB_CASEWORK` overrides applied."""
    return module_config(CaseworkSettings)
