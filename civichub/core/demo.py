"""The demo city: a fictional Chinese city generated from a seed, for demos, tests and benchmarks.

Planning is pure (no database): `plan_city` lays out the organisation tree, the staff and how many
residents live in each community; `plan_residents` draws one community's residents. The same seed
always gives the same names, codes, coordinates, identity numbers and logins. `seed_city` writes a
plan through core's services (organisations, accounts, roles) and imports residents in audited
batches, then lets every module add its own demo data through the registry.

Everything is fictional. Administrative codes use the unassigned province prefix 99, so no identity
number generated here can belong to a real person; names are drawn from syllable tables below and
romanised in Hanyu Pinyin without tone marks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import inspect
import itertools
import math
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from random import Random
from typing import Any

from django.db import connection, transaction
from django.utils.module_loading import import_string
from django.utils.translation import gettext
from tqdm import tqdm

from civichub.core import crypto, services
from civichub.core.audit import audit_record
from civichub.core.errors import Conflict, ValidationFailed
from civichub.core.identity import check_digit
from civichub.core.models import (
    CoordinateSystem,
    DepartmentFunction,
    Organisation,
    OrganisationKind,
    Resident,
    RoleAssignment,
    User,
)
from civichub.core.registry import modules

DEFAULT_SEED = 2026
SIZES = ("small", "city")
# Rows per resident import transaction, and per audit event.
IMPORT_BATCH = 5000
# Below this many residents the import runs in-process; above, identity encryption and
# coordinate conversion run in a process pool while this process writes to the database.
POOL_THRESHOLD = 20_000
SQLITE_IMPORT_CACHE_KIB = 256 * 1024
# Identity numbers and ages are computed against a fixed date so that the data set does not
# change with the day it is generated.
REFERENCE_DATE = dt.date(2026, 1, 1)
CITY_CODE = "990100"  # province 99 is unassigned: fictional by construction

# Syllable tables ---------------------------------------------------------------------------


def _table(spec: str) -> tuple[tuple[str, str], ...]:
    """ "青qing 山shan" -> (("青", "qing"), ("山", "shan")): characters, then their pinyin."""
    entries = []
    for token in spec.split():
        split = next(i for i, ch in enumerate(token) if ch.isascii())
        entries.append((token[:split], token[split:]))
    return tuple(entries)


PLACE = _table(
    "青qing 山shan 江jiang 河he 湖hu 海hai 松song 柏bai 桃tao 杏xing 梅mei 兰lan 竹zhu "
    "菊ju 东dong 西xi 南nan 北bei 新xin 安an 平ping 和he 华hua 阳yang 明ming 光guang "
    "春chun 秋qiu 文wen 德de 福fu 康kang 宁ning 泰tai 丰feng 盛sheng 兴xing 隆long 龙long "
    "凤feng 金jin 玉yu 石shi 林lin 园yuan 桥qiao 溪xi 泉quan 峰feng 岭ling 湾wan 港gang "
    "城cheng 庄zhuang 塘tang 坪ping 云yun 霞xia 翠cui 碧bi 清qing 永yong 长chang 广guang "
    "建jian 锦jin 绣xiu 瑞rui 祥xiang 嘉jia 荷he 柳liu 枫feng 榆yu 槐huai 沙sha 滨bin "
    "洲zhou 川chuan 源yuan 鹤he 乐le 景jing 顺shun 昌chang 恒heng 益yi 怡yi 馨xin 苑yuan "
    "湘xiang 澄cheng 汇hui 鸣ming 泽ze 晴qing 望wang 渔yu 樟zhang 桂gui 莲lian 芳fang"
)
# Roughly in order of frequency; drawn with weights falling off along the list.
SURNAMES = _table(
    "王wang 李li 张zhang 刘liu 陈chen 杨yang 黄huang 赵zhao 吴wu 周zhou 徐xu 孙sun 马ma "
    "朱zhu 胡hu 郭guo 何he 高gao 林lin 罗luo 郑zheng 梁liang 谢xie 宋song 唐tang 许xu "
    "韩han 冯feng 邓deng 曹cao 彭peng 曾zeng 肖xiao 田tian 董dong 袁yuan 潘pan 于yu "
    "蒋jiang 蔡cai 余yu 杜du 叶ye 程cheng 苏su 魏wei 吕lyu 丁ding 任ren 沈shen 姚yao "
    "卢lu 姜jiang 崔cui 钟zhong 谭tan 陆lu 汪wang 范fan 金jin 石shi 廖liao 贾jia 夏xia "
    "韦wei 付fu 方fang 白bai 邹zou 孟meng 熊xiong 秦qin 邱qiu 江jiang 尹yin 薛xue 闫yan "
    "段duan 雷lei 侯hou 龙long 史shi 陶tao 黎li 贺he 顾gu 毛mao 郝hao 龚gong 邵shao "
    "万wan 钱qian 严yan 覃qin 武wu 戴dai 莫mo 孔kong 向xiang 汤tang 欧阳ouyang 司马sima "
    "诸葛zhuge 上官shangguan"
)
GIVEN_MALE = _table(
    "伟wei 强qiang 磊lei 军jun 勇yong 杰jie 涛tao 斌bin 超chao 明ming 刚gang 平ping "
    "辉hui 鹏peng 华hua 飞fei 鑫xin 波bo 宇yu 浩hao 凯kai 健jian 俊jun 帆fan 帅shuai "
    "旭xu 宁ning 龙long 林lin 欢huan 阳yang 建jian 国guo 志zhi 文wen 博bo 轩xuan "
    "然ran 子zi 睿rui 泽ze 晨chen 峰feng 成cheng 东dong 海hai 亮liang 兵bing 德de "
    "毅yi 诚cheng 嘉jia 铭ming 豪hao 天tian 宏hong 安an 恩en 昊hao 振zhen 庆qing"
)
GIVEN_FEMALE = _table(
    "芳fang 娜na 敏min 静jing 丽li 艳yan 娟juan 霞xia 秀xiu 英ying 玲ling 桂gui 兰lan "
    "萍ping 婷ting 雪xue 慧hui 颖ying 琳lin 洁jie 梅mei 燕yan 红hong 倩qian 晶jing "
    "佳jia 欣xin 怡yi 雨yu 思si 涵han 梓zi 萱xuan 诗shi 悦yue 瑶yao 琪qi 露lu 月yue "
    "云yun 凤feng 珍zhen 琴qin 淑shu 惠hui 莉li 薇wei 安an 爱ai 娥e 蕾lei 丹dan"
)
ROAD_SUFFIXES = (("路", "Road"), ("街", "Street"), ("大道", "Avenue"), ("巷", "Lane"))
MOBILE_PREFIXES = (
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "155",
    "156",
    "157",
    "158",
    "159",
    "176",
    "177",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "191",
    "199",
)
_COMPOUND_SURNAMES = frozenset(s for s, _ in SURNAMES if len(s) > 1)
_SURNAME_CUMULATIVE = tuple(itertools.accumulate(1.0 / (i + 4) for i in range(len(SURNAMES))))


def romanise(syllables: Sequence[str]) -> str:
    """Joins pinyin syllables into one capitalised word, with the apostrophe pinyin puts before
    a syllable starting with a, o or e ("Xi'an", not "Xian")."""
    word = ""
    for syllable in syllables:
        if word and syllable[:1] in {"a", "o", "e"}:
            word += "'"
        word += syllable
    return word[:1].upper() + word[1:]


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
CITY_RESIDENTS = 512_000
SMALL_RESIDENTS_PER_COMMUNITY = (40, 60)
# Layout: communities sit in 700 m grid cells, each one a disc of 300 m radius.
COMMUNITY_CELL_M = 700.0
COMMUNITY_RADIUS_M = 300.0
_METRES_PER_DEGREE = 111_320.0


# Plans -------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class StaffPlan:
    username: str
    role: str
    organisation_code: str
    last_name: str
    first_name: str
    password: str | None = None  # only the documented demo logins can sign in


@dataclass(frozen=True)
class DemoLogin:
    role: str  # a role key, or "resident" for the resident's own account
    username: str
    password: str
    description_zh: str
    description_en: str
    organisation_code: str
    organisation_name: str
    organisation_name_en: str

    @property
    def description(self) -> str:
        return f"{self.description_zh} / {self.description_en}"


@dataclass(frozen=True)
class ResidentPlan:
    name: str
    name_en: str
    phone: str
    address: str
    latitude: float
    longitude: float
    identity_number: str


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


# (role, username, password, description zh, description en); where each sits is decided in
# `_demo_staff` from the plan.
_DEMO_ACCOUNTS: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "operator",
        "operator",
        "demo-operator-2026",
        "运维管理员：管理全市组织机构、账号和角色（不是超级用户）",
        "Operator: manages the city's organisations, accounts and roles (not a superuser)",
    ),
    (
        "auditor",
        "auditor",
        "demo-auditor-2026",
        "审计员：查看全市审计日志",
        "Auditor: reads the whole city's audit log",
    ),
    (
        "publisher",
        "publisher",
        "demo-publisher-2026",
        "发布员：向全市发布信息",
        "Publisher: publishes notices to the whole city",
    ),
    (
        "department_head",
        "head",
        "demo-head-2026",
        "部门负责人：第一个区的民政局",
        "Department head: the first district's civil affairs bureau",
    ),
    (
        "department_handler",
        "handler",
        "demo-handler-2026",
        "部门承办人：第一个区的民政局",
        "Department handler: the first district's civil affairs bureau",
    ),
    (
        "community_worker",
        "worker",
        "demo-worker-2026",
        "社区工作者：第一个社区的居民",
        "Community worker: residents of the first community",
    ),
    (
        "community_worker",
        "worker2",
        "demo-worker2-2026",
        "社区工作者：另一个区的社区（用于对比权限范围）",
        "Community worker in another district (to compare scopes)",
    ),
    (
        "registrar",
        "registrar",
        "demo-registrar-2026",
        "户籍登记员：第一个街道，可查看完整身份证号（留痕）",
        "Registrar: the first subdistrict; may reveal identity numbers (audited)",
    ),
    (
        "resident",
        "resident",
        "demo-resident-2026",
        "居民：第一个社区的一位居民本人账号",
        "Resident: a resident's own account, first community",
    ),
)


def _offset(lat: float, lng: float, east_m: float, north_m: float) -> tuple[float, float]:
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


class _Names:
    """Draws two-syllable place names, unique within one namespace."""

    def __init__(self, rng: Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def place(self) -> tuple[str, str]:
        while True:
            first, second = self.rng.sample(PLACE, 2)
            name = first[0] + second[0]
            if name not in self.used:
                self.used.add(name)
                return name, romanise([first[1], second[1]])


def _person(rng: Random, female: bool) -> tuple[str, str, str, str]:
    """(surname, given name, surname pinyin, given pinyin)."""
    surname = rng.choices(SURNAMES, cum_weights=_SURNAME_CUMULATIVE)[0]
    table = GIVEN_FEMALE if female else GIVEN_MALE
    given = rng.sample(table, 2 if rng.random() < 0.7 else 1)
    return (surname[0], "".join(g[0] for g in given), surname[1], romanise([g[1] for g in given]))


@lru_cache(maxsize=8)
def _full_tree(seed: int) -> tuple[OrganisationPlan, ...]:
    """Every organisation of the full-size city, parents before children."""
    rng = Random(f"{seed}:tree")
    names = {kind: _Names(rng) for kind in ("city", "district", "subdistrict", "community")}
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
        d_lat, d_lng = _offset(centre_lat, centre_lng, d_east, d_north)
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
            s_lat, s_lng = _offset(d_lat, d_lng, s_east, s_north)
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
                c_lat, c_lng = _offset(
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


def _select(tree: Sequence[OrganisationPlan], size: str) -> tuple[OrganisationPlan, ...]:
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


def plan_city(*, size: str = "small", seed: int = DEFAULT_SEED) -> CityPlan:
    """The whole demo city as data, without touching the database."""
    if size not in SIZES:
        message = gettext("未知的演示规模：%(size)s（可选 %(sizes)s）。") % {
            "size": size,
            "sizes": ", ".join(SIZES),
        }
        raise ValidationFailed(message, errors={"size": [message]})
    organisations = _select(_full_tree(seed), size)
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
        staff=_staff(organisations, seed),
    )


def _demo_placements(organisations: Sequence[OrganisationPlan]) -> dict[str, str]:
    """Where each demo login sits: username -> organisation code."""
    city = organisations[0]
    districts = [o for o in organisations if o.kind == OrganisationKind.DISTRICT]
    first_district = districts[0]
    subdistrict = next(
        o
        for o in organisations
        if o.parent_code == first_district.code and o.kind == OrganisationKind.SUBDISTRICT
    )
    community = next(o for o in organisations if o.parent_code == subdistrict.code)
    civil_affairs = next(
        o
        for o in organisations
        if o.parent_code == first_district.code and o.function == DepartmentFunction.CIVIL_AFFAIRS
    )
    other_subdistrict = next(
        o
        for o in organisations
        if o.parent_code == districts[1].code and o.kind == OrganisationKind.SUBDISTRICT
    )
    other_community = next(o for o in organisations if o.parent_code == other_subdistrict.code)
    return {
        "operator": city.code,
        "auditor": city.code,
        "publisher": city.code,
        "head": civil_affairs.code,
        "handler": civil_affairs.code,
        "worker": community.code,
        "worker2": other_community.code,
        "registrar": subdistrict.code,
        "resident": community.code,
    }


def _staff(organisations: Sequence[OrganisationPlan], seed: int) -> tuple[StaffPlan, ...]:
    rng = Random(f"{seed}:staff")
    usernames = {username for _, username, *_ in _DEMO_ACCOUNTS}
    placements = _demo_placements(organisations)
    staff: list[StaffPlan] = []

    def person(
        role: str,
        organisation: OrganisationPlan,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        surname, given, surname_py, given_py = _person(rng, female=rng.random() < 0.5)
        if username is None:
            base = (surname_py + given_py).lower().replace("'", "")
            username, n = base, 1
            while username in usernames:
                n += 1
                username = f"{base}{n}"
            usernames.add(username)
        staff.append(
            StaffPlan(
                username=username,
                role=role,
                organisation_code=organisation.code,
                last_name=surname,
                first_name=given,
                password=password,
            )
        )

    by_code = {o.code: o for o in organisations}
    for role, username, password, _zh, _en in _DEMO_ACCOUNTS:
        if role != "resident":
            person(role, by_code[placements[username]], username, password)
    for organisation in organisations:
        if organisation.kind == OrganisationKind.COMMUNITY:
            person("community_worker", organisation)
        elif organisation.kind == OrganisationKind.SUBDISTRICT:
            person("registrar", organisation)
        elif organisation.kind == OrganisationKind.DISTRICT:
            for role in ("operator", "auditor", "publisher"):
                person(role, organisation)
        elif organisation.kind == OrganisationKind.DEPARTMENT:
            person("department_head", organisation)
            person("department_handler", organisation)
            person("department_handler", organisation)
    return tuple(staff)


def demo_logins(*, seed: int = DEFAULT_SEED) -> list[DemoLogin]:
    """The documented demo logins, one or more per role. The same at every size."""
    organisations = _full_tree(seed)
    by_code = {o.code: o for o in organisations}
    placements = _demo_placements(organisations)
    logins = []
    for role, username, password, zh, en in _DEMO_ACCOUNTS:
        where = by_code[placements[username]]
        logins.append(
            DemoLogin(
                role=role,
                username=username,
                password=password,
                description_zh=zh,
                description_en=en,
                organisation_code=where.code,
                organisation_name=where.name,
                organisation_name_en=where.name_en,
            )
        )
    for _config, manifest in modules():
        if manifest.demo_logins:
            logins.extend(import_string(manifest.demo_logins.replace(":", "."))(seed=seed))
    return logins


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
        surname, given, surname_py, given_py = _person(rng, female)
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
        lat, lng = _offset(
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


# Writing the plan ----------------------------------------------------------------------------


@dataclass
class SeedSummary:
    size: str
    seed: int
    organisations: int = 0
    departments: int = 0
    communities: int = 0
    residents: int = 0
    users: int = 0
    role_assignments: int = 0
    resident_accounts: int = 0
    import_batches: int = 0
    modules: list[str] = field(default_factory=list)
    seconds: float = 0.0
    phase_seconds: dict[str, float] = field(default_factory=dict)


def database_is_empty() -> bool:
    """True when no organisation exists yet: the demo city may only be seeded into that."""
    return not Organisation.objects.exists()


def seed_city(
    *, size: str = "small", progress: bool = True, seed: int = DEFAULT_SEED
) -> SeedSummary:
    """Builds the demo city in an empty database and returns what was created."""
    plan = plan_city(size=size, seed=seed)
    if not database_is_empty():
        raise Conflict(gettext("数据库中已有组织机构，演示城市只能写入空数据库。"))
    started = time.perf_counter()
    summary = SeedSummary(size=size, seed=seed)

    def phase(name: str, since: float) -> float:
        now = time.perf_counter()
        summary.phase_seconds[name] = round(now - since, 3)
        return now

    mark = started
    with transaction.atomic():
        organisations = _create_organisations(plan)
        mark = phase("organisations", mark)
        users = _create_staff(plan, organisations)
        mark = phase("staff", mark)
    first_residents = _import_residents(plan, organisations, progress, summary)
    mark = phase("residents", mark)
    with transaction.atomic():
        summary.resident_accounts = _create_resident_accounts(plan, first_residents)
    mark = phase("resident_accounts", mark)
    city = organisations[plan.city.code]
    for config, manifest in modules():
        if not manifest.demo_data:
            continue
        seed_module = import_string(manifest.demo_data.replace(":", "."))
        with transaction.atomic():
            seed_module(city=city, size=size, **_seed_argument(seed_module, seed))
        summary.modules.append(config.label)
        mark = phase(f"module:{config.label}", mark)
    summary.organisations = len(organisations)
    summary.departments = sum(
        1 for o in plan.organisations if o.kind == OrganisationKind.DEPARTMENT
    )
    summary.communities = len(plan.resident_counts)
    summary.users = len(users) + summary.resident_accounts
    summary.role_assignments = RoleAssignment.objects.count()
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary


def _seed_argument(function: Any, seed: int) -> dict[str, int]:
    """Module demo data is called as function(city=..., size=...); a function that also takes
    `seed` gets it, so it can look up the same plan (`plan_city(size=size, seed=seed)`)."""
    parameters = inspect.signature(function).parameters.values()
    if any(p.name == "seed" or p.kind is p.VAR_KEYWORD for p in parameters):
        return {"seed": seed}
    return {}


def _create_organisations(plan: CityPlan) -> dict[str, Organisation]:
    created: dict[str, Organisation] = {}
    for item in plan.organisations:
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


def _create_staff(plan: CityPlan, organisations: dict[str, Organisation]) -> list[User]:
    users = []
    for member in plan.staff:
        user = services.user_create(
            actor=None,
            username=member.username,
            password=member.password,
            first_name=member.first_name,
            last_name=member.last_name,
        )
        services.role_grant(
            actor=None,
            user=user,
            role=member.role,
            organisation=organisations[member.organisation_code],
        )
        users.append(user)
    return users


def _create_resident_accounts(plan: CityPlan, first_residents: dict[str, Resident]) -> int:
    """Every community's first resident has an account; the first community's is the demo
    `resident` login, the others cannot sign in until given a password."""
    demo = next(login for login in demo_logins(seed=plan.seed) if login.role == "resident")
    taken = set(User.objects.values_list("username", flat=True))
    created = 0
    for code, resident in first_residents.items():
        if code == demo.organisation_code:
            username, password = demo.username, demo.password
        else:
            username, password = resident.name_en.replace(" ", ".").replace("'", "").lower(), None
            username = f"{username}.{resident.phone[-4:]}"
        if username in taken:
            continue
        taken.add(username)
        surname_length = 2 if resident.name[:2] in _COMPOUND_SURNAMES else 1
        services.user_create(
            actor=None,
            username=username,
            password=password,
            last_name=resident.name[:surname_length],
            first_name=resident.name[surname_length:],
            phone=resident.phone,
            resident=resident,
        )
        created += 1
    return created


# Resident import -------------------------------------------------------------------------------


def _resident_values(community: Organisation, person: ResidentPlan) -> dict[str, Any]:
    """The same checks and derived fields as `services.resident_create`, without the per-row
    duplicate query (the import checks a whole batch at once)."""
    if not person.name.strip():
        message = gettext("请填写姓名。")
        raise ValidationFailed(message, errors={"name": [message]})
    values = services.resident_derived_fields(
        community=community,
        latitude=person.latitude,
        longitude=person.longitude,
        crs=CoordinateSystem.GCJ02,
        identity_number=person.identity_number,
    )
    return {
        "name": person.name.strip(),
        "name_en": person.name_en,
        "phone": person.phone,
        "address": person.address,
        "community_id": community.pk,
        "latitude": person.latitude,
        "longitude": person.longitude,
        "crs": CoordinateSystem.GCJ02,
        **values,
    }


def _batch_values(
    plan: CityPlan, communities: list[Organisation]
) -> list[tuple[str, list[dict[str, Any]]]]:
    return [
        (c.code, [_resident_values(c, p) for p in plan_residents(plan, c.code)])
        for c in communities
    ]


@lru_cache(maxsize=2)
def _cached_plan(size: str, seed: int) -> CityPlan:
    return plan_city(size=size, seed=seed)


def _pool_batch_values(
    size: str, seed: int, communities: list[Organisation]
) -> list[tuple[str, list[dict[str, Any]]]]:
    return _batch_values(_cached_plan(size, seed), communities)


def _batches(plan: CityPlan, organisations: dict[str, Organisation]) -> list[list[Organisation]]:
    """Whole communities grouped into batches of about IMPORT_BATCH residents."""
    batches: list[list[Organisation]] = [[]]
    rows = 0
    for code, count in plan.resident_counts.items():
        if rows and rows + count > IMPORT_BATCH:
            batches.append([])
            rows = 0
        batches[-1].append(organisations[code])
        rows += count
    return [b for b in batches if b]


def _import_residents(
    plan: CityPlan, organisations: dict[str, Organisation], progress: bool, summary: SeedSummary
) -> dict[str, Resident]:
    batches = _batches(plan, organisations)
    first: dict[str, Resident] = {}
    bar = tqdm(
        total=plan.resident_total,
        unit="人",
        desc="导入居民 Importing residents",
        disable=not progress,
        dynamic_ncols=True,
    )
    with bar, _large_sqlite_cache():
        for batch_number, values in enumerate(_computed_batches(plan, batches), start=1):
            created = _insert_batch(plan, organisations, values, batch_number)
            for code, resident in created.items():
                first.setdefault(code, resident)
            rows = sum(len(v) for _, v in values)
            summary.residents += rows
            summary.import_batches += 1
            bar.update(rows)
    return first


@contextlib.contextmanager
def _large_sqlite_cache() -> Iterator[None]:
    """SQLite keeps 2 MB of pages per connection by default; inserting hundreds of thousands of
    rows into the random-order identity hash index then reads the same pages over and over.
    A larger cache for this connection, for the length of the import, halves the insert time."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        previous = int(cursor.fetchone()[0])
        cursor.execute(f"PRAGMA cache_size = {-SQLITE_IMPORT_CACHE_KIB}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {previous}")


def _computed_batches(
    plan: CityPlan, batches: list[list[Organisation]]
) -> Iterator[list[tuple[str, list[dict[str, Any]]]]]:
    # This process spends about as long writing a row as a worker spends drawing, encrypting
    # and converting it, so it keeps a core of its own.
    workers = (os.cpu_count() or 1) - 1
    use_pool = (
        plan.resident_total >= POOL_THRESHOLD
        and workers >= 1
        and "fork" in multiprocessing.get_all_start_methods()
    )
    if not use_pool:
        for batch in batches:
            yield _batch_values(plan, batch)
        return
    # Create the key file (if it does not exist yet) before forking, so every worker encrypts
    # under the same key. Workers never touch the database connection they inherit.
    crypto.identity_lookup_hash("0")
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        # A bounded window of batches in flight keeps memory flat when the database is the
        # slower side; results come back in batch order so primary keys follow the plan.
        pending: deque[Future[list[tuple[str, list[dict[str, Any]]]]]] = deque()
        queued = deque(batches)
        while queued or pending:
            while queued and len(pending) < 2 * workers:
                batch = queued.popleft()
                pending.append(pool.submit(_pool_batch_values, plan.size, plan.seed, batch))
            yield pending.popleft().result()


def _common_ancestor(organisations: dict[str, Organisation], codes: list[str]) -> Organisation:
    """The lowest organisation whose subtree holds all the given ones (paths are "/1/4/17/")."""
    prefix = os.path.commonprefix([organisations[c].path for c in codes])
    prefix = prefix[: prefix.rfind("/") + 1]
    return next(o for o in organisations.values() if o.path == prefix)


@transaction.atomic
def _insert_batch(
    plan: CityPlan,
    organisations: dict[str, Organisation],
    values: list[tuple[str, list[dict[str, Any]]]],
    batch_number: int,
) -> dict[str, Resident]:
    """One transaction: the duplicate check for the whole batch (one query), the rows, and one
    audit event recording what was imported where."""
    hashes = [row["identity_hash"] for _, rows in values for row in rows if row["identity_hash"]]
    duplicates = set(
        Resident.objects.filter(identity_hash__in=hashes).values_list("identity_hash", flat=True)
    )
    if duplicates or len(set(hashes)) != len(hashes):
        message = gettext("已有居民登记了这个身份证号。")
        raise Conflict(message, errors={"identity_number": [message]})
    residents = [Resident(**row) for _, rows in values for row in rows]
    Resident.objects.bulk_create(residents)
    first: dict[str, Resident] = {}
    position = 0
    for code, rows in values:
        if rows:
            first[code] = residents[position]
        position += len(rows)
    ids = [r.pk for r in residents if r.pk is not None]
    codes = [code for code, _ in values]
    audit_record(
        actor=None,
        action="resident.import",
        object_type="core.resident",
        organisation=_common_ancestor(organisations, codes),
        changes={
            "source": "demo",
            "seed": plan.seed,
            "batch": batch_number,
            "count": len(residents),
            "communities": {code: len(rows) for code, rows in values},
            "first_id": min(ids) if ids else None,
            "last_id": max(ids) if ids else None,
        },
    )
    if any(r.pk is None for r in first.values()):
        # A database without RETURNING on bulk inserts: look the first residents up by hash.
        by_hash = {
            r.identity_hash: r
            for r in Resident.objects.filter(
                identity_hash__in=[r.identity_hash for r in first.values()]
            )
        }
        first = {code: by_hash[r.identity_hash] for code, r in first.items()}
    return first
