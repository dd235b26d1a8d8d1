"""The ranges every value a client sends must fall in before it reaches a service or the
database, enforced once for the whole API rather than field by field.

- Whole numbers fit the database's 64-bit integers: an offset or an id of 2**63 would
  otherwise fail in the database driver (SQLite's OverflowError, PostgreSQL's "out of range")
  as a 500, after the request had been accepted.
- Dates and times lie well inside the calendar (years 1000 to 8999): a window reaching a
  span or a time zone past year 1 or 9999 would otherwise fail in Python's `datetime` as a 500.
- Text holds no NUL and no unpaired surrogate (JSON can carry both as escapes): PostgreSQL
  refuses NUL in text and no database encodes a lone surrogate, so either would be a 500.
- A time of day carries no UTC offset: the offset of a wall-clock time depends on the day and
  the time zone is given separately (quiet hours), and SQLite cannot store one at all.

`bound_api_inputs` rewrites the input models of every operation of a Ninja API (query, path,
header, form and body parameters, and the schemas nested in them), so a new endpoint is
covered without opting in; protocol adapters that parse by hand (Open311) use
`in_calendar` and `INT64_MAX` directly.
"""

from __future__ import annotations

import datetime as dt
import re
import types
from typing import Annotated, Any, Union, get_args, get_origin

import annotated_types
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from pydantic import AfterValidator, BaseModel, Field
from pydantic_core import PydanticCustomError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# Centuries from either end of Python's calendar (years 1 to 9999), so that any span the
# platform adds (a reporting window, a retention period) or any time zone shift stays inside it.
EARLIEST_YEAR = 1000
LATEST_YEAR = 8999


def in_calendar(value: dt.date) -> bool:
    """Whether a date (or a date and time, by its wall-clock year whatever its time zone) lies
    in the accepted years."""
    return EARLIEST_YEAR <= value.year <= LATEST_YEAR


def calendar_error(value: dt.date) -> str | None:
    """Why a date or a date and time is outside the accepted years, or None when it is inside."""
    if in_calendar(value):
        return None
    return _("日期须在 %(earliest)s 年至 %(latest)s 年之间。") % {
        "earliest": EARLIEST_YEAR,
        "latest": LATEST_YEAR,
    }


def _in_calendar(value: Any) -> Any:
    message = calendar_error(value)
    if message is not None:
        raise PydanticCustomError("date_out_of_range", message)
    return value


def _without_offset(value: dt.time) -> dt.time:
    if value.tzinfo is not None:
        raise PydanticCustomError("time_with_offset", _("时刻不带时区偏移，如 22:00。"))
    return value


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(value: str) -> str:
    if _UNSTORABLE.search(value):
        raise PydanticCustomError(
            "unstorable_character", _("文本中有无法保存的字符（NUL 或不成对的代理项）。")
        )
    return value


_BoundedInt = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
_GUARDED: dict[Any, Any] = {
    int: _BoundedInt,
    str: Annotated[str, AfterValidator(_storable)],
    dt.datetime: Annotated[dt.datetime, AfterValidator(_in_calendar)],
    dt.date: Annotated[dt.date, AfterValidator(_in_calendar)],
    dt.time: Annotated[dt.time, AfterValidator(_without_offset)],
}


def _bounded(annotation: Any, seen: set[type[BaseModel]]) -> Any:
    """The annotation with every int, str, date, datetime and time in it guarded, and every
    model it names bounded in place."""
    if annotation in _GUARDED:
        return _GUARDED[annotation]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        bound_model(annotation, seen)
        return annotation
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is None or not args:
        return annotation
    if origin is Annotated:
        inner = _bounded(args[0], seen)
        return annotation if inner is args[0] else Annotated[(inner, *annotation.__metadata__)]
    new_args = tuple(_bounded(a, seen) if not isinstance(a, str) else a for a in args)
    if new_args == args:
        return annotation
    if origin in (Union, types.UnionType):
        return Union[new_args]  # noqa: UP007 - built from a tuple of arguments
    if origin in (list, set, frozenset, tuple, dict):
        return origin[new_args]
    return annotation


def _bound_top_level_int(metadata: list[Any]) -> None:
    """A plain int field keeps its own bounds (`ge=0`) and gains the side it lacks, so that
    the document shows the field's real minimum."""
    if not any(isinstance(m, annotated_types.Le | annotated_types.Lt) for m in metadata):
        metadata.append(annotated_types.Le(INT64_MAX))
    if not any(isinstance(m, annotated_types.Ge | annotated_types.Gt) for m in metadata):
        metadata.append(annotated_types.Ge(INT64_MIN))


def bound_model(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> None:
    """Guards every field of `model` and of the models it names, then rebuilds its validator
    and schema. Children are rebuilt first, and every parent after them, since a model's
    validator embeds its children's as they were when it was built."""
    seen = set() if seen is None else seen
    if model in seen:
        return
    seen.add(model)
    for field in model.model_fields.values():
        if field.annotation is int:
            _bound_top_level_int(field.metadata)
        else:
            field.annotation = _bounded(field.annotation, seen)
    model.model_rebuild(force=True)


def bound_api_inputs(api: NinjaAPI) -> None:
    """Bounds the input models of every operation mounted on `api` (see the module's doc)."""
    seen: set[type[BaseModel]] = set()
    # The routers as mounted (with their child routers), the same walk the OpenAPI document makes.
    for router in api._get_bound_routers():
        for path_view in router.path_operations.values():
            for operation in path_view.operations:
                for model in operation.models:
                    bound_model(model, seen)
