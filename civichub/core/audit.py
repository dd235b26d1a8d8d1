"""Writing the audit log. Every service that changes data and every selector that reads personal
data calls `audit_record` inside its transaction, so a change and its audit row commit together."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model

from civichub.core.context import current
from civichub.core.models import AuditEvent, Organisation
from civichub.core.permissions import scope_path


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
    return AuditEvent.objects.create(**audit_fields(actor=actor, action=action, **target))


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
