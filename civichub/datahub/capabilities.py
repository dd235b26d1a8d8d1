"""What the hub offers other modules through core's registry (`ModuleManifest.provides`),
as plain data so that neither side imports the other:

- `resident_facts(actor=, purpose=)`: the signed-in resident's own values for the portal's
  prefill, each `{"value", "source", "updated_at"}` with the providing department's name;
- `verified_blood_group(actor=, identity_number=, purpose=)`: the health department's ABO
  and RhD group of a person, `{"abo", "rhd", "source", "updated_at"}`, or None;
- `population_counts()`: persons by community, age band and gender, counts only, for the
  portal's open data (which suppresses the small ones).

Only values that a sharing agreement in force admits for the caller's purpose over the
person's area are given (the reader here is the resident or the registry asking for them, so
the agreement's reader role is not matched, and an agreement limited to contracted residents
admits nothing here), an agreement resting on consent only for a person whose separate consent
to it is in force (PIPL), and every read is written to the person's access log (the Data
Tracker) and to the audit log."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from civichub.core import crypto
from civichub.core.audit import audit_record
from civichub.core.models import User
from civichub.core.permissions import require
from civichub.datahub.models import (
    AccessEntry,
    Agreement,
    AgreementBasis,
    AgreementScope,
    AttributeValue,
    Consent,
    Person,
)

# hub attribute name -> the portal's prefill key
PREFILL_KEYS = {"name": "name", "phone": "phone", "address": "address"}
HEALTH_FUNCTION = "health"
BLOOD_NAMES = ("blood_group", "rh_factor")
RH_CODES = {"阳性": "pos", "阴性": "neg"}


def _admitted(person: Person, purpose: str) -> set[tuple[int, str]]:
    """(source, attribute) pairs that agreements in force admit for this purpose over the
    person's area (those resting on consent only with the person's consent in force)."""
    if person.community is None or not purpose.strip():
        return set()
    today = timezone.localdate()
    agreements = (
        Agreement.objects.filter(ended_at=None, valid_from__lte=today, purpose=purpose.strip())
        .filter(Q(valid_until=None) | Q(valid_until__gte=today))
        .exclude(scope=AgreementScope.CONTRACTED)
        .select_related("area")
    )
    consented = {
        (c.agreement_id, c.text_version)
        for c in Consent.objects.filter(person=person, withdrawn_at=None)
    }
    return {
        (agreement.source_id, name)
        for agreement in agreements
        if person.community.path.startswith(agreement.area.path)
        and (
            agreement.basis != AgreementBasis.CONSENT
            or (agreement.pk, agreement.consent_version) in consented
        )
        for name in agreement.attributes
    }


def _current(person: Person, admitted: set[tuple[int, str]]) -> list[AttributeValue]:
    """The admitted current values, the most recently received first."""
    values = AttributeValue.objects.filter(record__person=person, valid_to=None)
    values = values.select_related("record__source__department").order_by("-received_at", "-pk")
    return [v for v in values if (v.record.source_id, v.name) in admitted]


def _log(
    *, actor: User | None, person: Person, purpose: str, names: list[str], channel: str
) -> None:
    label = (actor.get_full_name() or actor.get_username()) if actor is not None else channel
    AccessEntry.objects.create(
        person=person,
        reader=actor,
        reader_label=label,
        purpose=purpose.strip()[:200],
        attributes=names,
        channel=channel,
    )
    audit_record(
        actor=actor,
        action="datahub.person.read",
        obj=person,
        purpose=purpose.strip()[:100],
        changes={"attributes": names, "channel": channel},
    )


def _item(value: AttributeValue) -> dict[str, Any]:
    return {
        "value": value.value,
        "source": value.record.source.department.name,
        "source_name": value.record.source.name,
        "updated_at": value.received_at,
    }


@transaction.atomic
def resident_facts(*, actor: User, purpose: str) -> dict[str, dict[str, Any]]:
    """The actor's own hub values by prefill key, empty when the actor has no linked person
    or no agreement covers the purpose (the caller then keeps its own sources)."""
    if actor.resident_id is None:
        return {}
    person = Person.objects.select_related("community").filter(resident_id=actor.resident_id)
    found = person.first()
    if found is None:
        return {}
    require(actor, "datahub.mydata.view", found)
    facts: dict[str, dict[str, Any]] = {}
    for value in _current(found, _admitted(found, purpose)):
        key = PREFILL_KEYS.get(value.name)
        if key is not None and key not in facts:
            facts[key] = _item(value)
    if facts:
        names = sorted(n for n, key in PREFILL_KEYS.items() if key in facts)
        _log(actor=actor, person=found, purpose=purpose, names=names, channel="portal")
    return facts


@transaction.atomic
def verified_blood_group(
    *, actor: User | None, identity_number: str, purpose: str
) -> dict[str, Any] | None:
    """The group a health department's source holds for the person with this identity number
    (ABO and RhD from the same source record), when an agreement admits both for the purpose;
    None otherwise. A found group's read is logged for the person."""
    number = crypto.normalise_identity_number(identity_number)
    if not number:
        return None
    person = Person.objects.select_related("community").filter(
        identity_hash__in=crypto.identity_lookup_hashes(number)
    )
    found = person.first()
    if found is None:
        return None
    by_record: dict[int, dict[str, AttributeValue]] = {}
    for value in _current(found, _admitted(found, purpose)):
        if value.name in BLOOD_NAMES and value.record.source.department.function == HEALTH_FUNCTION:
            by_record.setdefault(value.record_id, {}).setdefault(value.name, value)
    for values in by_record.values():
        abo, rh = values.get("blood_group"), values.get("rh_factor")
        if abo is None or rh is None or rh.value not in RH_CODES:
            continue
        _log(actor=actor, person=found, purpose=purpose, names=list(BLOOD_NAMES), channel="donors")
        return {
            "abo": abo.value,
            "rhd": RH_CODES[rh.value],
            "source": abo.record.source.department.name,
            "updated_at": max(abo.received_at, rh.received_at),
        }
    return None


def population_counts() -> list[dict[str, Any]]:
    """Persons in the registry by community, age band and gender: counts only, no person.
    Whoever publishes them suppresses the small ones (the portal's open data does)."""
    year = timezone.localdate().year
    counts: dict[tuple[str, str, str, str], int] = {}
    rows = Person.objects.filter(community__isnull=False).values_list(
        "community__code", "community__name", "birth_date", "gender"
    )
    for code, name, birth_date, gender in rows.iterator():
        age = None if birth_date is None else year - birth_date.year
        band = _age_band(age)
        key = (code, name, band, gender or "")
        counts[key] = counts.get(key, 0) + 1
    return [
        {
            "community_code": code,
            "community": name,
            "age_band": band,
            "gender": gender,
            "persons": n,
        }
        for (code, name, band, gender), n in sorted(counts.items())
    ]


def _age_band(age: int | None) -> str:
    if age is None:
        return ""
    for upper, band in ((17, "0-17"), (39, "18-39"), (59, "40-59"), (79, "60-79")):
        if age <= upper:
            return band
    return "80+"
