"""Readings ingestion: a batch of meter readings checked and stored set-wise. The API, the CSV
and Parquet import and the stream consumer all come here.

The rows are checked as columns (`ingest_rows`): the rows of meters whose new readings simply
follow the stored ones are decided there at once; the rest (a time already stored or sent twice,
a late reading, a register refused) are walked row by row against the stored readings around
them. Both give every refused row its code and sentence."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.core.audit import audit_record
from civichub.core.config import module_config
from civichub.core.models import User
from civichub.core.permissions import require
from civichub.wellbeing.conf import WellbeingSettings
from civichub.wellbeing.models import Household, Meter, Reading, Utility
from civichub.wellbeing.services.detection_runs import detection_queue
from civichub.wellbeing.services.ingest_rows import (
    CODES,
    Columns,
    InOrder,
    MeterRow,
    MeterTable,
    canonical,
    difference,
    implausible,
    meter_keys,
    rows_check,
    rows_in_order,
)
from civichub.wellbeing.services.sql import in_list

# Meter ids per query, well under every database's limit on query parameters.
_CHUNK = 5000
# The PostgreSQL types of the columns `_readings_insert` copies, in order.
_COPY_TYPES = ("bigint", "timestamptz", "float8", "float8", "bool", "timestamptz")


@dataclass
class IngestReport:
    """What became of a batch: accepted and duplicate counts, one error per refused row (`row`:
    its index in the batch, `code`: a stable key, `error`: the sentence for people) and the
    households with new readings, each with its earliest new reading."""

    accepted: int = 0
    duplicates: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    households: set[int] = field(default_factory=set)
    since: dict[int, datetime] = field(default_factory=dict)


def _row_error(report: IngestReport, row: int, code: str, message: str) -> None:
    report.errors.append({"row": row, "code": code, "error": message})


@dataclass(slots=True)
class _Candidate:
    row: int
    at: datetime
    value: float
    reset: bool


@dataclass(slots=True)
class _Stored:
    at: datetime
    value: float
    reset: bool
    pk: int
    use: float


def _meters_locked(meter_ids: set[str]) -> MeterTable:
    """The batch's meters with their latest stored reading, locked for the transaction so that
    two batches for the same meter take turns (SQLite's write lock does the same there)."""
    quote = connection.ops.quote_name
    meters, households, readings = (
        quote(model._meta.db_table) for model in (Meter, Household, Reading)
    )
    postgres = connection.vendor == "postgresql"
    if postgres:
        last_us = "(EXTRACT(EPOCH FROM last.at) * 1000000)::bigint"
        # One probe per meter for its latest reading (each partition's index, newest first).
        latest = (
            f"LEFT JOIN LATERAL (SELECT r.at, r.value FROM {readings} r "  # noqa: S608  # nosec B608
            "WHERE r.meter_id = m.id ORDER BY r.at DESC LIMIT 1) last ON true"
        )
    else:
        # Django's SQLite backend stores UTC as 'YYYY-MM-DD HH:MM:SS[.ffffff]'.
        last_us = (
            "CAST(strftime('%%s', last.at) AS INTEGER) * 1000000 "
            "+ CAST(substr(last.at, 21, 6) AS INTEGER)"
        )
        latest = (
            f"LEFT JOIN {readings} last ON last.meter_id = m.id AND last.at = "  # noqa: S608  # nosec B608
            f"(SELECT MAX(r.at) FROM {readings} r WHERE r.meter_id = m.id)"
        )
    limits = _hourly_limits()
    found: list[tuple[Any, ...]] = []
    wanted = sorted(meter_ids)
    with connection.cursor() as cursor:
        for first in range(0, len(wanted), _CHUNK):
            where, params = in_list(wanted[first : first + _CHUNK])
            if postgres:
                # Lock first, then read: on PostgreSQL a statement that waited for a lock still
                # reads with the snapshot it started with, so the latest readings must come
                # from a new one.
                cursor.execute(
                    f"SELECT id FROM {meters} WHERE meter_id {where} ORDER BY id FOR UPDATE",  # noqa: S608  # nosec B608
                    params,
                )
            cursor.execute(
                "SELECT m.meter_id, m.id, m.household_id, m.utility, m.cumulative, m.unit, "  # noqa: S608  # nosec B608
                "m.interval_minutes, m.active, m.removed_at, h.consent_withdrawn_at, "
                f"{last_us}, last.value FROM {meters} m "
                f"JOIN {households} h ON h.id = m.household_id {latest} "
                f"WHERE m.meter_id {where} ORDER BY m.id",
                params,
            )
            found.extend(cursor.fetchall())
    return MeterTable(found, limits)


def _hourly_limits() -> dict[str, float]:
    config = module_config(WellbeingSettings)
    return {
        Utility.WATER: config.water_max_m3_per_hour,
        Utility.ELECTRICITY: config.electricity_max_kw,
        Utility.GAS: config.gas_max_m3_per_hour,
    }


@transaction.atomic
def readings_ingest(*, actor: User | None, rows: Sequence[Mapping[str, Any]]) -> IngestReport:
    """Stores a batch of readings (`meter_id`, `at`, `value`, optionally `reset`) set-wise: each
    row is checked, the good ones are stored with a few statements, and each bad one gets an
    error in the report while the good rows are kept. The same reading sent twice counts once; a
    different value for a time already stored is a conflict, never an overwrite. Register meters
    report a running total: a value below the previous one is refused unless the row says the
    register was reset, and a late reading splits the use its successor had counted; interval
    meters report the use in the interval, which cannot be negative. A replaced meter still takes
    its late readings from before the replacement. Detection is enqueued once per household
    with new readings, after the commit. The API, the CSV and Parquet import and the stream
    consumer all come here."""
    if actor is not None:
        require(actor, "wellbeing.readings.ingest")
    report = IngestReport()
    keys = meter_keys(rows)
    meters = _meters_locked(set(keys))
    latest = timezone.now() + timedelta(minutes=module_config(WellbeingSettings).future_minutes)
    columns = rows_check(rows, keys, meters, latest=latest, zone=timezone.get_current_timezone())
    for row in np.flatnonzero(columns.code).tolist():
        _row_error(report, row, CODES[columns.code[row]], columns.message(row))
    in_order = rows_in_order(columns)
    inserts = _in_order_inserts(columns, in_order, report)
    candidates: dict[int, list[_Candidate]] = {}
    by_pk: dict[int, MeterRow] = {}
    for row in in_order.walk.tolist():
        moment = columns.moments[columns.moment[row]]
        assert moment is not None
        index = int(columns.meter[row])
        pk = int(meters.pk[index])
        if pk not in by_pk:
            by_pk[pk] = meters.meter(index)
        candidates.setdefault(pk, []).append(
            _Candidate(row, moment, float(columns.value[row]), bool(columns.reset[row]))
        )
    _reading_store(by_pk, candidates, report, inserts)
    report.errors.sort(key=lambda error: int(error["row"]))
    audit_record(
        actor=actor,
        action="wellbeing.readings.ingest",
        object_type="wellbeing.reading",
        changes={
            "accepted": report.accepted,
            "duplicates": report.duplicates,
            "errors": len(report.errors),
        },
    )
    if report.households:
        since = dict(report.since)
        transaction.on_commit(lambda: detection_queue(since))
    return report


def _in_order_inserts(
    columns: Columns, in_order: InOrder, report: IngestReport
) -> list[tuple[int, datetime, float, float, bool]]:
    """The rows `rows_in_order` decided, as rows to insert, counted in the report with each
    household's earliest new reading."""
    rows, fields = in_order.rows, columns.meters
    if rows.size == 0:
        return []
    meter = columns.meter[rows]
    moment = columns.moment[rows]
    household = fields.household[meter]
    # Each household's earliest row: by household, then time.
    order = np.lexsort((columns.at_us[rows], household))
    leads = order[np.r_[True, household[order][1:] != household[order][:-1]]]
    for home, when in zip(household[leads].tolist(), moment[leads].tolist(), strict=True):
        first = columns.moments[when]
        assert first is not None
        report.households.add(home)
        since = report.since.get(home)
        if since is None or first < since:
            report.since[home] = first
    report.accepted += int(rows.size)
    moments = columns.moments
    return list(
        zip(
            fields.pk[meter].tolist(),
            [moments[when] for when in moment.tolist()],
            columns.value[rows].tolist(),
            in_order.use.tolist(),
            columns.reset[rows].tolist(),
            strict=True,
        )
    )


def _reading_store(
    meters: dict[int, MeterRow],
    candidates: dict[int, list[_Candidate]],
    report: IngestReport,
    inserts: list[tuple[int, datetime, float, float, bool]],
) -> None:
    """Decides every candidate row against what is stored, then writes the accepted rows, with
    `inserts` (those decided already), in one bulk insert and the successors whose use a late
    reading split in one bulk update. The meters are locked, so what was read stays true until
    the commit; the unique (meter, time) constraint is the last guard and fails the whole
    batch rather than lose a row silently."""
    for rows in candidates.values():
        rows.sort(key=lambda row: row.at)  # stable: the first of two equal times comes first
    overlapping = [
        pk
        for pk, rows in candidates.items()
        if meters[pk].last_at is not None and rows[0].at <= meters[pk].last_at  # type: ignore[operator]
    ]
    stored = _stored_between(overlapping, meters, candidates)
    updates: dict[int, float] = {}
    for pk, rows in candidates.items():
        meter = meters[pk]
        existing = stored.get(pk, {})
        fresh: list[_Candidate] = []
        # A row repeated within the batch shares the fate of its first copy.
        twins: dict[int, list[_Candidate]] = {}
        for row in rows:
            known = existing.get(row.at)
            if known is None and fresh and fresh[-1].at == row.at:
                if fresh[-1].value == row.value:
                    twins.setdefault(fresh[-1].row, []).append(row)
                    continue
                known_value: float | None = fresh[-1].value
            else:
                known_value = known.value if known is not None else None
            if known_value is None:
                fresh.append(row)
            elif known_value == row.value:
                report.duplicates += 1
            else:
                _row_error(
                    report,
                    row.row,
                    "conflict",
                    _("同一时间已有不同的读数（%(stored)s）。") % {"stored": known_value},
                )
        if not fresh:
            continue
        if meter.cumulative:
            accepted = _register_walk(meter, fresh, existing, report, updates)
        else:
            accepted = [(row, canonical(row.value, meter.divisor)) for row in fresh]
        if twins:
            taken = {row.row for row, _ in accepted}
            refused = {e["row"]: e for e in report.errors if e["row"] in twins}
            for first_row, copies in twins.items():
                if first_row in taken:
                    report.duplicates += len(copies)
                else:
                    for copy in copies:
                        error = refused[first_row]
                        _row_error(report, copy.row, error["code"], error["error"])
        for row, use in accepted:
            inserts.append((pk, row.at, row.value, use, row.reset))
        if accepted:
            report.accepted += len(accepted)
            report.households.add(meter.household_id)
            first = accepted[0][0].at
            since = report.since.get(meter.household_id)
            if since is None or first < since:
                report.since[meter.household_id] = first
    _readings_insert(inserts)
    if updates:
        Reading.objects.bulk_update(
            [Reading(pk=pk, use=use) for pk, use in updates.items()], ["use"], batch_size=500
        )


def _stored_between(
    overlapping: list[int], meters: dict[int, MeterRow], candidates: dict[int, list[_Candidate]]
) -> dict[int, dict[datetime, _Stored]]:
    """The stored readings inside each overlapping meter's span of new times (one query per
    chunk of meters): duplicates, conflicts and the neighbours of late readings."""
    found: dict[int, dict[datetime, _Stored]] = {}
    for first in range(0, len(overlapping), _CHUNK):
        chunk = overlapping[first : first + _CHUNK]
        low = min(candidates[pk][0].at for pk in chunk)
        high = max(min(candidates[pk][-1].at, meters[pk].last_at) for pk in chunk)  # type: ignore[type-var]
        rows = Reading.objects.filter(meter_id__in=chunk, at__gte=low, at__lte=high).values_list(
            "meter_id", "at", "value", "reset", "pk", "use"
        )
        for pk, at, value, reset, reading_pk, use in rows:
            span = candidates[pk]
            if span[0].at <= at <= span[-1].at:
                found.setdefault(pk, {})[at] = _Stored(at, value, reset, reading_pk, use)
    return found


def _neighbour(meter_pk: int, at: datetime, *, before: bool) -> _Stored | None:
    query = Reading.objects.filter(meter_id=meter_pk)
    if before:
        query = query.filter(at__lt=at).order_by("-at")
    else:
        query = query.filter(at__gt=at).order_by("at")
    row = query.values_list("at", "value", "reset", "pk", "use")[:1]
    return next((_Stored(*values) for values in row), None)


def _register_walk(
    meter: MeterRow,
    fresh: list[_Candidate],
    existing: dict[datetime, _Stored],
    report: IngestReport,
    updates: dict[int, float],
) -> list[tuple[_Candidate, float]]:
    """Walks a register meter's new readings in time order among the stored ones around them:
    each must not fall below the reading before it (unless reset) nor rise above the stored one
    after it (unless that one is a reset), and the use on either side must be plausible for the
    time between. Returns the accepted rows with their use (canonical unit), and puts in
    `updates` the new use of each stored reading whose predecessor is now a late reading."""
    timeline: list[_Stored] = []
    if meter.last_at is not None and fresh[0].at > meter.last_at:
        # The usual case: every new reading comes after the last stored one.
        assert meter.last_value is not None
        timeline.append(_Stored(meter.last_at, meter.last_value, False, 0, 0.0))
    elif meter.last_at is not None:
        before = _neighbour(meter.pk, fresh[0].at, before=True)
        after = _neighbour(meter.pk, fresh[-1].at, before=False)
        around = {s.at: s for s in (before, *existing.values(), after) if s is not None}
        timeline = sorted(around.values(), key=lambda stored: stored.at)
    accepted: list[tuple[_Candidate, float]] = []
    previous: _Stored | _Candidate | None = None
    position = 0
    # A stored reading that now follows a new one: its index in timeline -> the new value.
    predecessor: dict[int, float] = {}
    for row in fresh:
        while position < len(timeline) and timeline[position].at < row.at:
            previous = timeline[position]
            position += 1
        following = timeline[position] if position < len(timeline) else None
        code, message = _register_check(meter, previous, row, following)
        if code:
            _row_error(report, row.row, code, message)
            continue
        use = _register_use(meter, previous, row)
        accepted.append((row, use))
        previous = row
        if following is not None:
            predecessor[position] = row.value
    for position, value in predecessor.items():
        stored = timeline[position]
        use = canonical(difference(stored.value, value), meter.divisor)
        if not stored.reset and stored.pk and stored.use != use:
            updates[stored.pk] = use
    return accepted


def _register_use(
    meter: MeterRow, previous: _Stored | _Candidate | None, row: _Stored | _Candidate
) -> float:
    """A register reading's use since the reading before it, in the canonical unit."""
    if row.reset:
        return canonical(row.value, meter.divisor)
    if previous is None:
        return 0.0
    return canonical(difference(row.value, previous.value), meter.divisor)


def _register_check(
    meter: MeterRow,
    previous: _Stored | _Candidate | None,
    row: _Candidate,
    following: _Stored | None,
) -> tuple[str, str]:
    """Why a new register reading is refused between its neighbours (code and sentence), or
    two empty strings."""
    if previous is not None and row.value < previous.value and not row.reset:
        message = _("累计读数倒退（%(value)s < %(before)s），且未标明表计清零。") % {
            "value": row.value,
            "before": previous.value,
        }
        return "backwards", message
    if following is not None and not following.reset and following.value < row.value:
        message = _("累计读数大于之后的读数（%(after)s）。") % {"after": following.value}
        return "above_later", message
    if previous is not None:
        minutes = (row.at - previous.at).total_seconds() / 60
        reason = implausible(meter, _register_use(meter, previous, row), minutes)
        if reason is not None:
            return "implausible", reason
    if following is not None and not following.reset:
        # The stored reading after a late one would count the rest of the use, in less time.
        minutes = (following.at - row.at).total_seconds() / 60
        reason = implausible(meter, _register_use(meter, row, following), minutes)
        if reason is not None:
            return "implausible", reason
    return "", ""


def _readings_insert(rows: list[tuple[int, datetime, float, float, bool]]) -> None:
    """One COPY on PostgreSQL, one executemany elsewhere: the ORM's per-object work would cost
    more than the database's."""
    if not rows:
        return
    received = timezone.now()
    table = connection.ops.quote_name(Reading._meta.db_table)
    names = ("meter_id", "at", "value", "use", "reset", "received_at")
    columns = ", ".join(connection.ops.quote_name(name) for name in names)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Binary: the server reads each time and number as it is sent instead of parsing
            # its text.
            with cursor.cursor.copy(
                f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)"  # noqa: S608  # nosec B608
            ) as copy:
                copy.set_types(_COPY_TYPES)
                for row in rows:
                    copy.write_row((*row, received))
            return
        # Times are UTC already; this is the text Django's SQLite backend stores for them
        # (adapt_datetimefield_value), without its per-value settings lookups.
        stamp = connection.ops.adapt_datetimefield_value(received)
        texts: dict[datetime, str] = {}  # a batch shares a few times among many meters
        for _meter, at, *_rest in rows:
            if at not in texts:
                texts[at] = str(at.replace(tzinfo=None))
        cursor.executemany(
            f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s, %s, %s)",  # noqa: S608  # nosec B608
            [(meter, texts[at], value, use, reset, stamp) for meter, at, value, use, reset in rows],
        )
