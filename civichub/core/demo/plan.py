"""The whole demo city as data, without touching the database: the organisation tree for the
size, how many residents live in each community, and the staff."""

from __future__ import annotations

from dataclasses import dataclass
from random import Random

from django.utils.translation import gettext

from civichub.core.demo.organisations import OrganisationPlan, full_tree, select_organisations
from civichub.core.demo.staff import StaffPlan, plan_staff
from civichub.core.errors import ValidationFailed
from civichub.core.models import OrganisationKind

DEFAULT_SEED = 2026
SIZES = ("small", "city")
# The full city shares its residents out among the communities by weight; the small city draws
# a few dozen for each of its communities.
CITY_RESIDENTS = 512_000
SMALL_RESIDENTS_PER_COMMUNITY = (40, 60)


@dataclass(frozen=True)
class CityPlan:
    seed: int
    size: str
    organisations: tuple[OrganisationPlan, ...]
    resident_counts: dict[str, int]
    # Which block of identity-number sequence codes each community draws from, so that numbers
    # are unique across the district that shares the 6-digit area code.
    identity_blocks: dict[str, tuple[int, int]]
    staff: tuple[StaffPlan, ...]

    @property
    def by_code(self) -> dict[str, OrganisationPlan]:
        return {o.code: o for o in self.organisations}

    def of_kind(self, kind: str) -> list[OrganisationPlan]:
        return [o for o in self.organisations if o.kind == kind]

    @property
    def city(self) -> OrganisationPlan:
        return self.organisations[0]

    @property
    def resident_total(self) -> int:
        return sum(self.resident_counts.values())


def plan_city(*, size: str = "small", seed: int = DEFAULT_SEED) -> CityPlan:
    """The whole demo city as data, without touching the database."""
    if size not in SIZES:
        message = gettext("未知的演示规模：%(size)s（可选 %(sizes)s）。") % {
            "size": size,
            "sizes": ", ".join(SIZES),
        }
        raise ValidationFailed.on("size", message)
    organisations = select_organisations(full_tree(seed), size)
    communities = [o for o in organisations if o.kind == OrganisationKind.COMMUNITY]
    rng = Random(f"{seed}:{size}:counts")
    if size == "city":
        weights = [rng.uniform(0.8, 1.2) for _ in communities]
        total_weight = sum(weights)
        counts = [int(CITY_RESIDENTS * w / total_weight) for w in weights]
        for i in range(CITY_RESIDENTS - sum(counts)):
            counts[i % len(counts)] += 1
    else:
        counts = [rng.randint(*SMALL_RESIDENTS_PER_COMMUNITY) for _ in communities]
    by_district: dict[str, list[str]] = {}
    for community in communities:
        by_district.setdefault(community.code[:6], []).append(community.code)
    blocks: dict[str, tuple[int, int]] = {}
    for codes in by_district.values():
        width = 999 // len(codes)
        for i, code in enumerate(codes):
            blocks[code] = (1 + i * width, 1 + (i + 1) * width)
    return CityPlan(
        seed=seed,
        size=size,
        organisations=organisations,
        resident_counts={c.code: n for c, n in zip(communities, counts, strict=True)},
        identity_blocks=blocks,
        staff=plan_staff(organisations, seed),
    )
