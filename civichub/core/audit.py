"""Writing the audit log. Every service that changes data and every selector that reads personal
data calls `audit_record` inside its transaction, so a change and its audit row commit together.
A refusal by the permission check is recorded too (`audit_refusal`), after the refused
request's transaction is over."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

from django.core.cache import cache
from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model
from django.utils import timezone

from civichub.core.context import after_act, current
from civichub.core.counters import action_written
from civichub.core.models import AuditEvent, Organisation
from civichub.core.scope import scope_path

logger = logging.getLogger(__name__)


def _actor_label(actor: Any) -> str:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return f"system:{current().channel}"
    return str(actor.get_username())


class AuditTarget(TypedDict, total=False):
    """What an audit row is about, besides who acts and the action: the object (or its type,
    id and label), where in the tree (its organisation, else the object's scope), why and what
    changed."""

    obj: Model | None
    object_type: str
    object_id: str
    object_label: str
    purpose: str
    changes: dict[str, Any] | None
    organisation: Organisation | None


def audit_fields(
    *, actor: Any, action: str, organisation_path: str | None = None, **target: Unpack[AuditTarget]
) -> dict[str, Any]:
    """The field values of an audit row: who acts, on what, where in the tree and why, with
    the request's context. The one mapping `audit_record` and `audit_sql_params` write."""
    context = current()
    obj = target.get("obj")
    if organisation_path is None:
        organisation = target.get("organisation")
        organisation_path = (
            organisation.path if organisation is not None else (scope_path(obj) or "")
        )
    return {
        "actor": actor if getattr(actor, "is_authenticated", False) else None,
        "actor_label": _actor_label(actor),
        "action": action,
        "object_type": target.get("object_type")
        or (obj._meta.label_lower if obj is not None else ""),
        "object_id": target.get("object_id") or (str(obj.pk) if obj is not None else ""),
        "object_label": (target.get("object_label") or (str(obj) if obj is not None else ""))[:200],
        "organisation_path": organisation_path,
        "purpose": target.get("purpose", "")[:200],
        "changes": target.get("changes") or {},
        "ip_address": context.ip_address,
        "request_id": context.request_id,
    }


def audit_record(*, actor: Any, action: str, **target: Unpack[AuditTarget]) -> AuditEvent:
    """Writes one audit row in the caller's transaction and returns it. The row is written by
    one INSERT of `audit_sql`'s columns, built once per process, with `audit_fields`' values
    (`_prepared`): the same row the ORM writes, without compiling the ORM's INSERT on every
    audited change (an Open311 intake writes three rows; compiling each cost more than
    sending it)."""
    fields = audit_fields(actor=actor, action=action, **target)
    fields["at"] = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_record_sql(connection.vendor), _prepared(connection, fields, skip=()))
        pk = cursor.fetchone()[0]
    action_written(action)
    event = AuditEvent(pk=pk, **fields)
    event._state.adding, event._state.db = False, connection.alias
    return event


@functools.cache
def _record_sql(vendor: str) -> str:
    """`audit_record`'s statement for this database (the vendor is the cache key)."""
    sql = audit_sql(connection, computed={})
    return f"INSERT INTO {sql.table} ({sql.columns}) SELECT {sql.select} RETURNING id"  # noqa: S608  # nosec B608


# Refusals ------------------------------------------------------------------------------------
# A refused read is as telling as a read: a worker trying residents of another district. The
# refusal is raised inside the read's transaction, which then rolls back, so the row is written
# once the request (task, command) is over (`core.context.after_act`). So that refusals cannot
# flood the log, one actor gets one row per object and minute, and at most
# REFUSALS_PER_MINUTE rows a minute; the row past that says the rest of the minute is untold.

REFUSAL_ACTION = "permission.refused"
REFUSALS_PER_MINUTE = 60
_REFUSAL_KEY = "audit:refused"


def audit_refusal(*, actor: Any, action: str, obj: Any = None) -> None:
    """Records that the permission check refused `actor` the permission `action` (on `obj`),
    after the current request or task; a visitor's refusal (not signed in) is not recorded."""
    if not getattr(actor, "is_authenticated", False):
        return
    target: AuditTarget = {"changes": {"refused": action}}
    if isinstance(obj, Model):
        target["obj"] = obj
    path = scope_path(obj) or ""
    after_act(lambda: _refusal_write(actor=actor, action=action, path=path, target=target))


def _minute() -> int:
    """The clock's minute the refusals are counted in."""
    return int(time.time() // 60)


def _refusal_write(*, actor: Any, action: str, path: str, target: AuditTarget) -> None:
    try:
        minute = _minute()
        obj = target.get("obj")
        about = f"{obj._meta.label_lower}:{obj.pk}" if obj is not None else action
        if not cache.add(f"{_REFUSAL_KEY}:{actor.pk}:{about}:{minute}", 1, 120):
            return
        counter = f"{_REFUSAL_KEY}:{actor.pk}:{minute}"
        cache.add(counter, 0, 120)
        count = int(cache.incr(counter))
        if count > REFUSALS_PER_MINUTE + 1:
            return
        if count == REFUSALS_PER_MINUTE + 1:
            target = {"changes": {"refused": action, "untold": "rest of this minute"}}
        AuditEvent.objects.create(
            **audit_fields(actor=actor, action=REFUSAL_ACTION, organisation_path=path, **target)
        )
    except Exception:
        logger.exception("could not record a refusal of %s to %s", action, actor.pk)


# Set-based paths -------------------------------------------------------------------------------
# A statement that writes its audit rows itself (INSERT INTO the audit table … SELECT … FROM the
# rows it changed) takes the columns and values from here, so the mapping stays `audit_fields`.

_PARAM = "audit_"


@functools.cache
def _audit_columns() -> tuple[Field[Any, Any], ...]:
    """The audit table's fields, but its id (fixed once the models are loaded)."""
    return tuple(f for f in AuditEvent._meta.concrete_fields if not f.primary_key)


@dataclass(frozen=True)
class AuditSql:
    table: str  # quoted
    columns: str  # "col, col, …", quoted
    select: str  # the select list matching `columns`


def audit_sql(connection: BaseDatabaseWrapper, *, computed: Mapping[str, str]) -> AuditSql:
    """For `INSERT INTO {table} ({columns}) SELECT {select} FROM …`: a field (by attribute name)
    named in `computed` takes that SQL expression (the changed row's id, its organisation's
    path); every other field is a named parameter `%(audit_<name>)s`, whose values
    `audit_sql_params` gives. On PostgreSQL each parameter is cast to its column's type, so
    that a prepared statement needs no guess; SQLite takes them as they come (a CAST there
    would follow its type affinity rules: a timestamp cast to `datetime` became a number)."""
    q = connection.ops.quote_name
    cast = connection.vendor == "postgresql"
    columns, select = [], []
    for field in _audit_columns():
        columns.append(q(field.column))
        if field.attname in computed:
            select.append(computed[field.attname])
        elif cast:
            select.append(f"CAST(%({_PARAM}{field.attname})s AS {field.db_type(connection)})")
        else:
            select.append(f"%({_PARAM}{field.attname})s")
    return AuditSql(q(AuditEvent._meta.db_table), ", ".join(columns), ", ".join(select))


def audit_sql_params(
    connection: BaseDatabaseWrapper,
    *,
    computed: Iterable[str],
    at: dt.datetime | None = None,
    organisation_path: str | None = None,
    actor: Any,
    action: str,
    **target: Unpack[AuditTarget],
) -> dict[str, Any]:
    """The parameters of `audit_sql`'s fragment: `audit_fields` (at `at`, else now), ready for
    the database, but for the `computed` fields; `organisation_path`, when the caller knows it,
    spares loading the organisation. Each value goes through its field's own
    `get_db_prep_save`, as `audit_record`'s INSERT sends it, without building an `AuditEvent`
    first: on a hot path (a repost) the model instance cost more than the statement's
    parameters themselves."""
    skip = set(computed)
    path = "" if "organisation_path" in skip else organisation_path
    values = audit_fields(actor=actor, action=action, organisation_path=path, **target)
    values["at"] = at if at is not None else timezone.now()
    return _prepared(connection, values, skip=skip)


def _prepared(
    connection: BaseDatabaseWrapper, values: dict[str, Any], *, skip: Iterable[str]
) -> dict[str, Any]:
    """`audit_sql`'s parameters from an audit row's field values (`audit_fields` and `at`), as
    the ORM sends them: each through its field's `get_db_prep_save`, the actor as its id."""
    who = values.get("actor")
    by_column = {**values, "actor_id": who.pk if who is not None else None}
    return {
        _PARAM + f.attname: f.get_db_prep_save(
            by_column[f.attname] if f.attname in by_column else f.get_default(), connection
        )
        for f in _audit_columns()
        if f.attname not in skip
    }


def audit_records_bulk(rows: list[AuditEvent]) -> None:
    """For bulk services (imports, seeding) that audit many rows at once."""
    context = current()
    for row in rows:
        row.ip_address = context.ip_address
        row.request_id = context.request_id
    AuditEvent.objects.bulk_create(rows, batch_size=2000)
