"""Sharing agreements (the X-Road model): the department that provides a source admits a
reader organisation's role to named attributes, for one purpose, on a legal basis, over the
people of an area, for a term. Only the providing department's head approves one; ending one
takes effect at once. Reads are checked against them in `selectors.person_attributes`.

PIPL: an agreement rests either on a legal basis written in it, or on each resident's separate
consent (`basis="consent"`, with the text the resident reads and its version); residents give
and withdraw that consent themselves (`consent_give`, `consent_withdraw`). An agreement limited
to contracted residents (`scope="contracted"`) needs a source that names its contract
attribute (`contract = "family_doctor"` in the mapping file)."""

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
from civichub.datahub.models import (
    Agreement,
    AgreementBasis,
    AgreementScope,
    Consent,
    Person,
    Source,
)


def _agreement_errors(
    *,
    source: Source,
    role: str,
    attributes: list[str],
    purpose: str,
    legal_basis: str,
    valid_from: dt.date,
    valid_until: dt.date | None,
    scope: str,
    basis: str,
    consent_text: str,
    consent_version: str,
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
    if basis not in AgreementBasis.values:
        errors["basis"] = [_("请选择法律依据或本人单独同意。")]
    elif basis == AgreementBasis.LAW and not legal_basis.strip():
        errors["legal_basis"] = [_("请写明法律依据（敏感信息须有法律依据或本人单独同意）。")]
    elif basis == AgreementBasis.CONSENT and not (consent_text.strip() and consent_version.strip()):
        errors["consent_text"] = [_("依据本人同意的协议须写明同意书的文本和版本。")]
    if scope not in AgreementScope.values:
        errors["scope"] = [_("没有这个人员范围。")]
    elif scope == AgreementScope.CONTRACTED and not mapping.contract:
        errors["scope"] = [_("该数据源没有签约关系，不能限于签约居民。")]
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
    scope: str = AgreementScope.AREA,
    basis: str = AgreementBasis.LAW,
    consent_text: str = "",
    consent_version: str = "",
) -> Agreement:
    require(actor, "datahub.agreement.manage", source)
    attributes = sorted(set(attributes))
    errors = _agreement_errors(
        scope=scope,
        basis=basis,
        consent_text=consent_text,
        consent_version=consent_version,
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
        scope=scope,
        basis=basis,
        consent_text=consent_text.strip(),
        consent_version=consent_version.strip()[:20],
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
            "scope": scope,
            "basis": basis,
            "consent_version": agreement.consent_version,
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


# Consent ---------------------------------------------------------------------------------------


@transaction.atomic
def consent_give(*, actor: User, person: Person, agreement: Agreement) -> Consent:
    """The resident's separate consent to an agreement that rests on consent, to the text
    version in force now. Giving it while one is in force changes nothing."""
    require(actor, "datahub.consent.manage", person)
    agreement = Agreement.objects.select_for_update().get(pk=agreement.pk)
    if agreement.basis != AgreementBasis.CONSENT or agreement.ended_at is not None:
        raise Conflict(_("该协议不需要或已不接受本人同意。"))
    in_force = Consent.objects.filter(person=person, agreement=agreement, withdrawn_at=None)
    found = in_force.first()
    if found is not None and found.text_version == agreement.consent_version:
        return found
    if found is not None:  # agreed to an older text: that consent ends, the new one begins
        found.withdrawn_at = timezone.now()
        found.save(update_fields=["withdrawn_at"])
    consent = Consent.objects.create(
        person=person,
        agreement=agreement,
        purpose=agreement.purpose,
        text_version=agreement.consent_version,
        given_by=actor,
    )
    audit_record(
        actor=actor,
        action="datahub.consent.give",
        obj=consent,
        organisation=person.community,
        changes={"agreement": agreement.pk, "version": consent.text_version},
    )
    return consent


@transaction.atomic
def consent_withdraw(*, actor: User, person: Person, agreement: Agreement) -> Consent:
    """Withdrawing takes effect at once: the next read under the agreement is refused."""
    require(actor, "datahub.consent.manage", person)
    consent = (
        Consent.objects.select_for_update()
        .filter(person=person, agreement=agreement, withdrawn_at=None)
        .first()
    )
    if consent is None:
        raise Conflict(_("您没有对该协议给予同意，或已经撤回。"))
    consent.withdrawn_at = timezone.now()
    consent.save(update_fields=["withdrawn_at"])
    audit_record(
        actor=actor,
        action="datahub.consent.withdraw",
        obj=consent,
        organisation=person.community,
        changes={"agreement": agreement.pk},
    )
    return consent
