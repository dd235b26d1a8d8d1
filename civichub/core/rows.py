"""A new row in one INSERT compiled once per model and database: the statement `Model.save()`
sends for a new row, with the same values (each through its field's `pre_save` and
`get_db_prep_save`) and the same `pre_save`/`post_save` signals, without compiling the ORM's
INSERT again on every save.

For hot paths that write a wide row per request: casework intake writes a case of some forty
columns and its history event for every message, and compiling the two statements cost more
CPU than sending them. A model the plain statement cannot write as the ORM would (inherited
tables, database defaults, generated columns, fields with their own SQL placeholder, a
database without INSERT … RETURNING) is saved by `Model.save()` instead.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import NOT_PROVIDED, Field, Model
from django.db.models.signals import post_save, pre_save


@dataclass(frozen=True)
class _Insert:
    sql: str
    fields: tuple[Field[Any, Any], ...]


@functools.cache
def _compiled(model: type[Model], vendor: str) -> _Insert | None:
    """The INSERT for `model` on this database (the vendor is the cache key), or None where
    `Model.save()` must write the row."""
    meta = model._meta
    if meta.parents or meta.proxy or not connection.features.can_return_columns_from_insert:
        return None
    if meta.pk is None or meta.auto_field is None or meta.pk is not meta.auto_field:
        return None
    fields = tuple(f for f in meta.local_concrete_fields if f is not meta.auto_field)
    for field in fields:
        own_sql = field.db_default is not NOT_PROVIDED or hasattr(field, "get_placeholder")
        if field.generated or own_sql:
            return None
    q = connection.ops.quote_name
    columns = ", ".join(q(f.column) for f in fields)
    values = ", ".join(["%s"] * len(fields))
    sql = (
        f"INSERT INTO {q(meta.db_table)} ({columns}) VALUES ({values}) "  # noqa: S608  # nosec B608
        f"RETURNING {q(meta.pk.column)}"
    )
    return _Insert(sql, fields)


def insert_row(instance: Model) -> None:
    """Writes the new `instance` (no primary key yet) as `instance.save()` would, and sets its
    primary key."""
    model = type(instance)
    plan = _compiled(model, connection.vendor)
    if plan is None or instance.pk is not None:
        instance.save(force_insert=True)
        return
    # What save() checks first: no related object unsaved, foreign keys set from them.
    instance._prepare_related_fields_for_save(operation_name="save")  # type: ignore[attr-defined]
    alias = connection.alias
    pre_save.send(sender=model, instance=instance, raw=False, using=alias, update_fields=None)
    params = [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in plan.fields]
    with transaction.mark_for_rollback_on_error(alias), connection.cursor() as cursor:
        cursor.execute(plan.sql, params)
        row = cursor.fetchone()
    instance.pk = model._meta.pk.to_python(row[0])
    instance._state.adding = False
    instance._state.db = alias
    post_save.send(
        sender=model, instance=instance, created=True, update_fields=None, raw=False, using=alias
    )
