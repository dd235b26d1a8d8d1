"""The demo city's organisation tree: the city, its districts, subdistricts and communities laid
out on the map, and the departments (with their hospitals) of the city and each district. The full
tree is planned from the seed alone; the small city keeps a corner of it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from random import Random

from civichub.core import services
from civichub.core.demo.names import PlaceNames
from civichub.core.models import DepartmentFunction, Organisation, OrganisationKind

CITY_CODE = "990100"  # province 99 is unassigned: fictional by construction

# Departments: (function, city name, city name en, district name, district name en).
# A district gets a department only where its district name is set.
DEPARTMENTS: tuple[tuple[str, str, str, str, str], ...] = (
    (
        DepartmentFunction.PUBLIC_SECURITY,
        "公安局",
        "Public Security Bureau",
        "公安分局",
        "Public Security Sub-bureau",
    ),
    (DepartmentFunction.EDUCATION, "教育局", "Education Bureau", "教育局", "Education Bureau"),
    (
        DepartmentFunction.HEALTH,
        "卫生健康委员会",
        "Health Commission",
        "卫生健康局",
        "Health Bureau",
    ),
    (
        DepartmentFunction.CIVIL_AFFAIRS,
        "民政局",
        "Civil Affairs Bureau",
        "民政局",
        "Civil Affairs Bureau",
    ),
    (DepartmentFunction.TOURISM, "文化和旅游局", "Culture and Tourism Bureau", "", ""),
    (
        DepartmentFunction.TRANSPORT,
        "交通运输局",
        "Transport Bureau",
        "交通运输局",
        "Transport Bureau",
    ),
    (
        DepartmentFunction.MARKET_REGULATION,
        "市场监督管理局",
        "Market Regulation Administration",
        "市场监督管理局",
        "Market Regulation Administration",
    ),
    (DepartmentFunction.UTILITIES, "公用事业管理局", "Public Utilities Administration", "", ""),
    (
        DepartmentFunction.HOUSING,
        "住房和城乡建设局",
        "Housing and Urban-Rural Development Bureau",
        "住房和城乡建设局",
        "Housing and Urban-Rural Development Bureau",
    ),
    (
        DepartmentFunction.ENVIRONMENT,
        "生态环境局",
        "Ecology and Environment Bureau",
        "生态环境分局",
        "Ecology and Environment Sub-bureau",
    ),
    (
        DepartmentFunction.EMERGENCY,
        "应急管理局",
        "Emergency Management Bureau",
        "应急管理局",
        "Emergency Management Bureau",
    ),
    (DepartmentFunction.OTHER, "信访局", "Letters and Calls Bureau", "", ""),
)
CITY_HOSPITALS = (
    ("第一人民医院", "No. 1 People's Hospital"),
    ("第二人民医院", "No. 2 People's Hospital"),
    ("中医院", "Hospital of Traditional Chinese Medicine"),
    ("妇幼保健院", "Maternal and Child Health Hospital"),
)
DISTRICT_HOSPITALS = (("人民医院", "People's Hospital"),)

# The full city: 6 districts of 5-7 subdistricts of 10-14 communities (about 430 communities).
# The small city is a corner of it: the first two districts, two subdistricts each, two
# communities each, so a name or code means the same place at both sizes.
DISTRICTS = 6
SUBDISTRICTS_PER_DISTRICT = (5, 7)
COMMUNITIES_PER_SUBDISTRICT = (10, 14)
SMALL_SHAPE = (2, 2, 2)
# Layout: communities sit in 700 m grid cells, each one a disc of 300 m radius.
COMMUNITY_CELL_M = 700.0
COMMUNITY_RADIUS_M = 300.0
_METRES_PER_DEGREE = 111_320.0


@dataclass(frozen=True)
class Area:
    """A disc in GCJ-02 coordinates: where an area organisation lies on the map."""

    latitude: float
    longitude: float
    radius_m: float


@dataclass(frozen=True)
class OrganisationPlan:
    code: str
    kind: str
    name: str
    name_en: str
    parent_code: str | None
    function: str = ""
    area: Area | None = None
    # The romanised base name without "City"/"District", for naming what belongs to it.
    base_en: str = ""


def offset(lat: float, lng: float, east_m: float, north_m: float) -> tuple[float, float]:
    """The point east_m metres east and north_m metres north of (lat, lng); flat-earth
    arithmetic is close enough across one city."""
    return (
        lat + north_m / _METRES_PER_DEGREE,
        lng + east_m / (_METRES_PER_DEGREE * math.cos(math.radians(lat))),
    )


def _grid(count: int) -> tuple[int, int]:
    cols = math.ceil(math.sqrt(count))
    return cols, math.ceil(count / cols)


def _cell_offsets(count: int, cell_m: float) -> list[tuple[float, float]]:
    cols, rows = _grid(count)
    return [
        ((i % cols - (cols - 1) / 2) * cell_m, ((rows - 1) / 2 - i // cols) * cell_m)
        for i in range(count)
    ]


@lru_cache(maxsize=8)
def full_tree(seed: int) -> tuple[OrganisationPlan, ...]:
    """Every organisation of the full-size city, parents before children."""
    rng = Random(f"{seed}:tree")
    names = {kind: PlaceNames(rng) for kind in ("city", "district", "subdistrict", "community")}
    city_name, city_en = names["city"].place()
    centre_lat, centre_lng = rng.uniform(28.0, 32.0), rng.uniform(112.0, 119.0)
    sub_counts = [rng.randint(*SUBDISTRICTS_PER_DISTRICT) for _ in range(DISTRICTS)]
    comm_counts = [
        [rng.randint(*COMMUNITIES_PER_SUBDISTRICT) for _ in range(n)] for n in sub_counts
    ]
    sub_cell = COMMUNITY_CELL_M * max(_grid(COMMUNITIES_PER_SUBDISTRICT[1]))
    district_cell = sub_cell * max(_grid(SUBDISTRICTS_PER_DISTRICT[1]))
    city_radius = district_cell * max(_grid(DISTRICTS)) / 2 * math.sqrt(2)
    city = OrganisationPlan(
        code=CITY_CODE,
        kind=OrganisationKind.CITY,
        name=f"{city_name}市",
        name_en=f"{city_en} City",
        parent_code=None,
        area=Area(centre_lat, centre_lng, city_radius),
        base_en=city_en,
    )
    plans = [city, *_departments(city, "city")]
    for d, (d_east, d_north) in enumerate(_cell_offsets(DISTRICTS, district_cell)):
        d_name, d_en = names["district"].place()
        d_lat, d_lng = offset(centre_lat, centre_lng, d_east, d_north)
        district = OrganisationPlan(
            code=f"{CITY_CODE[:4]}{d + 2:02d}",
            kind=OrganisationKind.DISTRICT,
            name=f"{d_name}区",
            name_en=f"{d_en} District",
            parent_code=city.code,
            area=Area(d_lat, d_lng, district_cell / 2 * math.sqrt(2)),
            base_en=d_en,
        )
        plans += [district, *_departments(district, "district")]
        for s, (s_east, s_north) in enumerate(_cell_offsets(sub_counts[d], sub_cell)):
            s_name, s_en = names["subdistrict"].place()
            s_lat, s_lng = offset(d_lat, d_lng, s_east, s_north)
            subdistrict = OrganisationPlan(
                code=f"{district.code}{s + 1:03d}",
                kind=OrganisationKind.SUBDISTRICT,
                name=f"{s_name}街道",
                name_en=f"{s_en} Subdistrict",
                parent_code=district.code,
                area=Area(s_lat, s_lng, sub_cell / 2 * math.sqrt(2)),
                base_en=s_en,
            )
            plans.append(subdistrict)
            cells = _cell_offsets(comm_counts[d][s], COMMUNITY_CELL_M)
            for c, (c_east, c_north) in enumerate(cells):
                c_name, c_en = names["community"].place()
                # A little jitter so the map does not look like graph paper; the disc stays
                # inside its cell.
                slack = COMMUNITY_CELL_M / 2 - COMMUNITY_RADIUS_M
                c_lat, c_lng = offset(
                    s_lat,
                    s_lng,
                    c_east + rng.uniform(-slack, slack),
                    c_north + rng.uniform(-slack, slack),
                )
                plans.append(
                    OrganisationPlan(
                        code=f"{subdistrict.code}{c + 1:03d}",
                        kind=OrganisationKind.COMMUNITY,
                        name=f"{c_name}社区",
                        name_en=f"{c_en} Community",
                        parent_code=subdistrict.code,
                        area=Area(c_lat, c_lng, COMMUNITY_RADIUS_M),
                        base_en=c_en,
                    )
                )
    return tuple(plans)


def _departments(area: OrganisationPlan, level: str) -> list[OrganisationPlan]:
    departments: list[OrganisationPlan] = []
    number = 0
    # "Pingzhou Public Security Bureau", but "Zhurui District Public Security Sub-bureau".
    english_prefix = area.base_en if level == "city" else area.name_en
    for function, city_zh, city_en, district_zh, district_en in DEPARTMENTS:
        zh, en = (city_zh, city_en) if level == "city" else (district_zh, district_en)
        if not zh:
            continue
        number += 1
        department = OrganisationPlan(
            code=f"{area.code}D{number:02d}",
            kind=OrganisationKind.DEPARTMENT,
            name=f"{area.name}{zh}",
            name_en=f"{english_prefix} {en}",
            parent_code=area.code,
            function=function,
        )
        departments.append(department)
        if function == DepartmentFunction.HEALTH:
            hospitals = CITY_HOSPITALS if level == "city" else DISTRICT_HOSPITALS
            for h, (h_zh, h_en) in enumerate(hospitals, start=1):
                # Hospitals sit under the health authority, whose head oversees them.
                departments.append(
                    OrganisationPlan(
                        code=f"{area.code}H{h:02d}",
                        kind=OrganisationKind.DEPARTMENT,
                        name=f"{area.name}{h_zh}",
                        name_en=f"{english_prefix} {h_en}",
                        parent_code=department.code,
                        function=DepartmentFunction.HOSPITAL,
                    )
                )
    return departments


def select_organisations(
    tree: Sequence[OrganisationPlan], size: str
) -> tuple[OrganisationPlan, ...]:
    if size == "city":
        return tuple(tree)
    keep_districts, keep_subdistricts, keep_communities = SMALL_SHAPE
    kept: set[str] = set()
    children: dict[str | None, int] = {}
    limits: dict[str, int] = {
        OrganisationKind.DISTRICT: keep_districts,
        OrganisationKind.SUBDISTRICT: keep_subdistricts,
        OrganisationKind.COMMUNITY: keep_communities,
    }
    selected = []
    for plan in tree:
        if plan.parent_code is not None and plan.parent_code not in kept:
            continue
        if plan.kind in limits:
            seen = children.get(plan.parent_code, 0)
            if seen >= limits[plan.kind]:
                continue
            children[plan.parent_code] = seen + 1
        kept.add(plan.code)
        selected.append(plan)
    return tuple(selected)


def organisations_create(organisations: Sequence[OrganisationPlan]) -> dict[str, Organisation]:
    """Creates the planned organisations, parents first; returns them by code."""
    created: dict[str, Organisation] = {}
    for item in organisations:
        created[item.code] = services.organisation_create(
            actor=None,
            kind=item.kind,
            name=item.name,
            name_en=item.name_en,
            code=item.code,
            parent=created[item.parent_code] if item.parent_code else None,
            function=item.function,
        )
    return created
