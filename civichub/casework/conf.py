"""The casework part of the deployment profile, with documented defaults.

A deployment overrides any key through the Django setting `CIVICHUB_CASEWORK` (a dict merged
over `DEFAULTS`; nested dicts such as `deadline_working_days` are merged key by key):

    CIVICHUB_CASEWORK = {"deadline_working_days": {"complaint": 10}, "triage_threshold": 0.7}

Keys:

- `deadline_working_days` — time limit per kind, in working days after the day of receipt; the
  deadline is the end of that day in the deployment's time zone. Defaults follow one 12345
  bureau's rules: consultation and help 3, complaint and suggestion 13, praise 13.
- `near_due_hours` — an open case whose deadline is closer than this is highlighted as near due.
- `triage_threshold` — below this router confidence a case goes to the triage queue instead of
  straight to the category's department.
- `routing_sweep_minutes` — the periodic sweep routes cases still `received` after this long
  (routing crashed, or the task was lost).
- `escalation_steps_working_days` — overdue steps: a case overdue by at least each number of
  working days escalates once more to the department head (0 = as soon as it is overdue).
- `max_extension_working_days` — the longest extension one request may ask for.
- `duplicate_window_days`, `duplicate_radius_m`, `duplicate_min_score` — duplicate suggestions:
  cases received within the window, scored by text similarity (character bigram Jaccard), place
  (within the radius) and time.
- `nearest_community_max_m` — a pin outside every community area goes to the nearest community
  centre within this distance; farther pins leave the community unset.
- `photo_max_bytes`, `photo_max_pixels`, `photo_max_count`, `photo_types` — upload limits.
- `verification_code_minutes`, `verification_max_attempts`, `verification_use_hours` — one-time
  codes for anonymous senders.
- `holidays`, `makeup_workdays` — the default calendar: ISO dates of public holidays that fall
  on weekdays or weekends (days off) and of weekend days worked in exchange. The defaults are
  China's 2026 schedule (State Council General Office notice of 2025-11-04). Rows of the
  `CalendarDay` table (edited per deployment) override these.
- `route_to_local_department` — send a case to the department of its category's function that
  sits nearest above its community (the district's bureau rather than the city's), when one
  exists; off, every case goes to the category's own department.
- `jurisdiction_code` — the organisation code of the area that receives cases before routing;
  empty means the root of the organisation tree.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

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

DEFAULTS: dict[str, Any] = {
    "deadline_working_days": {
        "consultation": 3,
        "help": 3,
        "complaint": 13,
        "suggestion": 13,
        "praise": 13,
    },
    "near_due_hours": 24,
    "triage_threshold": 0.5,
    "routing_sweep_minutes": 10,
    "escalation_steps_working_days": [0, 3, 10],
    "max_extension_working_days": 10,
    "duplicate_window_days": 14,
    "duplicate_radius_m": 300,
    "duplicate_min_score": 0.35,
    "nearest_community_max_m": 2000,
    "photo_max_bytes": 8 * 1024 * 1024,
    "photo_max_pixels": 40_000_000,
    "photo_max_count": 6,
    "photo_types": ["JPEG", "PNG", "WEBP"],
    "verification_code_minutes": 15,
    "verification_max_attempts": 5,
    "verification_use_hours": 24,
    "holidays": _HOLIDAYS_2026,
    "makeup_workdays": _MAKEUP_2026,
    "jurisdiction_code": "",
    "route_to_local_department": True,
}


def casework_settings() -> dict[str, Any]:
    """DEFAULTS with the deployment's `CIVICHUB_CASEWORK` overrides merged in."""
    overrides: dict[str, Any] = getattr(settings, "CIVICHUB_CASEWORK", {}) or {}
    merged: dict[str, Any] = {}
    for key, default in DEFAULTS.items():
        value = overrides.get(key, default)
        if isinstance(default, dict) and isinstance(value, dict) and key in overrides:
            value = {**default, **value}
        merged[key] = value
    return merged


def setting(key: str) -> Any:
    return casework_settings()[key]
