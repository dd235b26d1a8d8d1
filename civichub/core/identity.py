"""Resident identity numbers (居民身份证号码, GB 11643-1999): format and check digit."""

from __future__ import annotations

import datetime as dt
import re

from django.utils.translation import gettext as _

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_PATTERN = re.compile(r"^\d{17}[\dX]$")


def check_digit(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def identity_number_error(value: str) -> str | None:
    """Returns why the number is invalid (a sentence in the active language), or None when it is
    valid."""
    if not _PATTERN.match(value):
        return _("身份证号应为 17 位数字加 1 位数字或字母 X。")
    try:
        dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return _("身份证号中的出生日期不存在。")
    if check_digit(value[:17]) != value[17]:
        return _("身份证号的校验位不符。")
    return None


def birth_year(value: str) -> int:
    return int(value[6:10])
