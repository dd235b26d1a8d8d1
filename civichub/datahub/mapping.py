"""A source's declarative mapping (one TOML file per source under `sources/`, reviewed like
code) and the validation of one row against it. Pure Python: no tables, so the mapping can be
checked on its own and the import loop stays small.

A mapping names the department (by its function), the format, the column holding the source's
record id, the person fields linkage compares (`[person]`) and the attributes the source
delivers (`[attributes.<name>]`, each with a column, a type, `required`, `sensitive` and a
label). Every refused row carries one of `ROW_CODES` and its row number."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from civichub.datahub.linkage import identity_upgrade

FORMATS = ("csv", "xlsx", "json", "rest")
TYPES = ("string", "date", "integer", "decimal", "choice", "boolean")
PERSON_FIELDS = ("name", "identity_number", "birth_date", "gender", "address", "phone")

# Stable codes of a refused row (the rejects file and the API carry them; never reworded).
ROW_CODES = {
    "record_id_missing": "没有记录编号",
    "record_id_repeated": "同一批次中记录编号重复",
    "required_missing": "必填字段为空",
    "name_missing": "没有姓名",
    "identity_invalid": "身份证号格式或校验位错误",
    "date_invalid": "日期无法识别",
    "integer_invalid": "不是整数",
    "decimal_invalid": "不是数字",
    "choice_invalid": "不在允许的取值中",
    "boolean_invalid": "不是是/否",
    "gender_invalid": "性别无法识别",
}

_GENDERS = {
    "男": "M",
    "m": "M",
    "male": "M",
    "1": "M",
    "女": "F",
    "f": "F",
    "female": "F",
    "2": "F",
}
_TRUE = {"是", "true", "yes", "y", "1"}
_FALSE = {"否", "false", "no", "n", "0"}
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y年%m月%d日")


class MappingError(ValueError):
    """A mapping file that cannot be used; the message says which key is wrong."""


@dataclass(frozen=True)
class AttributeSpec:
    name: str
    column: str
    type: str = "string"
    label: str = ""
    required: bool = False
    sensitive: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mapping:
    key: str
    name: str
    department_function: str
    format: str
    record_id: str
    person: dict[str, str]
    attributes: tuple[AttributeSpec, ...]
    community: str = ""
    identity_invalid: str = "reject"  # or "ignore": link the row without its number
    url: str = ""
    pull_every_minutes: int = 0
    # the attribute naming the staff member a person is contracted with (a family doctor)
    contract: str = ""
    # the household register's attributes: the household number and the relation to its head
    household: str = ""
    household_relation: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def attribute(self, name: str) -> AttributeSpec | None:
        return next((a for a in self.attributes if a.name == name), None)

    @property
    def attribute_names(self) -> list[str]:
        return [p for p in PERSON_FIELDS if p in self.person and p != "identity_number"] + [
            a.name for a in self.attributes
        ]

    def sensitive_names(self) -> set[str]:
        return {a.name for a in self.attributes if a.sensitive}


def _required(data: dict[str, Any], key: str, where: str) -> Any:
    if key not in data or data[key] in ("", None):
        raise MappingError(f"{where}: '{key}' is missing")
    return data[key]


def mapping_from_dict(data: dict[str, Any]) -> Mapping:
    key = str(_required(data, "key", "mapping"))
    fmt = str(_required(data, "format", key))
    if fmt not in FORMATS:
        raise MappingError(f"{key}: format must be one of {', '.join(FORMATS)}")
    person = {str(k): str(v) for k, v in dict(data.get("person", {})).items()}
    unknown = set(person) - set(PERSON_FIELDS)
    if unknown or "name" not in person:
        raise MappingError(f"{key}: [person] needs 'name' and knows only {PERSON_FIELDS}")
    attributes = []
    for name, spec in dict(data.get("attributes", {})).items():
        kind = str(spec.get("type", "string"))
        if kind not in TYPES:
            raise MappingError(f"{key}.{name}: type must be one of {', '.join(TYPES)}")
        if name in PERSON_FIELDS:
            raise MappingError(f"{key}.{name}: a person field cannot be an attribute")
        attributes.append(
            AttributeSpec(
                name=str(name),
                column=str(_required(spec, "column", f"{key}.{name}")),
                type=kind,
                label=str(spec.get("label", name)),
                required=bool(spec.get("required", False)),
                sensitive=bool(spec.get("sensitive", False)),
                choices=tuple(str(c) for c in spec.get("choices", ())),
            )
        )
    if fmt == "rest" and not data.get("url"):
        raise MappingError(f"{key}: a REST source needs 'url'")
    names = {a.name for a in attributes}
    for option in ("contract", "household", "household_relation"):
        if data.get(option) and str(data[option]) not in names:
            raise MappingError(f"{key}: '{option}' must name one of the attributes")
    identity_invalid = str(data.get("identity_invalid", "reject"))
    if identity_invalid not in ("reject", "ignore"):
        raise MappingError(f"{key}: identity_invalid must be 'reject' or 'ignore'")
    return Mapping(
        key=key,
        name=str(_required(data, "name", key)),
        department_function=str(_required(data, "department", key)),
        format=fmt,
        record_id=str(_required(data, "record_id", key)),
        person=person,
        attributes=tuple(attributes),
        community=str(data.get("community", "")),
        identity_invalid=identity_invalid,
        url=str(data.get("url", "")),
        pull_every_minutes=int(data.get("pull_every_minutes", 0)),
        contract=str(data.get("contract", "")),
        household=str(data.get("household", "")),
        household_relation=str(data.get("household_relation", "")),
    )


def mapping_load(path: Path) -> Mapping:
    with path.open("rb") as handle:
        return mapping_from_dict(tomllib.load(handle))


def mapping_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.toml"))


@dataclass(frozen=True)
class RowProblem:
    code: str
    field: str

    @property
    def message(self) -> str:
        return ROW_CODES[self.code]


@dataclass
class CleanRow:
    """A valid row: the record id, the person fields, the attribute values (as text), and the
    community code if the source gives one."""

    record_id: str
    person: dict[str, str]
    values: dict[str, str]
    community: str = ""


def _text(raw: dict[str, Any], column: str) -> str:
    value = raw.get(column)
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return re.sub(r"\s+", " ", str(value)).strip()


def parse_date(text: str) -> dt.date | None:
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()  # noqa: DTZ007 (a date, no time)
        except ValueError:
            continue
    return None


def _typed(spec: AttributeSpec, text: str) -> tuple[str, str | None]:
    """The value as stored (text in a canonical form) or the code of why it is refused."""
    if spec.type == "date":
        day = parse_date(text)
        return (day.isoformat(), None) if day else ("", "date_invalid")
    if spec.type == "integer":
        return (str(int(text)), None) if re.fullmatch(r"-?\d+", text) else ("", "integer_invalid")
    if spec.type == "decimal":
        try:
            return (str(Decimal(text)), None)
        except InvalidOperation:
            return ("", "decimal_invalid")
    if spec.type == "choice":
        return (text, None) if text in spec.choices else ("", "choice_invalid")
    if spec.type == "boolean":
        lowered = text.lower()
        if lowered in _TRUE or lowered in _FALSE:
            return ("true" if lowered in _TRUE else "false", None)
        return ("", "boolean_invalid")
    return (text, None)


def _person_fields(
    mapping: Mapping, raw: dict[str, Any]
) -> tuple[dict[str, str], RowProblem | None]:
    person: dict[str, str] = {}
    for name, column in mapping.person.items():
        text = _text(raw, column)
        if not text:
            continue
        if name == "identity_number":
            upgraded = identity_upgrade(text)
            if upgraded is None:
                if mapping.identity_invalid == "reject":
                    return person, RowProblem("identity_invalid", column)
                continue
            text = upgraded
        elif name == "birth_date":
            day = parse_date(text)
            if day is None:
                return person, RowProblem("date_invalid", column)
            text = day.isoformat()
        elif name == "gender":
            gender = _GENDERS.get(text.lower())
            if gender is None:
                return person, RowProblem("gender_invalid", column)
            text = gender
        person[name] = text
    if "name" not in person:
        return person, RowProblem("name_missing", mapping.person["name"])
    return person, None


def row_clean(mapping: Mapping, raw: dict[str, Any]) -> CleanRow | RowProblem:
    """Checks one row against the mapping: the first problem found, or the clean row."""
    record_id = _text(raw, mapping.record_id)
    if not record_id:
        return RowProblem("record_id_missing", mapping.record_id)
    person, problem = _person_fields(mapping, raw)
    if problem is not None:
        return problem
    values: dict[str, str] = {}
    for spec in mapping.attributes:
        text = _text(raw, spec.column)
        if not text:
            if spec.required:
                return RowProblem("required_missing", spec.column)
            continue
        value, code = _typed(spec, text)
        if code is not None:
            return RowProblem(code, spec.column)
        values[spec.name] = value
    community = _text(raw, mapping.community) if mapping.community else ""
    return CleanRow(record_id=record_id, person=person, values=values, community=community)
