"""Every write of the traceability module: participants, products and lots, EPCIS event
capture (the API, the staff forms and CSV all end here), capture jobs, recalls and their
acknowledgements. Keyword-only, atomic, permission-checked, audited."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import uuid_utils
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django_tasks import task

from civichub.core.audit import audit_record
from civichub.core.config import module_config
from civichub.core.context import acting
from civichub.core.errors import Conflict, NotFound, ValidationFailed
from civichub.core.models import Organisation, User
from civichub.core.permissions import require
from civichub.traceability import selectors
from civichub.traceability.conf import TraceabilitySettings
from civichub.traceability.gs1 import epcis
from civichub.traceability.gs1.identifiers import (
    IdentifierError,
    TraceCode,
    gln_verified,
    gtin_verified,
    lot_class,
    lot_verified,
    sgln_location,
)
from civichub.traceability.models import (
    CaptureJob,
    Event,
    EventEpc,
    Lot,
    Participant,
    Product,
)


def _conf() -> TraceabilitySettings:
    return module_config(TraceabilitySettings)


# Participants, products, lots ---------------------------------------------------------------


def participant_register(
    *,
    actor: User | None,
    kind: str,
    name: str,
    organisation: Organisation,
    name_en: str = "",
    gln: str = "",
    local_code: str = "",
    parent: Participant | None = None,
    address: str = "",
    latitude: float | None = None,
    longitude: float | None = None,
    members: list[User] | None = None,
    area: Organisation | None = None,
) -> Participant:
    """A node of the supply chain, located by its GLN or else by the deployment's own code;
    `area` is the community (or other area) its premises are in, where a recall is announced."""
    if actor is not None:
        require(actor, "traceability.participant.manage", organisation)
    if area is not None and not area.is_area:
        raise ValidationFailed.on("area", _("所在区域须为市、区、街道或社区。"))
    if not gln and not local_code:
        raise ValidationFailed.on("gln", _("请填写全球位置码（GLN）或本地编码。"))
    try:
        verified = gln_verified(gln) if gln else None
    except IdentifierError as exc:
        raise ValidationFailed.on("gln", str(exc)) from exc
    location = sgln_location(verified) if verified else f"urn:civichub:location:{local_code}"
    with transaction.atomic():
        try:
            participant = Participant.objects.create(
                kind=kind,
                name=name,
                name_en=name_en,
                gln=verified,
                local_code=local_code or None,
                location_uri=location,
                organisation=organisation,
                parent=parent,
                address=address,
                latitude=latitude,
                longitude=longitude,
                area=area,
            )
        except IntegrityError as exc:
            raise Conflict(_("该位置码已登记。")) from exc
        if members:
            participant.members.add(*members)
        audit_record(actor=actor, action="traceability.participant.register", obj=participant)
    return participant


def product_register(
    *, actor: User | None, gtin: str, name: str, name_en: str = "", category: str = "meat"
) -> Product:
    if actor is not None:
        require(actor, "traceability.participant.manage")
    try:
        verified = gtin_verified(gtin)
    except IdentifierError as exc:
        raise ValidationFailed.on("gtin", str(exc)) from exc
    with transaction.atomic():
        product, _created = Product.objects.get_or_create(
            gtin=verified, defaults={"name": name, "name_en": name_en, "category": category}
        )
        audit_record(actor=actor, action="traceability.product.register", obj=product)
    return product


def lot_register(
    *,
    actor: User | None,
    product: Product,
    lot: str,
    origin: Participant | None = None,
    day: datetime | None = None,
) -> Lot:
    """A lot (GTIN + AI 10) and the 20-digit trace code printed on its receipts."""
    if actor is not None:
        require(actor, "traceability.event.capture")
    try:
        lot_verified(lot)
    except IdentifierError as exc:
        raise ValidationFailed.on(
            "lot", _("批号须为 1 至 20 个 GS1 允许的字符（AI 10）。")
        ) from exc
    stamp = timezone.localtime(day or timezone.now()).strftime("%y%m%d")
    with transaction.atomic():
        if Lot.objects.filter(product=product, lot=lot).exists():
            raise Conflict(_("该批次已登记。"))
        serial = Lot.objects.select_for_update().count() + 1
        code = TraceCode(_conf().trace_code_area, stamp, serial).code
        created = Lot.objects.create(
            product=product,
            lot=lot,
            trace_code=code,
            epc_class=lot_class(product.gtin, lot),
            origin=origin,
        )
        audit_record(actor=actor, action="traceability.lot.register", obj=created)
    return created


# Capture ---------------------------------------------------------------------------------------


@dataclass
class CaptureResult:
    captured: list[str] = field(default_factory=list)  # eventIDs stored
    duplicates: list[str] = field(default_factory=list)  # eventIDs already held (same hash)
    errors: list[dict[str, str]] = field(default_factory=list)  # {"path", "message"}


@dataclass(slots=True)
class _Prepared:
    """One event ready to store: the columns of its row, its identifiers, and the hash of the
    event it declares erroneous (an error declaration)."""

    index: int
    event_id: str
    event_hash: str
    event_type: str
    event_time: datetime
    action: str
    biz_step: str
    disposition: str
    read_point: str
    biz_location: str
    body: dict[str, Any]
    edges: list[epcis.Edge]
    declares: str = ""
    # The event time and the body as the database takes them, adapted before the write
    # transaction begins (SQLite: one writer at a time, so the less done inside it the better).
    time_value: Any = None
    body_value: Any = None


def _when(value: Any) -> datetime | None:
    text = str(value) if value else ""
    try:  # the common shape first: datetime's own parser is C and several times faster
        parsed: datetime | None = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = parse_datetime(text) if text else None
    return parsed if parsed is not None and parsed.tzinfo is not None else None


@lru_cache(maxsize=4096)
def _location(value: str) -> str:
    return selectors.location_key(value)


def _new_event_ids(count: int) -> list[str]:
    """`count` eventIDs for events that came without one: `urn:uuid:` and a time-ordered UUID
    (version 7, RFC 9562: the milliseconds since 1970, then random bits). A random UUID
    (version 4) would land each new event on a random page of the event_id index, and a commit
    writes every page it changed: the events of a document then cost a hundred pages of that
    index, where time-ordered ids add to its last few."""
    return [f"urn:uuid:{uuid_utils.uuid7()}" for _ in range(count)]


def _prepare(
    index: int,
    event: dict[str, Any],
    context: Any,
    digest: str,
    latest: datetime,
    new_id: Iterator[str],
) -> _Prepared:
    path = f"$.epcisBody.eventList[{index}]"
    when = _when(event.get("eventTime"))
    if when is None:
        raise ValidationFailed.on(f"{path}.eventTime", _("事件时间须带时区。"))
    if when > latest:
        raise ValidationFailed.on(f"{path}.eventTime", _("事件时间不能晚于当前时间。"))
    try:
        edges = epcis.event_edges(event)
    except IdentifierError as exc:
        raise ValidationFailed.on(path, str(exc)) from exc
    body = dict(event)
    if "eventID" not in body:
        body["eventID"] = next(new_id)
    if context is not None:
        body.setdefault("@context", context)
    declares = ""
    if isinstance(body.get("errorDeclaration"), dict):
        declares, digest = digest, f"{digest}#errorDeclaration"
    return _Prepared(
        index=index,
        event_id=str(body["eventID"]),
        event_hash=digest,
        event_type=str(body.get("type", "")),
        event_time=when,
        action=str(body.get("action", "")),
        biz_step=str(body.get("bizStep", "")),
        disposition=str(body.get("disposition", "")),
        read_point=_location(epcis.field_uri(body.get("readPoint"))),
        biz_location=_location(epcis.field_uri(body.get("bizLocation"))),
        body=body,
        edges=edges,
        declares=declares,
    )


def _check_limits(events: list[dict[str, Any]]) -> None:
    limit = _conf().capture_limit
    if len(events) > limit:
        raise ValidationFailed.on(
            "$.epcisBody.eventList",
            _("一次最多提交 %(limit)s 个事件（GS1-EPCIS-Capture-Limit）。") % {"limit": limit},
        )


def _held(hashes: list[str], ids: list[str]) -> tuple[set[str], dict[str, str]]:
    """The hashes among `hashes` already held, and the hash held under each of `ids`."""
    # One query, two arrays as two parameters: the statement's text is the same for every
    # document (psycopg binds on the client, and parses a statement with a hundred placeholders
    # anew each time; SQLite reuses its prepared statement). Either database plans two index
    # scans (SQLite: a multi-index OR over the two unique indexes). The ORM's two queries cost
    # more to compile than to run.
    table = connection.ops.quote_name(Event._meta.db_table)
    if connection.vendor == "postgresql":
        where = "event_hash = ANY(%s) OR event_id = ANY(%s)"
        params: list[Any] = [hashes, ids]
    else:
        where = (
            "event_hash IN (SELECT value FROM json_each(%s)) "
            "OR event_id IN (SELECT value FROM json_each(%s))"
        )
        params = [json.dumps(hashes), json.dumps(ids)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT event_hash, event_id FROM {table} WHERE {where}",  # noqa: S608  # nosec B608
            params,
        )
        rows = cursor.fetchall()
    wanted_hashes, wanted_ids = set(hashes), set(ids)
    held = {h for h, _i in rows if h in wanted_hashes}
    return held, {i: h for h, i in rows if i in wanted_ids}


def _split(prepared: list[_Prepared], result: CaptureResult) -> list[_Prepared]:
    """The events to store; duplicates by hash (held already, or earlier in the same document)
    go to the result, and so does an eventID that names a different event (held, or earlier in
    the document), as an error at its index. One query for the whole document."""
    held, taken = _held([p.event_hash for p in prepared], [p.event_id for p in prepared])
    fresh: list[_Prepared] = []
    seen: set[str] = set()
    for p in prepared:
        if p.event_hash in held or p.event_hash in seen:
            result.duplicates.append(p.event_id)
            continue
        if p.event_id in taken:
            if p.declares and taken[p.event_id] == p.declares:
                p.event_id = f"{p.event_id}#errorDeclaration"
            else:
                result.errors.append(
                    {
                        "path": f"$.epcisBody.eventList[{p.index}].eventID",
                        "message": _("事件标识已被另一内容不同的事件使用。"),
                    }
                )
                continue
        seen.add(p.event_hash)
        taken[p.event_id] = p.event_hash
        fresh.append(p)
    return fresh


_EVENT_COLUMNS = (
    "event_id",
    "event_hash",
    "event_type",
    "event_time",
    "record_time",
    "action",
    "biz_step",
    "disposition",
    "read_point",
    "biz_location",
    "declared_error",
    "body",
    "job_id",
)
_EPC_COLUMNS = ("event_id", "epc", "role", "is_class", "quantity", "uom")


def _insert(
    table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]], returning: bool = False
) -> list[int]:
    """One multi-row INSERT (in slices the database's parameter limit allows), the ids of the
    new rows in the order given when asked. The ORM's bulk_create does the same with about a
    third of the capture's time spent compiling each value; the values here are adapted once
    by the caller (the backend's own adapters for times and JSON)."""
    if not rows:
        return []
    ops = connection.ops
    names = ", ".join(ops.quote_name(c) for c in columns)
    size = max(1, min(len(rows), 30_000 // len(columns), ops.bulk_batch_size(columns, rows)))
    one = f"({', '.join(['%s'] * len(columns))})"
    ids: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            # Table and column names are the models' own; every value is a parameter.
            sql = f"INSERT INTO {ops.quote_name(table)} ({names}) VALUES "  # noqa: S608  # nosec B608
            sql += ", ".join([one] * len(chunk))
            params = [value for row in chunk for value in row]
            if returning:
                sql += " RETURNING id"
                cursor.execute(sql, params)
                ids += [row[0] for row in cursor.fetchall()]
            else:
                cursor.execute(sql, params)
    return ids


def _copy(table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """PostgreSQL: the rows by COPY, one stream, values written by psycopg's C row writer.
    A multi-row INSERT of a hundred events is 1,300 placeholders that psycopg (binding on the
    client) parses and quotes anew for each document and the server parses again: about a
    quarter of the capture's CPU time, the two sides together."""
    if not rows:
        return
    ops = connection.ops
    names = ", ".join(ops.quote_name(c) for c in columns)
    # Table and column names are the models' own; the values travel as COPY data.
    sql = f"COPY {ops.quote_name(table)} ({names}) FROM STDIN"
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(sql) as copy,
    ):
        for row in rows:
            copy.write_row(row)


def _copy_events(rows: list[tuple[Any, ...]]) -> list[int]:
    """PostgreSQL: the event rows by COPY with ids drawn from the table's sequence first (COPY
    returns nothing, and each event's identifiers need its id)."""
    table = Event._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [connection.ops.quote_name(table), len(rows)],
        )
        ids = [row[0] for row in cursor.fetchall()]
    _copy(table, ("id", *_EVENT_COLUMNS), [(pk, *row) for pk, row in zip(ids, rows, strict=True)])
    return ids


def _adapt(prepared: list[_Prepared], now: datetime) -> None:
    """Each event's time and body (with its recordTime) as the database takes them."""
    ops = connection.ops
    record_time = now.isoformat()
    for p in prepared:
        p.body.setdefault("recordTime", record_time)
        p.time_value = ops.adapt_datetimefield_value(p.event_time)
        p.body_value = ops.adapt_json_value(p.body, None)


def _store(fresh: list[_Prepared], job: CaptureJob | None, now: datetime) -> None:
    stamp = connection.ops.adapt_datetimefield_value(now)
    job_id = str(job.pk) if job is not None else None
    if job_id is not None and connection.vendor != "postgresql":
        job_id = job_id.replace("-", "")  # a UUID column on SQLite holds 32 hex digits
    rows = [
        (
            p.event_id,
            p.event_hash,
            p.event_type,
            p.time_value,
            stamp,
            p.action,
            p.biz_step,
            p.disposition,
            p.read_point,
            p.biz_location,
            False,
            p.body_value,
            job_id,
        )
        for p in fresh
    ]
    if connection.vendor == "postgresql":
        ids = _copy_events(rows)
    else:
        ids = _insert(Event._meta.db_table, _EVENT_COLUMNS, rows, returning=True)
    edges = [
        (pk, e.epc, e.role, e.is_class, e.quantity, e.uom)
        for pk, p in zip(ids, fresh, strict=True)
        for e in p.edges
    ]
    if connection.vendor == "postgresql":
        _copy(EventEpc._meta.db_table, _EPC_COLUMNS, edges)
    else:
        _insert(EventEpc._meta.db_table, _EPC_COLUMNS, edges)
    declared = [p.declares for p in fresh if p.declares]
    if declared:
        Event.objects.filter(event_hash__in=declared).update(declared_error=True)


def events_capture(
    *,
    actor: User | None,
    document: dict[str, Any],
    error_behaviour: str = "rollback",
    job: CaptureJob | None = None,
) -> CaptureResult:
    """Validates the document against the EPCIS JSON Schema (with format checking), hashes each
    event, stores the new ones. `rollback` (the default) stores nothing unless every event is
    good; `proceed` and `all` store the good ones and report the rest. Duplicates (same event
    hash) are skipped and reported, never stored twice."""
    if actor is not None:
        require(actor, "traceability.event.capture")
    if error_behaviour not in ("rollback", "proceed", "all"):
        raise ValidationFailed.on(
            "GS1-Capture-Error-Behaviour", _("须为 rollback、proceed 或 all。")
        )
    try:
        epcis.validate(document, schema_path=_conf().epcis_json_schema_path)
    except epcis.DocumentInvalid as exc:
        raise ValidationFailed(
            str(exc), errors={path: [message] for path, message in exc.problems}
        ) from exc
    events = epcis.events_of(document)
    _check_limits(events)
    result = CaptureResult()
    prepared: list[_Prepared] = []
    hashes = epcis.event_hashes(events, document.get("@context"))
    latest = timezone.now() + timedelta(days=1)
    new_ids = iter(_new_event_ids(sum("eventID" not in e for e in events)))
    for index, event in enumerate(events):
        try:
            prepared.append(
                _prepare(index, event, document.get("@context"), hashes[index], latest, new_ids)
            )
        except ValidationFailed as exc:
            result.errors += [{"path": p, "message": m[0]} for p, m in exc.errors.items()]
    now = timezone.now()
    if not (result.errors and error_behaviour == "rollback"):
        _adapt(prepared, now)  # before the write transaction, which a refusal never stores
    with transaction.atomic():
        fresh = _split(prepared, result)
        if result.errors and error_behaviour == "rollback":
            raise ValidationFailed(
                _("文档有错误，未保存任何事件。"),
                errors={e["path"]: [e["message"]] for e in result.errors},
            )
        _store(fresh, job, now)
        result.captured = [p.event_id for p in fresh]
        if job is not None:
            _job_finish(job, result)
        audit_record(
            actor=actor,
            action="traceability.events.capture",
            object_type="traceability.capturejob" if job else "traceability.event",
            object_id=str(job.pk) if job else "",
            # One entry for the document: the eventIDs it stored and those it found held.
            changes={
                "captured": len(result.captured),
                "duplicates": len(result.duplicates),
                "errors": len(result.errors),
                "event_ids": result.captured,
                "duplicate_event_ids": result.duplicates,
            },
        )
    return result


def capture_job_submit(
    *, actor: User | None, document: dict[str, Any], error_behaviour: str = "rollback"
) -> CaptureJob:
    """An asynchronous capture (EPCIS `POST /capture`): the job is stored and run after commit."""
    if actor is not None:
        require(actor, "traceability.event.capture")
    with transaction.atomic():
        job = CaptureJob.objects.create(
            document=document, error_behaviour=error_behaviour, created_by=actor
        )
        transaction.on_commit(lambda: capture_job_task.enqueue(str(job.pk)))
    return job


def capture_job_run(*, job_id: str) -> CaptureJob:
    """Runs a job once: a finished job is left as it is (the task may be delivered twice)."""
    job = CaptureJob.objects.filter(pk=job_id).first()
    if job is None:
        raise NotFound(_("没有该采集任务。"))
    if job.state != CaptureJob.State.RUNNING:
        return job
    try:
        # A job that succeeds records its outcome in the transaction that stores its events.
        events_capture(
            actor=job.created_by,
            document=job.document,
            error_behaviour=job.error_behaviour,
            job=job,
        )
    except ValidationFailed as exc:
        job.state = CaptureJob.State.FAILED
        job.errors = [{"path": p, "message": m[0]} for p, m in exc.errors.items()] or [
            {"path": "$", "message": exc.message}
        ]
        job.finished_at = timezone.now()
        job.save(update_fields=_JOB_OUTCOME)
    return job


_JOB_OUTCOME = ["state", "errors", "captured", "duplicates", "finished_at"]


def _job_finish(job: CaptureJob, result: CaptureResult) -> None:
    """A capture job's outcome, written in the transaction that stores its events: one commit
    a document rather than two (each a flush of the write-ahead log on PostgreSQL)."""
    job.state = CaptureJob.State.SUCCESS
    job.errors = result.errors
    job.captured = len(result.captured)
    job.duplicates = len(result.duplicates)
    job.finished_at = timezone.now()
    job.save(update_fields=_JOB_OUTCOME)


@task()
def capture_job_task(job_id: str) -> str:
    with acting(channel="task"):
        return capture_job_run(job_id=job_id).state
