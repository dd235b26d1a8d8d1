"""A generated population with known truth for the data hub's record linkage: one person
appears in the household register (public security, identity number always, some still with
their old 15-digit number) and, with realistic mess, in the health and civil-affairs
extracts: no identity number, traditional characters, homophone surnames, romanised names
in either order, a mistyped given-name character, a mistyped or day/month-swapped birth date,
and addresses written another way. Each record carries the index of its true person.

Deterministic for a seed; the tests use small seeds, the benchmark held-out ones, and the demo
city the same mess functions over its own residents (`demo.py`)."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from pypinyin import lazy_pinyin

from civichub.core.identity import check_digit
from civichub.datahub.mapping import parse_date

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董袁潘于蒋蔡余杜叶"
    "程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾"
    "毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红梅鹏飞波辉斌宇浩凯健俊帆帅旭宁雪琳"
    "晨晶欣怡佳嘉鑫悦思雨婷颖轩子涵梓萱浩然博文宏建国志海峰亮成斌林春燕慧莉"
)
TRADITIONAL = {
    "张": "張",
    "刘": "劉",
    "陈": "陳",
    "杨": "楊",
    "黄": "黃",
    "赵": "趙",
    "吴": "吳",
    "伟": "偉",
    "丽": "麗",
    "强": "強",
    "军": "軍",
    "杰": "傑",
    "涛": "濤",
    "华": "華",
    "红": "紅",
    "鹏": "鵬",
    "飞": "飛",
    "辉": "輝",
    "宁": "寧",
    "晶": "晶",
    "国": "國",
    "志": "誌",
    "海": "海",
    "峰": "峰",
    "亮": "亮",
    "春": "春",
    "燕": "燕",
    "马": "馬",
}
HOMOPHONES = {
    "张": "章",
    "章": "张",
    "王": "汪",
    "汪": "王",
    "李": "黎",
    "黎": "李",
    "刘": "留",
    "陈": "程",
    "林": "琳",
    "徐": "许",
    "许": "徐",
    "孙": "荪",
    "周": "州",
    "吴": "武",
    "伟": "玮",
    "芳": "方",
    "静": "靜",
    "敏": "民",
    "丽": "莉",
    "军": "君",
    "杰": "洁",
}
AREAS = ("650202", "650203", "650204", "650205")  # Karamay's districts
ROADS = ("幸福路", "友谊路", "准噶尔路", "迎宾大道", "塔河路", "昆仑路", "南新路", "世纪大道")
COMMUNITIES = ("T1.1.1.1", "T1.1.1.2", "T1.2.1.1")


@dataclass
class Person:
    index: int
    name: str
    gender: str
    birth: dt.date
    identity: str
    road: str
    building: int
    unit: int
    room: int
    phone: str
    community: str


@dataclass
class Population:
    people: list[Person]
    police: list[dict[str, str]] = field(default_factory=list)
    health: list[dict[str, object]] = field(default_factory=list)
    civil: list[dict[str, object]] = field(default_factory=list)
    truth: dict[tuple[str, str], int] = field(default_factory=dict)  # (source, record) -> person


def _person(rng: random.Random, index: int, seq: dict[str, int]) -> Person:
    gender = rng.choice("MF")
    birth = dt.date(1935, 1, 1) + dt.timedelta(days=rng.randrange(0, 80 * 365))
    key = f"{rng.choice(AREAS)}{birth:%Y%m%d}"
    seq[key] = seq.get(key, 0) + 1
    order = seq[key] * 2 + (1 if gender == "M" else 0)  # odd for men, as in GB 11643
    first17 = f"{key}{order % 1000:03d}"
    name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
    return Person(
        index,
        name,
        gender,
        birth,
        first17 + check_digit(first17),
        rng.choice(ROADS),
        rng.randint(1, 60),
        rng.randint(1, 6),
        rng.randint(1, 30) * 100 + rng.randint(1, 4),
        f"13{rng.randrange(10**9):09d}",
        rng.choice(COMMUNITIES),
    )


def address_written(p: Person, rng: random.Random) -> str:
    styles = (
        f"{p.road}{p.building}号{p.unit}单元{p.room}室",
        f"{p.road}{p.building}号楼{p.unit}-{p.room}",
        f"{p.road} {p.building}栋 {p.unit}单元 {p.room}",
    )
    return rng.choice(styles)


def messy_name(name: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.12:
        return "".join(TRADITIONAL.get(c, c) for c in name)
    if roll < 0.2:
        return "".join(HOMOPHONES.get(c, c) if i == 0 else c for i, c in enumerate(name))
    if roll < 0.27:
        syllables = lazy_pinyin(name)
        given = "".join(syllables[1:]).capitalize()
        surname = syllables[0].upper()
        return f"{given} {surname}" if rng.random() < 0.5 else f"{surname} {given}"
    if roll < 0.31 and len(name) > 2:
        return name[:-1] + rng.choice(GIVEN)
    return name


def messy_birth(birth: dt.date, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.03 and birth.day <= 12 and birth.day != birth.month:
        return f"{birth.year}-{birth.day:02d}-{birth.month:02d}"
    if roll < 0.05:
        text = birth.strftime("%Y%m%d")
        digit = rng.choice((6, 7))
        swapped = text[:digit] + str((int(text[digit]) + 1) % 10) + text[digit + 1 :]
        try:
            return dt.datetime.strptime(swapped, "%Y%m%d").date().isoformat()  # noqa: DTZ007
        except ValueError:
            return birth.isoformat()
    return birth.strftime(rng.choice(("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d")))


def _old_number(identity: str) -> str:
    return identity[:6] + identity[8:17]


def population(
    size: int, *, seed: int, health_share: float = 0.6, civil_share: float = 0.3
) -> Population:
    rng = random.Random(seed)
    seq: dict[str, int] = {}
    people = [_person(rng, i, seq) for i in range(size)]
    pop = Population(people)
    for p in people:
        old = p.birth.year < 1980 and rng.random() < 0.15
        rid = f"P{p.index:07d}"
        pop.police.append(
            {
                "rkbh": rid,
                "xm": p.name,
                "sfzh": _old_number(p.identity) if old else p.identity,
                "csrq": p.birth.isoformat(),
                "xb": "男" if p.gender == "M" else "女",
                "hjdz": address_written(p, rng),
                "lxdh": p.phone if rng.random() < 0.7 else "",
                "sqdm": p.community,
                "hh": f"H{p.index // 3:06d}",
                "yhzgx": "户主",
                "djrq": "2010-05-01",
            }
        )
        pop.truth[("public_security", rid)] = p.index
        if rng.random() < health_share:
            rid = f"D{p.index:07d}"
            pop.health.append(
                {
                    "档案号": rid,
                    "姓名": messy_name(p.name, rng),
                    "身份证号": p.identity if rng.random() < 0.5 else "",
                    "出生日期": messy_birth(p.birth, rng),
                    "性别": "男" if p.gender == "M" else "女",
                    "住址": address_written(p, rng) if rng.random() < 0.8 else "",
                    "电话": p.phone if rng.random() < 0.5 else "",
                    "签约医生": "刘医生",
                    "慢病": rng.choice(("高血压", "糖尿病", "无", "无")),
                    "血型": rng.choice("ABO") if rng.random() < 0.9 else "AB",
                    "末次接种": "",
                }
            )
            pop.truth[("health", rid)] = p.index
        if rng.random() < civil_share:
            rid = f"C{p.index:07d}"
            pop.civil.append(
                {
                    "record_id": rid,
                    "name": messy_name(p.name, rng),
                    "id_number": p.identity if rng.random() < 0.3 else "",
                    "birth_date": messy_birth(p.birth, rng),
                    "gender": "男" if p.gender == "M" else "女",
                    "address": address_written(p, rng),
                    "dibao": rng.random() < 0.1,
                    "elderly_subsidy": "200" if p.birth.year < 1946 else "",
                    "lives_alone": rng.random() < 0.2,
                }
            )
            pop.truth[("civil_affairs", rid)] = p.index
    return pop


def pair_scores(
    predicted: dict[tuple[str, str], int | None], truth: dict[tuple[str, str], int]
) -> tuple[float, float, int, int, int]:
    """Precision, recall and the counts (true positive, predicted, true pairs) over record
    pairs: two records are a predicted pair when linked to the same person."""

    def pairs(groups: dict[object, list[tuple[str, str]]]) -> set[frozenset[tuple[str, str]]]:
        found = set()
        for members in groups.values():
            for i, a in enumerate(members):
                for b in members[i + 1 :]:
                    found.add(frozenset((a, b)))
        return found

    by_person: dict[object, list[tuple[str, str]]] = {}
    for record, person in predicted.items():
        if person is not None:
            by_person.setdefault(person, []).append(record)
    by_truth: dict[object, list[tuple[str, str]]] = {}
    for record, person in truth.items():
        by_truth.setdefault(person, []).append(record)
    guessed, real = pairs(by_person), pairs(by_truth)
    hits = len(guessed & real)
    precision = hits / len(guessed) if guessed else 1.0
    recall = hits / len(real) if real else 1.0
    return precision, recall, hits, len(guessed), len(real)


_COLUMNS = {  # the person fields of each extract, as its mapping file names them
    "public_security": ("rkbh", "xm", "sfzh", "csrq", "xb", "hjdz", "lxdh"),
    "health": ("档案号", "姓名", "身份证号", "出生日期", "性别", "住址", "电话"),
    "civil_affairs": ("record_id", "name", "id_number", "birth_date", "gender", "address", ""),
}


def person_records(pop: Population) -> list[tuple[str, str, dict[str, str]]]:
    """Every record of the three extracts as (source, record id, person fields), the fields
    in the form the import gives them (ISO birth date, M/F)."""
    out = []
    for source, rows in (
        ("public_security", pop.police),
        ("health", pop.health),
        ("civil_affairs", pop.civil),
    ):
        rid, name, number, born, gender, address, phone = _COLUMNS[source]
        for row in rows:
            day = parse_date(str(row[born]))
            out.append(
                (
                    source,
                    str(row[rid]),
                    {
                        "name": str(row[name]),
                        "identity_number": str(row[number]),
                        "birth_date": day.isoformat() if day else "",
                        "gender": "M" if row[gender] == "男" else "F",
                        "address": str(row[address]),
                        "phone": str(row[phone]) if phone else "",
                    },
                )
            )
    return out
