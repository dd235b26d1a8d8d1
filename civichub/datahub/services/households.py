"""Households and addresses as entities of the registry. The household register (a source
whose mapping names its `household` attribute) numbers households; each accepted row places
its record, and the person it is linked to, in that household, and the household at the
row's address (addresses are one entity per normalised text). A row that moves a record to
another household ends the old membership, so the history stays. Linking households and
addresses across sources (different numbering, differently written addresses) is not done
here: only the register's own numbers and exact normalised addresses are joined."""

from __future__ import annotations

from django.utils import timezone

from civichub.core.models import Organisation
from civichub.datahub.linkage import address_normalise
from civichub.datahub.models import Address, Household, Membership, SourceRecord


def address_get_or_create(*, text: str, community: Organisation | None) -> Address | None:
    key = address_normalise(text)[:300]
    if not key:
        return None
    address, _created = Address.objects.get_or_create(
        key=key, defaults={"text": text.strip()[:300], "community": community}
    )
    return address


def household_place(
    *,
    record: SourceRecord,
    number: str,
    relation: str,
    address: str,
    community: Organisation | None,
) -> Membership | None:
    """Called by the import in the row's transaction (the import is the audited change)."""
    now = timezone.now()
    current = Membership.objects.filter(record=record, until=None).first()
    number = number.strip()[:40]
    if not number:
        if current is not None:
            current.until = now
            current.save(update_fields=["until"])
        return None
    household, _created = Household.objects.get_or_create(
        source=record.source, number=number, defaults={"community": community}
    )
    place = address_get_or_create(text=address, community=community)
    changed = []
    if place is not None and household.address_id != place.pk:
        household.address = place
        changed.append("address")
    if community is not None and household.community_id != community.pk:
        household.community = community
        changed.append("community")
    if changed:
        household.save(update_fields=changed)
    if current is not None and current.household_id == household.pk:
        if (current.relation, current.person_id) != (relation, record.person_id):
            current.relation, current.person_id = relation, record.person_id
            current.save(update_fields=["relation", "person"])
        return current
    if current is not None:
        current.until = now
        current.save(update_fields=["until"])
    return Membership.objects.create(
        household=household, record=record, person=record.person, relation=relation, since=now
    )
