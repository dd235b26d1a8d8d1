"""Emergency blood donors' part of the deployment profile: one frozen dataclass, each default
written once here, declared in the module's manifest.

A deployment overrides any key in `settings.CIVICHUB_DONORS` (settings.py sets a key only when
its environment variable is set). Code reads `module_config(DonorsSettings).<key>`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from civichub.core.config import ModuleConfig


@dataclass(frozen=True)
class DonorsSettings(ModuleConfig):
    setting: ClassVar[str] = "CIVICHUB_DONORS"

    # The eligibility rule set (`civichub.donors.eligibility.PROFILES`): "gb18467-2011" (China's
    # standard in force since 1 July 2012) or "cn-draft-2025" (the Dec 2025 consultation draft:
    # ages 18-65, whole blood every 90 days).
    eligibility_profile: str = "gb18467-2011"
    # Keys of the rule set a deployment changes without writing a whole profile (another
    # country's weights or intervals), e.g. {"min_weight_kg_female": 50}; names are the fields
    # of `eligibility.RuleSet`.
    eligibility_overrides: dict[str, Any] = field(default_factory=dict)
    # The call-up waves: how many donors each wave calls (the last size repeats), and how long
    # a wave waits for acceptances before the next one goes out.
    wave_sizes: tuple[int, ...] = (5, 10, 20, 40)
    wave_minutes: int = 10
    # Waves stop for good after this many (the request stays open for the staff to widen).
    max_waves: int = 8
    # Search radius of each wave in kilometres (the last repeats): the nearest first.
    wave_radius_km: tuple[float, ...] = (5.0, 10.0, 25.0, 50.0)
    # RhD-negative requests search this far from the first wave (Chengdu's practice: the whole
    # city at once, so few are there).
    rhd_negative_radius_km: float = 100.0
    # No donor is called more than this many times in one calendar month.
    monthly_call_up_cap: int = 3
    # How long the signed link in a call-up SMS stays valid.
    call_up_link_hours: int = 24
    # The public address put in front of that link in SMS (none: a relative link).
    site_url: str = ""
    # H3 resolution of the coarse place stored for a donor (8: cells of about 0.74 km²); a
    # search reads the rings of `search_resolution` cells (7: about 5 km²), or of
    # `region_resolution` cells (5: about 250 km²) when the radius would need too many.
    cell_resolution: int = 8
    search_resolution: int = 7
    region_resolution: int = 5
    # Distance bands staff see instead of an address, in kilometres.
    distance_bands_km: tuple[float, ...] = (2.0, 5.0, 10.0, 20.0, 50.0)
