"""Sharing agreements (the X-Road model): the department that provides a source admits a
reader organisation's role to named attributes, for one purpose, on a legal basis, over the
people of an area, for a term. Only the providing department's head approves one; ending one
takes effect at once. Reads are checked against them in `selectors.person_attributes`."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.core.audit import audit_record
from civichub.core.errors import Conflict, ValidationFailed
from civichub.core.models import Organisation, User
from civichub.core.permissions import require
from civichub.core.registry import all_roles
from civichub.datahub.mapping import mapping_from_dict
from civichub.datahub.models import Agreement, Source


def _agreement_errors(
    *,
    source: Source,
    role: str,
    attributes: list[str],
    purpose: str,
    legal_basis: str,
    valid_from: dt.date,
    valid_until: dt.date | None,
) -> dict[str, list[str]]:
    mapping = mapping_from_dict(source.mapping)
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(attributes) - set(mapping.attribute_names))
    if not attributes or unknown:
        errors["attributes"] = [
            _("请从该数据源的属性中选择：%(unknown)s") % {"unknown": "、".join(unknown) or "—"}
        ]
    if role not in all_roles():
        errors["role"] = [_("没有这个角色。")]
    if not purpose.strip():
        errors["purpose"] = [_("请写明用途。")]
    if not legal_basis.strip():
        errors["legal_basis"] = [_("请写明法律依据（敏感信息须有法律依据或本人单独同意）。")]
    if valid_until is not None and valid_until < valid_from:
        errors["valid_until"] = [_("截止日期不能早于起始日期。")]
    return errors


@transaction.atomic
def agreement_create(
    *,
    actor: User,
    source: Source,
    reader: Organisation,
    role: str,
    area: Organisation,
    attributes: list[str],
    purpose: str,
    legal_basis: str,
    valid_from: dt.date,
    valid_until: dt.date | None = None,
) -> Agreement:
    require(actor, "datahub.agreement.manage", source)
    attributes = sorted(set(attributes))
    errors = _agreement_errors(
        source=source,
        role=role,
        attributes=attributes,
        purpose=purpose,
        legal_basis=legal_basis,
        valid_from=valid_from,
        valid_until=valid_until,
    )
    if errors:
        first = next(iter(errors.values()))[0]
        raise ValidationFailed(first, errors=errors)
    agreement = Agreement.objects.create(
        source=source,
        reader=reader,
        role=role,
        area=area,
        attributes=attributes,
        purpose=purpose.strip(),
        legal_basis=legal_basis.strip(),
        valid_from=valid_from,
        valid_until=valid_until,
        approved_by=actor,
    )
    audit_record(
        actor=actor,
        action="datahub.agreement.create",
        obj=agreement,
        changes={
            "reader": reader.pk,
            "role": role,
            "area": area.pk,
            "attributes": attributes,
            "purpose": agreement.purpose,
        },
    )
    return agreement


@transaction.atomic
def agreement_end(*, actor: User, agreement: Agreement) -> Agreement:
    agreement = Agreement.objects.select_for_update().select_related("source").get(pk=agreement.pk)
    require(actor, "datahub.agreement.manage", agreement)
    if agreement.ended_at is not None:
        raise Conflict(_("该协议已终止。"))
    agreement.ended_at = timezone.now()
    agreement.save(update_fields=["ended_at"])
    audit_record(actor=actor, action="datahub.agreement.end", obj=agreement)
    return agreement
