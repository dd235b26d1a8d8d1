"""Writing the audit log. Every service that changes data and every selector that reads personal
data calls `audit_record` inside its transaction, so a change and its audit row commit together.
A refusal by the permission check is recorded too (`audit_refusal`), after the refused
request's transaction is over."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

from django.core.cache import cache
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model

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
    """What an audit row is about, besides who acts and the action: the object (or its type
    and id), where in the tree (its organisation, else the object's scope), why and what
    changed."""

    obj: Model | None
    object_type: str
    object_id: str
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
        "object_label": str(obj)[:200] if obj is not None else "",
        "organisation_path": organisation_path,
        "purpose": target.get("purpose", "")[:200],
        "changes": target.get("changes") or {},
        "ip_address": context.ip_address,
        "request_id": context.request_id,
    }


def audit_record(*, actor: Any, action: str, **target: Unpack[AuditTarget]) -> AuditEvent:
    event = AuditEvent.objects.create(**audit_fields(actor=actor, action=action, **target))
    action_written(action)
    return event


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


def _refusal_write(*, actor: Any, action: str, path: str, target: AuditTarget) -> None:
    try:
        minute = int(time.time() // 60)
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


def _audit_columns() -> list[Any]:
    """The audit table's fields, but its id."""
    return [f for f in AuditEvent._meta.concrete_fields if not f.primary_key]


@dataclass(frozen=True)
class AuditSql:
    table: str  # quoted
    columns: str  # "col, col, …", quoted
    select: str  # the select list matching `columns`


def audit_sql(connection: BaseDatabaseWrapper, *, computed: Mapping[str, str]) -> AuditSql:
    """For `INSERT INTO {table} ({columns}) SELECT {select} FROM …`: a field (by attribute name)
    named in `computed` takes that SQL expression (the changed row's id, its organisation's
    path); every other field is a named parameter `%(audit_<name>)s`, cast to its column's
    type (so that a prepared statement needs no guess), whose values `audit_sql_params` gives."""
    q = connection.ops.quote_name
    columns, select = [], []
    for field in _audit_columns():
        columns.append(q(field.column))
        if field.attname in computed:
            select.append(computed[field.attname])
        else:
            select.append(f"CAST(%({_PARAM}{field.attname})s AS {field.db_type(connection)})")
    return AuditSql(q(AuditEvent._meta.db_table), ", ".join(columns), ", ".join(select))


def audit_sql_params(
    connection: BaseDatabaseWrapper,
    *,
    computed: Iterable[str],
    at: dt.datetime | None = None,
    actor: Any,
    action: str,
    **target: Unpack[AuditTarget],
) -> dict[str, Any]:
    """The parameters of `audit_sql`'s fragment: `audit_fields` (at `at`, else now), ready for
    the database, but for the `computed` fields."""
    skip = set(computed)
    path = "" if "organisation_path" in skip else None
    fields = audit_fields(actor=actor, action=action, organisation_path=path, **target)
    row = AuditEvent(**fields, **({"at": at} if at is not None else {}))
    return {
        f"{_PARAM}{f.attname}": f.get_db_prep_save(getattr(row, f.attname), connection)
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
