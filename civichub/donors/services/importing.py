"""Bulk import of donors from the blood centre: a CSV (UTF-8) or Excel (.xlsx) file, one donor a
row. Each row is checked on its own and either stored (through `donor_register`, so the rules,
the identity-number merge and the audit are those of any registration) or rejected with a
stable code, the row's number and a plain sentence; the rejects form a report the centre can
correct and send again. A row whose donor is already stored with the same values changes
nothing, so the same file imported twice gives the same registry.

Columns (the header row; Chinese names accepted beside the English ones):

| column | meaning |
|---|---|
| `identity_number` | required: duplicates by it merge into one donor |
| `name`, `phone` | required |
| `community` | the community's code (or the `--community` given for the whole file) |
| `sex` | `male`/`female` (男/女) |
| `birth_date` | YYYY-MM-DD |
| `weight_kg` | |
| `abo`, `rhd` | O/A/B/AB; `pos`/`neg` (or +/−, 阳/阴) |
| `verified` | yes when the centre tested the group (the default for a centre's file) |
| `phenotype` | optional antigens, e.g. `K-;Fya+;DEL+` |
| `health_consent` | yes when the donor agreed to keep health data: no row is stored without |
| `location_consent`, `latitude`, `longitude`, `crs` | the coarse place, only with that consent |
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from openpyxl import load_workbook

from civichub.core import crypto
from civichub.core.audit import audit_record
from civichub.core.errors import ValidationFailed
from civichub.core.models import CoordinateSystem, Organisation, User
from civichub.core.permissions import require
from civichub.donors.models import ABO, Donor, GroupSource, RhD, Sex
from civichub.donors.selectors import community_by_code
from civichub.donors.services.registry import (
    PHENOTYPE_ANTIGENS,
    DonorDetails,
    Registration,
    donor_register,
    donor_unchanged,
)

# Header names the centre's files may use, to the importer's own.
COLUMNS = {
    "identity_number": "identity_number",
    "身份证号": "identity_number",
    "name": "name",
    "姓名": "name",
    "phone": "phone",
    "手机": "phone",
    "community": "community",
    "社区": "community",
    "sex": "sex",
    "性别": "sex",
    "birth_date": "birth_date",
    "出生日期": "birth_date",
    "weight_kg": "weight_kg",
    "体重": "weight_kg",
    "abo": "abo",
    "ABO": "abo",
    "rhd": "rhd",
    "RhD": "rhd",
    "verified": "verified",
    "血站检测": "verified",
    "phenotype": "phenotype",
    "表型": "phenotype",
    "health_consent": "health_consent",
    "健康信息同意": "health_consent",
    "location_consent": "location_consent",
    "位置信息同意": "location_consent",
    "latitude": "latitude",
    "纬度": "latitude",
    "longitude": "longitude",
    "经度": "longitude",
    "crs": "crs",
    "坐标系": "crs",
}
REQUIRED = ("identity_number", "name", "phone", "sex", "birth_date", "weight_kg", "abo", "rhd")
_YES = {"yes", "y", "true", "1", "是", "同意", "√", "✓"}
_NO = {"no", "n", "false", "0", "否", "不同意", ""}
_SEX = {"male": Sex.MALE, "m": Sex.MALE, "男": Sex.MALE, "female": Sex.FEMALE, "f": Sex.FEMALE}
_SEX["女"] = Sex.FEMALE
_RHD = {"pos": RhD.POS, "+": RhD.POS, "阳": RhD.POS, "阳性": RhD.POS, "neg": RhD.NEG}
_RHD.update({"-": RhD.NEG, "−": RhD.NEG, "阴": RhD.NEG, "阴性": RhD.NEG})
# The most rows one file may hold (a centre's registry is imported in parts).
MAX_ROWS = 50_000


class ImportUnreadable(ValueError):
    """The file as a whole cannot be read: not UTF-8 CSV, not a workbook, no header."""


@dataclass(frozen=True)
class Reject:
    """A row not stored: its number (the first row after the header is 1), a stable code, the
    column at fault (if one) and a sentence."""

    row: int
    code: str
    column: str
    message: str


@dataclass
class ImportResult:
    created: int = 0
    merged: int = 0
    unchanged: int = 0
    rejects: list[Reject] = field(default_factory=list)

    def rejects_csv(self) -> str:
        """The rejects report: row, code, column, message (CSV, UTF-8)."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["row", "code", "column", "message"])
        for reject in self.rejects:
            writer.writerow([reject.row, reject.code, reject.column, reject.message])
        return out.getvalue()


def _csv_rows(content: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportUnreadable(_("CSV 文件须为 UTF-8 编码。")) from exc
    try:
        yield from enumerate(csv.DictReader(io.StringIO(text)), start=1)
    except csv.Error as exc:
        raise ImportUnreadable(_("CSV 文件无法读取。")) from exc


def _xlsx_rows(content: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several types for a file that is no workbook
        raise ImportUnreadable(_("不是 Excel 工作簿（.xlsx）。")) from exc
    try:
        rows = book.worksheets[0].iter_rows(values_only=True)
        header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
        for number, values in enumerate(rows, start=1):
            if all(v is None or str(v).strip() == "" for v in values):
                continue
            yield number, dict(zip(header, values, strict=False))
    finally:
        book.close()


def file_rows(filename: str, content: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    """The rows of a CSV or .xlsx file with the importer's column names."""
    reader = _xlsx_rows if filename.lower().endswith(".xlsx") else _csv_rows
    for number, row in reader(content):
        yield (
            number,
            {
                COLUMNS[str(k).strip()]: v
                for k, v in row.items()
                if k is not None and str(k).strip() in COLUMNS
            },
        )


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


class _RowError(Exception):
    def __init__(self, code: str, column: str, message: str) -> None:
        super().__init__(message)
        self.code, self.column, self.message = code, column, message


def _yes(row: dict[str, Any], column: str, default: bool) -> bool:
    value = _text(row.get(column)).lower()
    if column not in row or value == "" and default:
        return default
    if value in _YES:
        return True
    if value in _NO:
        return False
    raise _RowError("bad_flag", column, _("只能填“是”或“否”。"))


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(_text(value))
    except ValueError as exc:
        raise _RowError("bad_date", "birth_date", _("日期须为 YYYY-MM-DD。")) from exc


def _number(row: dict[str, Any], column: str) -> float | None:
    text = _text(row.get(column))
    if not text:
        return None
    try:
        return float(text)
    except ValueError as exc:
        raise _RowError("bad_number", column, _("须为数字。")) from exc


def _phenotype(value: Any) -> dict[str, str] | None:
    text = _text(value)
    if not text:
        return None
    found: dict[str, str] = {}
    for part in text.replace("；", ";").replace(",", ";").split(";"):
        part = part.strip().replace("(", "").replace(")", "").replace("−", "-")
        if not part:
            continue
        antigen, sign = part[:-1], part[-1:]
        if antigen not in PHENOTYPE_ANTIGENS or sign not in ("+", "-"):
            raise _RowError(
                "bad_phenotype", "phenotype", _("表型只能记录已知抗原的阳性（+）或阴性（-）。")
            )
        found[antigen] = sign
    return found


# Which stable code a field's refusal by `donor_register` gets.
_CODES = {
    "abo": "bad_abo",
    "rhd": "bad_rhd",
    "sex": "bad_sex",
    "birth_date": "bad_birth_date",
    "weight_kg": "bad_weight",
    "name": "bad_name",
    "phone": "bad_phone",
    "identity_number": "bad_identity_number",
    "location": "bad_location",
    "phenotype": "bad_phenotype",
    "community": "bad_community",
    "health_consent": "no_health_consent",
}


def _import_row(*, actor: User | None, row: dict[str, Any], community: Organisation | None) -> str:
    """Stores one row; returns "created", "merged" or "unchanged", or raises `_RowError`."""
    for column in REQUIRED:
        if not _text(row.get(column)):
            raise _RowError("missing", column, _("此列不能为空。"))
    code = _text(row.get("community"))
    if code:
        place = community_by_code(code)
        if place is None:
            raise _RowError("unknown_community", "community", _("没有这个社区编码。"))
    elif community is not None:
        place = community
    else:
        raise _RowError("missing", "community", _("此列不能为空。"))
    if not _yes(row, "health_consent", default=False):
        raise _RowError(
            "no_health_consent",
            "health_consent",
            _("志愿者未同意保存健康信息：不能导入。"),
        )
    sex = _SEX.get(_text(row.get("sex")).lower())
    abo = _text(row.get("abo")).upper()
    rhd = _RHD.get(_text(row.get("rhd")).lower())
    if sex is None:
        raise _RowError("bad_sex", "sex", _("请选择性别。"))
    if abo not in ABO.values:
        raise _RowError("bad_abo", "abo", _("ABO 血型只能是 O、A、B 或 AB。"))
    if rhd is None:
        raise _RowError("bad_rhd", "rhd", _("RhD 只能是阳性或阴性。"))
    weight = _number(row, "weight_kg")
    details = DonorDetails(
        sex=sex,
        birth_date=_date(row.get("birth_date")),
        weight_kg=weight if weight is not None else 0.0,
        abo=abo,
        rhd=rhd,
        phenotype=_phenotype(row.get("phenotype")),
    )
    location = _yes(row, "location_consent", default=False)
    crs = _text(row.get("crs")).lower() or CoordinateSystem.GCJ02
    registration = Registration(
        name=_text(row.get("name")),
        phone=_text(row.get("phone")),
        community=place,
        details=details,
        health_consent=True,
        location_consent=location,
        latitude=_number(row, "latitude") if location else None,
        longitude=_number(row, "longitude") if location else None,
        crs=crs,
        identity_number=_text(row.get("identity_number")),
        verified=_yes(row, "verified", default=True),
    )
    if donor_unchanged(registration=registration):
        return "unchanged"
    number = crypto.normalise_identity_number(registration.identity_number)
    known = Donor.objects.filter(identity_hash=crypto.identity_lookup_hash(number)).exists()
    try:
        with transaction.atomic():
            donor_register(actor=actor, registration=registration)
    except ValidationFailed as exc:
        column = next(iter(exc.errors), "") if exc.errors else ""
        message = exc.errors[column][0] if column else exc.message
        raise _RowError(_CODES.get(column, "invalid"), column, str(message)) from exc
    return "merged" if known else "created"


@transaction.atomic
def donor_import(
    *,
    actor: User | None,
    filename: str,
    content: bytes,
    community: Organisation | None = None,
) -> ImportResult:
    """Imports the blood centre's file: every good row stored (a new donor, or merged into the
    one with the same identity number; a row that changes nothing is left alone), every bad
    row reported with its number and a stable code, nothing of a bad row stored. `actor`
    None is the command line run by the operator. Audited: each donor stored, and the import
    with its counts."""
    if actor is not None:
        require(actor, "donors.donor.manage", community)
    result = ImportResult()
    seen: dict[str, int] = {}
    for number, row in file_rows(filename, content):
        if number > MAX_ROWS:
            raise ImportUnreadable(_("一个文件最多 %(n)s 行；请分批导入。") % {"n": MAX_ROWS})
        identity = crypto.normalise_identity_number(_text(row.get("identity_number")))
        if identity and identity in seen:
            result.rejects.append(
                Reject(
                    number,
                    "duplicate_in_file",
                    "identity_number",
                    _("与第 %(row)s 行的身份证号相同。") % {"row": seen[identity]},
                )
            )
            continue
        try:
            outcome = _import_row(actor=actor, row=row, community=community)
        except _RowError as problem:
            result.rejects.append(Reject(number, problem.code, problem.column, problem.message))
            continue
        if identity:
            seen[identity] = number
        setattr(result, outcome, getattr(result, outcome) + 1)
    audit_record(
        actor=actor,
        action="donors.donor.import",
        obj=community,
        changes={
            "file": filename[-100:],
            "created": result.created,
            "merged": result.merged,
            "unchanged": result.unchanged,
            "rejected": len(result.rejects),
            "source": GroupSource.CENTRE.value,
        },
    )
    return result
