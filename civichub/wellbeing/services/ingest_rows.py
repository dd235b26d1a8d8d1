"""A batch of readings as columns: the checks each row must pass before it is compared with what
is stored, done over the whole batch at once with NumPy, and the use of the rows that follow
their meter's stored readings in order (the usual case), decided the same way. The rules are
those of `ingest.readings_ingest`; a Python loop per row was most of ingestion's cost.

Each refused row keeps its stable code and its sentence. A meter whose new rows need more than
this (a time already stored or sent twice, a register refused, a late reading) is left to the
row-by-row walk in `ingest`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from civichub.wellbeing.models import UNIT_DIVISOR, Utility

# Words a CSV file or a stream entry may use for a true reset flag.
_TRUE_WORDS = frozenset({"1", "true", "yes", "y", "t", "on"})
# Relative slack at the plausibility limit, so that a use exactly at it is never refused for a
# rounding error in the last bit.
_LIMIT_TOLERANCE = 1e-9
# Decimal places a register's difference is rounded to (in the meter's unit).
_REGISTER_DECIMALS = 9
# The canonical unit of each utility, the one `Reading.use` and detection are in.
_CANONICAL = {Utility.WATER: "m³", Utility.ELECTRICITY: "kWh", Utility.GAS: "m³"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# "No such time" in a column of microseconds (no meter removed, no reading stored yet).
_NEVER = np.iinfo(np.int64).min
# The codes the column checks give, in the order they are checked (the first that fails is the
# row's); 0 is a row that passed.
CODES = (
    "",
    "unknown_meter",
    "consent_withdrawn",
    "bad_time",
    "future_time",
    "meter_removed",
    "not_a_number",
    "not_finite",
    "negative",
    "implausible",
)
_IMPLAUSIBLE = CODES.index("implausible")


@dataclass(slots=True)
class MeterRow:
    pk: int
    household_id: int
    utility: str
    cumulative: bool
    # A reading's amount divided by this is in the canonical unit (m³ or kWh).
    divisor: int
    interval_minutes: int
    # The most the household can use in an hour, in the canonical unit.
    max_per_hour: float
    active: bool
    removed_at: datetime | None
    withdrawn: bool
    last_at: datetime | None
    last_value: float | None


def parse_time(value: Any, zone: Any = None) -> datetime | None:
    """An aware time in UTC, from a datetime or an ISO 8601 text; naive times are the
    deployment's local time."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                return None
            if parsed is None:
                return None
            moment = parsed
    else:
        return None
    try:
        if moment.tzinfo is None:
            moment = timezone.make_aware(moment, zone or timezone.get_current_timezone())
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):  # the first or last days of the calendar
        return None


def meter_key(raw: Any) -> str:
    """A meter id as text: a Parquet column may hold numbers, a stream sends bytes."""
    if raw is None:
        return ""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    return str(raw).strip()


def reading_value(raw: Any) -> float | None:
    if isinstance(raw, bool) or raw is None:
        return None
    try:
        return float(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError, OverflowError):
        return None


def flag(raw: Any) -> bool:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if isinstance(raw, str):
        return raw.strip().lower() in _TRUE_WORDS
    return bool(raw)


def canonical(amount: float, divisor: int) -> float:
    """An amount in the meter's unit in the canonical one: one division, so that an integer
    number of litres or watt-hours gives the correctly rounded m³ or kWh."""
    return amount if divisor == 1 else amount / divisor


def difference(later: float, earlier: float) -> float:
    """Two register values' difference without the binary round-off of the subtraction: meters
    send decimals (12345.708 - 12345.678 kWh is 0.030000000000654836 in floating point, not
    0.03), so it is rounded to `_REGISTER_DECIMALS` places, far below any meter's resolution."""
    return round(later - earlier, _REGISTER_DECIMALS)


def implausible(meter: MeterRow, use: float, minutes: float) -> str | None:
    """Why a use (canonical unit) over `minutes` is more than the household could use, or None
    when it is plausible. A span shorter than the meter's interval counts as one interval."""
    span = max(minutes, meter.interval_minutes)
    limit = meter.max_per_hour * span / 60
    if use <= limit * (1 + _LIMIT_TOLERANCE):
        return None
    return _(
        "读数不合理：%(minutes)s 分钟内用量 %(use)s %(unit)s，超过住户的上限"
        "（每小时 %(rate)s %(unit)s）；请核对表计的单位。"
    ) % {
        "minutes": round(span),
        "use": round(use, 6),
        "unit": _CANONICAL[Utility(meter.utility)],
        "rate": meter.max_per_hour,
    }


def _microseconds(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def stored_time(value: Any) -> datetime | None:
    """A time column as the database driver returns it (SQLite: naive UTC, or its text), aware."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass
class Columns:
    """The batch's rows as columns. `meter`: each row's index in `meters` (-1: unknown);
    `at_us`: its time in microseconds since 1970 UTC, `moment` its index in `moments` (the
    batch's distinct times, parsed once each); `code`: the index in `CODES` of why it was
    refused, 0 when it passed."""

    meters: MeterTable
    meter: np.ndarray
    at_us: np.ndarray
    moment: np.ndarray
    moments: list[datetime | None]
    value: np.ndarray
    reset: np.ndarray
    code: np.ndarray

    def message(self, row: int) -> str:
        """The sentence for people of a refused row's code."""
        code = CODES[int(self.code[row])]
        if code == "implausible":
            meter = self.meters.meter(int(self.meter[row]))
            use = canonical(float(self.value[row]), meter.divisor)
            return implausible(meter, use, meter.interval_minutes) or ""
        return {
            "unknown_meter": _("未知的表号。"),
            "consent_withdrawn": _("该户已撤回同意，不再处理其数据。"),
            "bad_time": _("读数时间无法识别。"),
            "future_time": _("读数时间晚于当前时间。"),
            "meter_removed": _("该表已更换停用。"),
            "not_a_number": _("读数不是数字。"),
            "not_finite": _("读数不是有限的数字。"),
            "negative": _("读数不能为负数。"),
        }[code]


def meter_keys(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    raw = [row.get("meter_id") for row in rows]
    if set(map(type, raw)) <= {str}:
        return [str(key).strip() for key in raw]
    return [meter_key(key) for key in raw]


def _times(rows: Sequence[Mapping[str, Any]], zone: Any) -> tuple[np.ndarray, list[Any]]:
    """Each row's index among the batch's distinct times, and those times parsed (a feed's
    batch shares a few times among many meters)."""
    raw = [row.get("at") for row in rows]
    try:
        distinct = dict.fromkeys(raw)
    except TypeError:  # something unhashable: parsed one by one
        return np.arange(len(raw), dtype=np.int64), [parse_time(value, zone) for value in raw]
    ordinal = {value: number for number, value in enumerate(distinct)}
    where = np.fromiter(map(ordinal.__getitem__, raw), dtype=np.int64, count=len(raw))
    return where, [parse_time(value, zone) for value in distinct]


def _values(rows: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """The readings as floats, and which are not numbers at all (NaN stands in for those)."""
    raw = [row.get("value") for row in rows]
    if set(map(type, raw)) <= {float, int, np.float64}:
        try:
            return np.array(raw, dtype=np.float64), np.zeros(len(raw), dtype=bool)
        except OverflowError:  # an integer beyond a float: the slow way says which
            pass
    parsed = [reading_value(value) for value in raw]
    missing = np.array([value is None for value in parsed], dtype=bool)
    values = np.array([math.nan if value is None else value for value in parsed], dtype=float)
    return values, missing


def _resets(rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    raw = [row.get("reset") for row in rows]
    if set(map(type, raw)) <= {bool, type(None)}:
        return np.array([value is True for value in raw], dtype=bool)
    return np.array([flag(value) for value in raw], dtype=bool)


class MeterTable:
    """The batch's meters as their lookup returned them, one tuple each: meter id, key,
    household, utility, cumulative, unit, interval, active, removed at, consent withdrawn at,
    the latest stored reading's time (microseconds since 1970 UTC) and value. Their fields as
    arrays, with one extra last entry that an unknown meter's index (-1) reads; a meter as a
    `MeterRow` only where the row-by-row walk or a message needs it."""

    def __init__(self, rows: list[tuple[Any, ...]], limits: Mapping[str, float]) -> None:
        self.rows = rows
        self.limits = limits
        self.position = {row[0]: number for number, row in enumerate(rows)}
        fields = [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * 12
        _key, pk, home, utility, cumulative, unit, interval, active, *rest = fields
        removed, withdrawn, last_us, last_value = rest

        def column(values: list[Any], filler: Any, dtype: Any) -> np.ndarray:
            return np.array([*values, filler], dtype=dtype)

        self.pk = column(pk, 0, np.int64)
        self.household = column(home, 0, np.int64)
        self.cumulative = column(cumulative, False, bool)
        self.divisor = column([UNIT_DIVISOR[u] for u in unit], 1, np.float64)
        self.interval = column(interval, 1, np.float64)
        self.max_per_hour = column([limits[u] for u in utility], 0.0, np.float64)
        self.active = column(active, False, bool)
        self.withdrawn = column([w is not None for w in withdrawn], False, bool)
        self.removed_us = column(
            [_NEVER if r is None else _microseconds(stored_time(r)) for r in removed],  # type: ignore[arg-type]
            _NEVER,
            np.int64,
        )
        self.last_us = column([_NEVER if t is None else t for t in last_us], _NEVER, np.int64)
        self.last_value = column(
            [math.nan if v is None else v for v in last_value], math.nan, np.float64
        )

    def meter(self, index: int) -> MeterRow:
        _key, pk, home, utility, cumulative, unit, interval, active, *rest = self.rows[index]
        removed, withdrawn, last_us, last_value = rest
        return MeterRow(
            pk,
            home,
            utility,
            bool(cumulative),
            UNIT_DIVISOR[unit],
            interval,
            self.limits[utility],
            bool(active),
            stored_time(removed),
            withdrawn is not None,
            None if last_us is None else _EPOCH + timedelta(microseconds=last_us),
            last_value,
        )


def rows_check(
    rows: Sequence[Mapping[str, Any]],
    keys: list[str],
    meters: MeterTable,
    *,
    latest: datetime,
    zone: Any,
) -> Columns:
    """Every row checked at once, in the order of `CODES`: its meter known and consenting, its
    time readable, not in the future and not after its meter's removal, its value a finite
    number, not negative, and (an interval meter's) plausible for one interval."""
    position = meters.position
    meter = np.array([position.get(key, -1) for key in keys], dtype=np.int64)
    moment, moments = _times(rows, zone)
    times = np.array(
        [_NEVER if at is None else _microseconds(at) for at in moments], dtype=np.int64
    )
    at_us = times[moment] if len(rows) else np.zeros(0, dtype=np.int64)
    value, not_a_number = _values(rows)
    fields = meters
    code = np.zeros(len(rows), dtype=np.int8)

    def refuse(failed: np.ndarray, name: str) -> None:
        code[(code == 0) & failed] = CODES.index(name)

    with np.errstate(invalid="ignore", over="ignore"):
        refuse(meter < 0, "unknown_meter")
        refuse(fields.withdrawn[meter], "consent_withdrawn")
        refuse(at_us == _NEVER, "bad_time")
        refuse(at_us > _microseconds(latest), "future_time")
        refuse(~fields.active[meter] & (at_us > fields.removed_us[meter]), "meter_removed")
        refuse(not_a_number, "not_a_number")
        refuse(~np.isfinite(value), "not_finite")
        refuse(value < 0, "negative")
        use = value / fields.divisor[meter]
        limit = fields.max_per_hour[meter] * fields.interval[meter] / 60
        refuse(~fields.cumulative[meter] & (use > limit * (1 + _LIMIT_TOLERANCE)), "implausible")
    return Columns(meters, meter, at_us, moment, moments, value, _resets(rows), code)


@dataclass
class InOrder:
    """The rows of meters whose new readings all follow what is stored, each time once, and
    (registers) none refused: `rows` (batch indices, by meter then time) and their `use`.
    `walk`: the batch indices of every other checked row, for the row-by-row walk."""

    rows: np.ndarray
    use: np.ndarray
    walk: np.ndarray


def rows_in_order(columns: Columns) -> InOrder:
    """The use of each row whose meter's new readings simply follow its stored ones: an interval
    meter's value in the canonical unit, a register's difference from the reading before it
    (its stored last one, or the row before), its own value after a reset, nothing for the
    first reading a meter ever sends. A register going backwards without a reset or rising
    implausibly fast leaves its meter to the walk, which refuses the row and decides the rest
    against the readings it keeps."""
    fields = columns.meters
    passed = np.flatnonzero(columns.code == 0)
    meter = columns.meter[passed]
    at_us = columns.at_us[passed]
    order = passed[np.lexsort((passed, at_us, meter))]
    meter, at_us = columns.meter[order], columns.at_us[order]
    value, reset = columns.value[order], columns.reset[order]
    first = np.ones(order.size, dtype=bool)
    first[1:] = meter[1:] != meter[:-1]
    twice = np.zeros(order.size, dtype=bool)
    twice[1:] = ~first[1:] & (at_us[1:] == at_us[:-1])
    last_us = fields.last_us[meter]
    late = first & (at_us <= last_us)
    previous_value = np.where(first, fields.last_value[meter], np.roll(value, 1))
    previous_us = np.where(first, last_us, np.roll(at_us, 1))
    register = fields.cumulative[meter]
    has_previous = register & (~first | (last_us != _NEVER))
    divisor = fields.divisor[meter]
    with np.errstate(invalid="ignore", over="ignore"):
        backwards = has_previous & (value < previous_value) & ~reset
        use = value / divisor
        counted = has_previous & ~reset
        differences = (value[counted] - previous_value[counted]).tolist()
        use[counted] = (
            np.array([round(d, _REGISTER_DECIMALS) for d in differences], dtype=np.float64)
            / divisor[counted]
        )
        use[register & ~has_previous & ~reset] = 0.0
        minutes = (at_us - previous_us).astype(np.float64) / 1e6 / 60
        span = np.maximum(minutes, fields.interval[meter])
        limit = fields.max_per_hour[meter] * span / 60
        too_much = has_previous & (use > limit * (1 + _LIMIT_TOLERANCE))
    troubled = np.unique(meter[twice | late | backwards | too_much])
    walked = np.isin(meter, troubled)
    return InOrder(order[~walked], use[~walked], order[walked])
