"""Writing the audit log. Every service that changes data and every selector that reads personal
data calls `audit_record` inside its transaction, so a change and its audit row commit together."""

from __future__ import annotations

from typing import Any

from django.db.models import Model

from civichub.core.context import current
from civichub.core.models import AuditEvent, Organisation
from civichub.core.permissions import scope_path


def _actor_label(actor: Any) -> str:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return f"system:{current().channel}"
    return str(actor.get_username())


def audit_record(
    *,
    actor: Any,
    action: str,
    obj: Model | None = None,
    object_type: str = "",
    object_id: str = "",
    purpose: str = "",
    changes: dict[str, Any] | None = None,
    organisation: Organisation | None = None,
) -> AuditEvent:
    context = current()
    path = organisation.path if organisation is not None else (scope_path(obj) or "")
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        actor_label=_actor_label(actor),
        action=action,
        object_type=object_type or (obj._meta.label_lower if obj is not None else ""),
        object_id=object_id or (str(obj.pk) if obj is not None else ""),
        object_label=str(obj)[:200] if obj is not None else "",
        organisation_path=path,
        purpose=purpose[:200],
        changes=changes or {},
        ip_address=context.ip_address,
        request_id=context.request_id,
    )


def audit_records_bulk(rows: list[AuditEvent]) -> None:
    """For bulk services (imports, seeding) that audit many rows at once."""
    context = current()
    for row in rows:
        row.ip_address = context.ip_address
        row.request_id = context.request_id
    AuditEvent.objects.bulk_create(rows, batch_size=2000)
