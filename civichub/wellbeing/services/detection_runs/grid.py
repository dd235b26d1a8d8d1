"""Stored readings as the detector's half-hour grid, for a batch of households at once.

A reading's use covers the interval since its meter's previous reading. It is spread evenly over
the half hours of the meter's usual interval (inferred from the spacing of its readings): two
15-minute readings sum into their half hour, an hourly value is split in two. A reading after a
longer silence than usual says how much was used in the silence but not when, so it is a gap
(NaN), not use. A household is detected only through the latest half hour all its active meters
have reported: a rule that cannot be decided yet waits. A meter silent for longer than the
data-gap rule's hours does not hold the others back, so that the data-gap alert can fire."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
from django.db import connection
from django.utils import timezone

from civichub.wellbeing import detection
from civichub.wellbeing.models import Meter, Reading, Utility
from civichub.wellbeing.services.detector_state import UTILITY_INDEX
from civichub.wellbeing.services.sql import in_list

_US = 1_000_000
SLOT_US = detection.SLOT_MINUTES * 60 * _US
# Slot 0 starts at the detector's epoch, in local wall-clock time, counted from 1970-01-01.
_EPOCH_US = (detection.EPOCH - datetime(1970, 1, 1)) // timedelta(microseconds=1)  # noqa: DTZ001
# A reading this much further from its predecessor than the meter's usual interval follows a
# silence: a gap, not use.
GAP_FACTOR = 1.5
# The usual interval of a meter with too few readings to tell.
DEFAULT_INTERVAL_US = SLOT_US
# Meter ids per query, well under every database's limit on query parameters.
_CHUNK = 5000


@dataclass(slots=True)
class MeterInfo:
    pk: int
    household_id: int
    utility: int  # the detector's column
    active: bool
    cumulative: bool


def meters_of(households: Sequence[int]) -> list[MeterInfo]:
    rows = Meter.objects.filter(household_id__in=households).values_list(
        "pk", "household_id", "utility", "active", "cumulative"
    )
    return [
        MeterInfo(pk, household, UTILITY_INDEX[Utility(utility)], active, cumulative)
        for pk, household, utility, active, cumulative in rows
    ]


@dataclass
class StoredReadings:
    """Readings of many meters, sorted by meter then time: the meter, the reading's time in UTC
    and in local wall-clock microseconds, and its use."""

    meter: np.ndarray
    utc_us: np.ndarray
    local_us: np.ndarray
    use: np.ndarray

    @property
    def end_slot(self) -> np.ndarray:
        """The half hour holding each reading's time (a reading covers the interval that ends
        at its time, so one exactly on a boundary closes the half hour before)."""
        return (self.local_us - _EPOCH_US - 1) // SLOT_US


def _epoch_us_sql() -> str:
    at = connection.ops.quote_name("at")
    if connection.vendor == "postgresql":
        return f"(EXTRACT(EPOCH FROM {at}) * 1000000)::bigint"
    # Django's SQLite backend stores UTC as 'YYYY-MM-DD HH:MM:SS[.ffffff]'.
    return (
        f"CAST(strftime('%%s', {at}) AS INTEGER) * 1000000 + CAST(substr({at}, 21, 6) AS INTEGER)"
    )


def readings_fetch(meters: Sequence[int], after: datetime) -> StoredReadings:
    """The readings of `meters` dated after `after`, in one query per chunk of meters."""
    table = connection.ops.quote_name(Reading._meta.db_table)
    meter_id, at, use = (connection.ops.quote_name(name) for name in ("meter_id", "at", "use"))
    parts: list[np.ndarray] = []
    wanted = sorted(meters)
    with connection.cursor() as cursor:
        for first in range(0, len(wanted), _CHUNK):
            chunk = wanted[first : first + _CHUNK]
            where, params = in_list(chunk)
            query = (
                f"SELECT {meter_id}, {_epoch_us_sql()}, {use} FROM {table} "  # noqa: S608  # nosec B608
                f"WHERE {meter_id} {where} AND {at} > %s ORDER BY {meter_id}, {at}"
            )
            params.append(connection.ops.adapt_datetimefield_value(after))
            if connection.vendor == "postgresql":
                # Binary results (which need the server to bind the parameters): the server
                # does not print each number as text, nor the driver parse it back.
                with psycopg.Cursor(connection.connection) as binary:
                    binary.execute(query, params, binary=True)
                    rows = binary.fetchall()
            else:
                cursor.execute(query, params)
                rows = cursor.fetchall()
            if rows:
                parts.append(np.array(rows, dtype=np.float64).reshape(-1, 3))
    table_rows = np.concatenate(parts) if parts else np.zeros((0, 3))
    meter = table_rows[:, 0].astype(np.int64)
    # Microseconds since 1970 stay below 2**53 until the year 2255: exact in a float64.
    utc_us = table_rows[:, 1].astype(np.int64)
    return StoredReadings(meter, utc_us, _local_us(utc_us), table_rows[:, 2].copy())


def _local_us(utc_us: np.ndarray) -> np.ndarray:
    """Local wall-clock time of each UTC time, the zone's offset looked up once per hour."""
    if utc_us.size == 0:
        return utc_us.copy()
    zone = timezone.get_current_timezone()
    hours, where = np.unique(utc_us // (3600 * _US), return_inverse=True)
    offsets = np.array(
        [
            (
                datetime.fromtimestamp(int(hour) * 3600, UTC).astimezone(zone).utcoffset()
                or timedelta()
            )
            // timedelta(microseconds=1)
            for hour in hours
        ],
        dtype=np.int64,
    )
    return utc_us + offsets[where]


@dataclass
class HouseholdGrid:
    """One household's use per half hour and utility from `window` to `latest`, NaN where no
    reading says it (shape (1, slots, 3))."""

    window: int
    latest: int
    values: np.ndarray


@dataclass(slots=True)
class GridRequest:
    household: int
    window: int  # the first half hour wanted; -1: from the first reading on (a first run)
    done: int  # the last half hour already detected, -1 before the first run


def grids_build(
    requests: Sequence[GridRequest],
    meters: Sequence[MeterInfo],
    readings: StoredReadings,
    *,
    gap_slots: int,
) -> dict[int, HouseholdGrid]:
    """Each household's grid from its window through the latest half hour all its active meters
    have reported (households with nothing new to detect are left out). Every household's
    grid is summed in one pass over the readings, into one array the grids are views of."""
    by_pk = {meter.pk: meter for meter in meters}
    first_run = {r.household for r in requests if r.done < 0}
    spread = _spread(readings, by_pk, first_run)
    last_slot = _last_slots(readings)
    contributions = _contributions(readings, spread, meters)
    meters_of_household: dict[int, list[MeterInfo]] = {}
    for meter in meters:
        meters_of_household.setdefault(meter.household_id, []).append(meter)
    # Each household's window and latest half hour, and where its grid starts in the array.
    chosen: list[tuple[int, int, int, int]] = []  # household, window, latest, offset
    size = 0
    for request in requests:
        own = meters_of_household.get(request.household, [])
        latest = _frontier(
            [last_slot[m.pk] for m in own if m.active and m.pk in last_slot], gap_slots
        )
        first = contributions.first_slot.get(request.household)
        if latest is None or first is None:
            continue
        window = request.window
        if window < 0:
            if first == _NO_SLOT:
                continue
            window = first
        latest = max(latest, request.done)
        if latest < window:
            continue
        chosen.append((request.household, window, latest, size))
        size += (latest - window + 1) * 3
    if not chosen:
        return {}
    households = np.array([c[0] for c in chosen], dtype=np.int64)
    order = np.argsort(households)
    households = households[order]
    windows = np.array([c[1] for c in chosen], dtype=np.int64)[order]
    latests = np.array([c[2] for c in chosen], dtype=np.int64)[order]
    offsets = np.array([c[3] for c in chosen], dtype=np.int64)[order]
    owner, slots = contributions.owner, contributions.slot
    where = np.clip(np.searchsorted(households, owner), 0, households.size - 1)
    row_window, row_latest = windows[where], latests[where]
    keep = (households[where] == owner) & (slots >= row_window) & (slots <= row_latest)
    # Sums in the order the readings come, as one household's own sums would be.
    cell = (offsets[where] + (slots - row_window) * 3 + contributions.column)[keep]
    total = np.zeros(size)
    count = np.zeros(size, dtype=np.int64)
    np.add.at(total, cell, contributions.use[keep])
    np.add.at(count, cell, 1)
    values = np.where(count > 0, total, np.nan)
    grids: dict[int, HouseholdGrid] = {}
    for household, window_at, latest_at, offset in chosen:
        rows = latest_at - window_at + 1
        grid = values[offset : offset + rows * 3].reshape(1, rows, 3)
        grids[household] = HouseholdGrid(window=window_at, latest=latest_at, values=grid)
    return grids


def _frontier(lasts: list[int], gap_slots: int) -> int | None:
    """The latest half hour every meter has reported, leaving out meters silent for longer
    than the data-gap rule while others report."""
    if not lasts:
        return None
    newest = max(lasts)
    return min(last for last in lasts if newest - last <= gap_slots)


def _last_slots(readings: StoredReadings) -> dict[int, int]:
    if readings.meter.size == 0:
        return {}
    ends = np.flatnonzero(np.diff(readings.meter, append=readings.meter[-1] + 1))
    slots = readings.end_slot[ends]
    return dict(zip(readings.meter[ends].tolist(), slots.tolist(), strict=True))


@dataclass
class _Spread:
    """Where each reading's use goes: `parts` half hours ending at its own, `use / parts`
    each; `gap` readings go nowhere."""

    parts: np.ndarray
    gap: np.ndarray


def _spread(readings: StoredReadings, meters: dict[int, MeterInfo], first_run: set[int]) -> _Spread:
    n = readings.meter.size
    if n == 0:
        return _Spread(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool))
    first = np.ones(n, dtype=bool)
    first[1:] = readings.meter[1:] != readings.meter[:-1]
    spacing = np.diff(readings.utc_us, prepend=readings.utc_us[0])
    spacing[first] = -1
    usual = _usual_interval(readings.meter, spacing, first)
    parts = np.maximum(1, np.rint(usual / SLOT_US)).astype(np.int64)
    gap = spacing > GAP_FACTOR * usual
    # A meter's first reading: the first ever of a household's first run covers the meter's
    # usual interval (a register's first value says no use, so it is a gap); any other first
    # reading in the fetch follows a silence longer than the fetch reaches back.
    starts = np.flatnonzero(first)
    for index in starts:
        meter = meters.get(int(readings.meter[index]))
        opening = meter is not None and meter.household_id in first_run and not meter.cumulative
        gap[index] = not opening
    return _Spread(parts, gap)


def _usual_interval(meter: np.ndarray, spacing: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Each reading's meter's usual interval: the (lower) median spacing of its readings."""
    order = np.lexsort((spacing, meter))  # by meter, then spacing; firsts (-1) lead each meter
    segment = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    counts = np.bincount(segment) - 1  # spacings per meter
    sorted_spacing = spacing[order]
    middle = starts + 1 + np.maximum(counts - 1, 0) // 2
    medians = np.where(
        counts > 0, sorted_spacing[np.minimum(middle, spacing.size - 1)], DEFAULT_INTERVAL_US
    )
    return medians[segment].astype(np.float64)


# A household whose readings are all gaps: it has a grid (of NaN) only from a known window.
_NO_SLOT = np.iinfo(np.int64).max


@dataclass
class _Contributions:
    """The (household, half hour, column, use) contributions of every non-gap reading, by
    household (stable: in the readings' order within each), and each household with
    readings its first half hour (`_NO_SLOT` where all its readings are gaps)."""

    owner: np.ndarray
    slot: np.ndarray
    column: np.ndarray
    use: np.ndarray
    first_slot: dict[int, int]


def _contributions(
    readings: StoredReadings, spread: _Spread, meters: Sequence[MeterInfo]
) -> _Contributions:
    pks = np.array([meter.pk for meter in meters], dtype=np.int64)
    order = np.argsort(pks)
    pks = pks[order]
    homes = np.array([meter.household_id for meter in meters], dtype=np.int64)[order]
    utilities = np.array([meter.utility for meter in meters], dtype=np.int64)[order]
    if pks.size:
        at = np.clip(np.searchsorted(pks, readings.meter), 0, pks.size - 1)
        known = pks[at] == readings.meter
        household = np.where(known, homes[at], -1)
        column = np.where(known, utilities[at], 0)
    else:
        household = np.full(readings.meter.size, -1, dtype=np.int64)
        column = np.zeros(readings.meter.size, dtype=np.int64)
    end = readings.end_slot
    slots, columns, values, owners = [], [], [], []
    counted = ~spread.gap & (household >= 0)
    for offset in range(int(spread.parts.max(initial=1))):
        take = counted & (spread.parts > offset)
        slots.append(end[take] - offset)
        columns.append(column[take])
        values.append(readings.use[take] / spread.parts[take])
        owners.append(household[take])
    every_owner = np.concatenate(owners)
    by_owner = np.argsort(every_owner, kind="stable")
    owner = every_owner[by_owner]
    slot = np.concatenate(slots)[by_owner]
    first_slot = dict.fromkeys(np.unique(household[household >= 0]).tolist(), _NO_SLOT)
    if owner.size:
        leads = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        firsts = np.minimum.reduceat(slot, leads)
        first_slot.update(zip(owner[leads].tolist(), firsts.tolist(), strict=True))
    return _Contributions(
        owner,
        slot,
        np.concatenate(columns)[by_owner],
        np.concatenate(values)[by_owner],
        first_slot,
    )
