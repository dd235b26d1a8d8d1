"""Record linkage, pure Python: normalising the fields people are told apart by, and a
Fellegi-Sunter scorer over them. No tables here; `services` feeds it the registry's candidates.

Comparisons made for Chinese records:
- identity numbers: 15-digit numbers (before 1999) are upgraded to 18 digits with the
  GB 11643 check digit; a number whose check digit fails is no number at all;
- names: the same hanzi; else the same toneless pinyin (homophone errors, traditional against
  simplified characters, and romanised names, in either order); else close pinyin
  (Jaro-Winkler);
- birth dates: the same; else one digit off or day and month swapped;
- addresses: full-width forms, spaces and the usual unit words normalised; the same text;
  else the same house numbers; else similar tokens.

Each comparison falls in a level with an m probability (of the level among true matches) and
a u probability (among non-matches); the match weight is the sum of log2(m/u) over the
fields, and its parts are kept so a reviewer sees why (`Score.parts`)."""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from pypinyin import lazy_pinyin
from rapidfuzz.distance import JaroWinkler
from rapidfuzz.fuzz import token_set_ratio

from civichub.core.identity import check_digit, identity_number_error

_ADDRESS_WORDS = (
    ("號", "号"),
    ("號樓", "号楼"),
    ("栋", "号楼"),
    ("幢", "号楼"),
    ("座", "号楼"),
    ("单元", "单元"),
    ("房", "室"),
    ("弄", "号"),
)
_NOT_NAME = re.compile(r"[^a-z]")


def identity_upgrade(value: str) -> str | None:
    """An identity number in its 18-digit form, or None when it is not a valid number. A
    15-digit number gains the century (19) and the check digit (GB 11643-1999)."""
    text = unicodedata.normalize("NFKC", value).strip().replace(" ", "").upper()
    if re.fullmatch(r"\d{15}", text):
        first17 = text[:6] + "19" + text[6:]
        text = first17 + check_digit(first17)
    return text if identity_number_error(text) is None else None


def pinyin_syllables(name: str) -> list[str]:
    """Toneless pinyin syllables of a name in hanzi (traditional or simplified), or the words
    of a romanised name."""
    return list(_syllables(name))


@functools.lru_cache(maxsize=200_000)
def _syllables(name: str) -> tuple[str, ...]:
    # Names repeat (a city's common surnames and given names): pypinyin is the costly part of
    # a record's keys, so each distinct name is converted once.
    text = unicodedata.normalize("NFKC", name).strip().lower()
    syllables: list[str] = []
    for part in lazy_pinyin(text):
        syllables.extend(w for w in (_NOT_NAME.sub("", x) for x in part.split()) if w)
    return tuple(syllables)


def address_normalise(address: str) -> str:
    text = unicodedata.normalize("NFKC", address)
    text = re.sub(r"[\s,，、.。\-—#()（）]", "", text)
    for old, new in _ADDRESS_WORDS:
        text = text.replace(old, new)
    return text


# The administrative part before a street (province, city, district, county, sub-district,
# town): departments write it or leave it out. A 小区 (housing estate) is not a district.
_ADMIN_PREFIX = re.compile(r"^.*(?:省|自治区|市|(?<!小)区|县|街道|镇|乡)")
_NUMBERS = re.compile(r"\d+")


def address_key(address: str) -> str:
    """What makes two spellings of one address the same place across departments: the street
    (or estate) words before the first number, without the administrative part in front, then
    the numbers in order (building, unit, room). "幸福路12号3单元501室", "幸福路12号楼3-501"
    and "桃园街道幸福路 12栋 3单元 501" give the same key. An address without a number keeps
    its normalised text."""
    text = address_normalise(address)
    first = _NUMBERS.search(text)
    if first is None:
        return text
    street = _ADMIN_PREFIX.sub("", text[: first.start()]) or text[: first.start()]
    # The numbers of the text as written ("3-501": two numbers), leading zeros dropped.
    numbers = _NUMBERS.findall(unicodedata.normalize("NFKC", address))
    return f"{street}|{'-'.join(str(int(n)) for n in numbers)}"


def record_keys(person: dict[str, str]) -> dict[str, Any]:
    """What linkage compares of one record, computed once when the record arrives."""
    name = person.get("name", "")
    syllables = pinyin_syllables(name)
    raw_address = unicodedata.normalize("NFKC", person.get("address", ""))
    address = address_normalise(raw_address)
    return {
        "name": unicodedata.normalize("NFKC", name).replace(" ", ""),
        "name_key": "".join(syllables),
        "name_sorted": " ".join(sorted(syllables)),
        "birth_date": person.get("birth_date", ""),
        "gender": person.get("gender", ""),
        "address": address,
        "address_numbers": "-".join(re.findall(r"\d+", raw_address)),
        "phone": re.sub(r"\D", "", person.get("phone", ""))[-11:],
    }


@dataclass(frozen=True)
class Level:
    name: str
    m: float
    u: float

    @property
    def weight(self) -> float:
        return math.log2(self.m / self.u)


# m and u of each level. u: how often two different people of a city agree that well (a name
# shared by 1 in 2,000 pairs, a birth date by 1 in 10,000); m: how often one person's two
# records do, with the typing errors departments make.
LEVELS: dict[str, dict[str, Level]] = {
    "name": {
        "exact": Level("exact", 0.88, 0.0005),
        "pinyin": Level("pinyin", 0.08, 0.002),
        "similar": Level("similar", 0.03, 0.01),
        "different": Level("different", 0.01, 0.9875),
    },
    "birth_date": {
        "exact": Level("exact", 0.9, 0.0001),
        "close": Level("close", 0.08, 0.001),
        "different": Level("different", 0.02, 0.9989),
    },
    "gender": {
        "same": Level("same", 0.98, 0.5),
        "different": Level("different", 0.02, 0.5),
    },
    "address": {
        "exact": Level("exact", 0.55, 0.001),
        "numbers": Level("numbers", 0.2, 0.01),
        "similar": Level("similar", 0.1, 0.05),
        "different": Level("different", 0.15, 0.939),
    },
    "phone": {
        "exact": Level("exact", 0.6, 0.0001),
        "different": Level("different", 0.4, 0.9999),
    },
}


def _name_level(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    if not a.get("name_key") or not b.get("name_key"):
        return None
    if a["name"] == b["name"]:
        return "exact"
    if a["name_key"] == b["name_key"] or a["name_sorted"] == b["name_sorted"]:
        return "pinyin"
    if JaroWinkler.similarity(a["name_key"], b["name_key"]) >= 0.9:
        return "similar"
    return "different"


def _date_close(x: str, y: str) -> bool:
    if len(x) != len(y):
        return False
    if sum(c != d for c, d in zip(x, y, strict=True)) == 1:
        return True
    try:
        a, b = dt.date.fromisoformat(x), dt.date.fromisoformat(y)
    except ValueError:
        return False
    return (a.year, a.month, a.day) == (b.year, b.day, b.month)


def _birth_level(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    x, y = a.get("birth_date", ""), b.get("birth_date", "")
    if not x or not y:
        return None
    if x == y:
        return "exact"
    return "close" if _date_close(x, y) else "different"


def _gender_level(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    if not a.get("gender") or not b.get("gender"):
        return None
    return "same" if a["gender"] == b["gender"] else "different"


def _address_level(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    x, y = a.get("address", ""), b.get("address", "")
    if not x or not y:
        return None
    if x == y:
        return "exact"
    if a.get("address_numbers") and a.get("address_numbers") == b.get("address_numbers"):
        return "numbers"
    return "similar" if token_set_ratio(list(x), list(y)) >= 80 else "different"


def _phone_level(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    if not a.get("phone") or not b.get("phone"):
        return None
    return "exact" if a["phone"] == b["phone"] else "different"


_COMPARISONS = {
    "name": _name_level,
    "birth_date": _birth_level,
    "gender": _gender_level,
    "address": _address_level,
    "phone": _phone_level,
}


@dataclass(frozen=True)
class Score:
    weight: float
    parts: tuple[tuple[str, str, float], ...]  # (field, level, weight); a missing field is 0

    def explanation(self) -> list[dict[str, Any]]:
        return [{"field": f, "level": lv, "weight": round(w, 2)} for f, lv, w in self.parts]


def score(a: dict[str, Any], b: dict[str, Any]) -> Score:
    """The Fellegi-Sunter match weight of two records' keys (`record_keys`)."""
    parts = []
    for field_name, compare in _COMPARISONS.items():
        level = compare(a, b)
        if level is None:
            parts.append((field_name, "missing", 0.0))
        else:
            parts.append((field_name, level, LEVELS[field_name][level].weight))
    return Score(weight=sum(p[2] for p in parts), parts=tuple(parts))


def best_candidate(
    keys: dict[str, Any], candidates: list[tuple[int, dict[str, Any]]]
) -> tuple[int, Score] | None:
    """The candidate (id, keys) with the highest weight, or None when there is none."""
    best: tuple[int, Score] | None = None
    for candidate_id, candidate_keys in candidates:
        found = score(keys, candidate_keys)
        if best is None or found.weight > best[1].weight:
            best = (candidate_id, found)
    return best


# What the review page calls each compared field and each level, in people's words: the
# explanation stores the scorer's level names (`LEVELS`) or, from a registry-wide run, splink's
# labels (`scale_linkage.chinese_settings`, with splink's own labels for null and else levels).
FIELD_LABELS: dict[str, Promise] = {
    "prior": _("先验（两条记录本是同一人的可能）"),
    "identity": _("身份证号"),
    "name": _("姓名"),
    "birth_date": _("出生日期"),
    "gender": _("性别"),
    "address": _("地址"),
    "phone": _("电话"),
}
LEVEL_LABELS: dict[str, Promise] = {
    "prior": _("比较之前"),
    "missing": _("一方缺少，不计"),
    "exact": _("完全相同"),
    "same": _("相同"),
    "pinyin": _("拼音相同"),
    "similar": _("相近"),
    "close": _("相近（一位数字不同或日月颠倒）"),
    "numbers": _("门牌号相同"),
    "different": _("不同"),
    "same number": _("号码相同"),
    "same hanzi": _("汉字相同"),
    "same pinyin": _("拼音相同"),
    "close pinyin": _("拼音相近"),
    "same date": _("日期相同"),
    "day and month swapped": _("日月颠倒"),
    "one digit off": _("一位数字不同"),
    "same address": _("地址相同"),
    "same house numbers": _("门牌号相同"),
    "similar address": _("地址相近"),
    "All other comparisons": _("不同"),
}


def field_label(field_name: str) -> str:
    """A compared field in the reader's language (the name itself when unknown)."""
    return str(FIELD_LABELS.get(field_name, field_name))


def level_label(level: str) -> str:
    """A comparison level in the reader's language. splink names its levels "x is NULL" (a
    missing value) and "Exact match on x"; unknown labels are shown as they are."""
    if level in LEVEL_LABELS:
        return str(LEVEL_LABELS[level])
    if level.endswith(" is NULL"):
        return str(LEVEL_LABELS["missing"])
    if level.startswith("Exact match on "):
        return str(LEVEL_LABELS["same"])
    return level
