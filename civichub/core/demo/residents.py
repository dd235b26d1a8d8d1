"""The demo city's residents, drawn one community at a time: names, phone numbers, addresses,
homes inside the community's disc and valid (fictional) identity numbers."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from random import Random

from civichub.core.demo.names import MOBILE_PREFIXES, PLACE, ROAD_SUFFIXES, draw_person, romanise
from civichub.core.demo.organisations import offset
from civichub.core.demo.plan import CityPlan
from civichub.core.identity import check_digit

# Identity numbers and ages are computed against a fixed date so that the data set does not
# change with the day it is generated.
REFERENCE_DATE = dt.date(2026, 1, 1)


@dataclass(frozen=True)
class ResidentPlan:
    name: str
    name_en: str
    phone: str
    address: str
    latitude: float
    longitude: float
    identity_number: str


def _birth_date(rng: Random) -> dt.date:
    # Ages skewed towards working age with a long tail of older residents (up to 96).
    days = int(rng.betavariate(2.0, 2.6) * 96 * 365.25)
    return REFERENCE_DATE - dt.timedelta(days=days + 1)


def plan_residents(plan: CityPlan, community_code: str) -> list[ResidentPlan]:
    """One community's residents. Each community has its own random stream, so a community's
    residents do not depend on the order in which communities are generated."""
    community = plan.by_code[community_code]
    assert community.area is not None
    district = plan.by_code[community_code[:6]]
    subdistrict = plan.by_code[community_code[:9]]
    rng = Random(f"{plan.seed}:residents:{community_code}")
    low, high = plan.identity_blocks[community_code]
    roads = []
    for _ in range(rng.randint(2, 4)):
        first, second = rng.sample(PLACE, 2)
        suffix = rng.choice(ROAD_SUFFIXES)[0]
        roads.append(first[0] + second[0] + suffix)
    prefix = f"{plan.city.name}{district.name}{subdistrict.name}"
    taken: set[tuple[dt.date, int]] = set()
    area = community.area
    residents = []
    for _ in range(plan.resident_counts[community_code]):
        female = rng.random() < 0.5
        surname, given, surname_py, given_py = draw_person(rng, female)
        born = _birth_date(rng)
        # The 17th digit is odd for men and even for women (GB 11643).
        start = low if low % 2 == (0 if female else 1) else low + 1
        sequence = rng.randrange(start, high, 2)
        while (born, sequence) in taken:
            sequence += 2
            if sequence >= high:
                born -= dt.timedelta(days=1)
                sequence = start
        taken.add((born, sequence))
        first17 = f"{community_code[:6]}{born:%Y%m%d}{sequence:03d}"
        distance = area.radius_m * math.sqrt(rng.random())
        bearing = rng.uniform(0, 2 * math.pi)
        lat, lng = offset(
            area.latitude,
            area.longitude,
            distance * math.cos(bearing),
            distance * math.sin(bearing),
        )
        address = (
            f"{prefix}{rng.choice(roads)}{rng.randint(1, 299)}号"
            f"{rng.randint(1, 30)}栋{rng.randint(1, 4)}单元"
            f"{rng.randint(1, 18)}{rng.randint(1, 4):02d}室"
        )
        residents.append(
            ResidentPlan(
                name=surname + given,
                name_en=f"{romanise([surname_py])} {given_py}",
                phone=rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}",
                address=address,
                latitude=round(lat, 7),
                longitude=round(lng, 7),
                identity_number=first17 + check_digit(first17),
            )
        )
    return residents
