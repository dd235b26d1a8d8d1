"""Households and addresses as entities of the registry, across departments. The household
register (a source whose mapping names its `household` attribute) numbers households; each
accepted row places its record, and the person it is linked to, in that household, and the
household at the row's address. Addresses are one entity per key (`linkage.address_key`: the
street and the house numbers, however a department writes them), so every department's
record with an address is placed at that entity, and, where the register has one household
there, in that household (`record_place`; records that arrived before the register's are
placed when it comes, `records_place`). A row that moves a record to another household ends
the old membership, so the history stays; withdrawing a delivery undoes its moves."""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone

from civichub.core.models import Organisation
from civichub.datahub.linkage import address_key
from civichub.datahub.models import (
    Address,
    AttributeValue,
    Household,
    ImportBatch,
    Membership,
    Source,
    SourceRecord,
)


def address_get_or_create(*, text: str, community: Organisation | None) -> Address | None:
    key = address_key(text)[:300]
    if not key:
        return None
    address, _created = Address.objects.get_or_create(
        key=key, defaults={"text": text.strip()[:300], "community": community}
    )
    return address


def household_place(
    *,
    record: SourceRecord,
    batch: ImportBatch | None = None,
    number: str,
    relation: str,
    address: str,
    community: Organisation | None,
) -> Membership | None:
    """Called by the import in the row's transaction (the import is the audited change). A
    membership records the delivery that started it and the one that ended it (`batch`,
    `ended_by`), so that withdrawing a delivery undoes its moves (`households_withdraw`)."""
    now = timezone.now()
    current = Membership.objects.filter(record=record, until=None).first()
    number = number.strip()[:40]

    def end(membership: Membership) -> None:
        membership.until, membership.ended_by = now, batch
        membership.save(update_fields=["until", "ended_by"])

    if not number:
        if current is not None:
            end(current)
        record_place(record=record, address=address, community=community)
        return None
    household, _created = Household.objects.get_or_create(
        source=record.source, number=number, defaults={"community": community}
    )
    place = address_get_or_create(text=address, community=community)
    if (record.address_id, record.household_id) != (
        place.pk if place else None,
        household.pk,
    ):
        record.address, record.household = place, household
        record.save(update_fields=["address", "household"])
    changed = []
    if place is not None and household.address_id != place.pk:
        household.address = place
        changed.append("address")
    if community is not None and household.community_id != community.pk:
        household.community = community
        changed.append("community")
    if changed:
        household.save(update_fields=changed)
    if current is not None and (current.household_id, current.relation) == (
        household.pk,
        relation,
    ):
        if current.person_id != record.person_id:
            # Linkage moved the record: the membership follows its person.
            current.person_id = record.person_id
            current.save(update_fields=["person"])
        return current
    if current is not None:
        end(current)
    return Membership.objects.create(
        household=household,
        record=record,
        person=record.person,
        relation=relation,
        since=now,
        batch=batch,
    )


def households_withdraw(*, batch: ImportBatch) -> dict[str, int]:
    """Undoes a delivery's households, in the withdrawal's transaction and before its values
    go: the memberships it
    started go, the ones it ended hold again, households left without any member go, and a
    household it moved is back at its latest remaining member's address. Addresses stay:
    a place is not a fact of one delivery."""
    readdressed = AttributeValue.objects.filter(batch=batch, name="address").values("record_id")
    touched = set(
        Membership.objects.filter(
            Q(batch=batch) | Q(ended_by=batch) | Q(record_id__in=readdressed, until=None)
        ).values_list("household_id", flat=True)
    )
    removed = Membership.objects.filter(batch=batch).delete()[0]
    reopened = Membership.objects.filter(ended_by=batch).update(until=None, ended_by=None)
    emptied = Household.objects.filter(pk__in=touched, members=None).delete()[0]
    for household in Household.objects.filter(pk__in=touched):
        member = household.members.filter(until=None).order_by("-since", "-pk").first()
        if member is None:
            continue
        # The member's address once the delivery is withdrawn: its own values go, the ones
        # it closed hold again.
        text = (
            AttributeValue.objects.filter(record_id=member.record_id, name="address")
            .filter(Q(valid_to=None) | Q(closed_by=batch))
            .exclude(batch=batch)
            .values_list("value", flat=True)
            .first()
        )
        place = address_get_or_create(text=text or "", community=household.community)
        if place is not None and household.address_id != place.pk:
            household.address = place
            household.save(update_fields=["address"])
    return {"memberships_removed": removed, "memberships_reopened": reopened, "households": emptied}


def _household_at(place: Address, person_id: int | None) -> Household | None:
    """The register's household at an address: the only one with members there, or, where
    several households share it, the one the person is a member of; else none."""
    households = list(Household.objects.filter(address=place, members__until=None).distinct()[:10])
    if len(households) == 1:
        return households[0]
    if person_id is not None:
        for household in households:
            if household.members.filter(until=None, person_id=person_id).exists():
                return household
    return None


def record_place(
    *, record: SourceRecord, address: str, community: Organisation | None
) -> SourceRecord:
    """Places a record of a department other than the register (civil affairs, health, …) at
    its address entity and in the register's household there. In the import's transaction."""
    place = address_get_or_create(text=address, community=community)
    household = _household_at(place, record.person_id) if place is not None else None
    found = (place.pk if place else None, household.pk if household else None)
    if (record.address_id, record.household_id) != found:
        record.address, record.household = place, household
        record.save(update_fields=["address", "household"])
    return record


def records_place(*, register: Source) -> int:
    """After a delivery of the household register: places the other departments' records
    whose address now has a household of the register (or whose household is gone), so the
    order in which departments deliver does not matter. Returns the records placed."""
    placed = 0
    waiting = (
        SourceRecord.objects.exclude(source=register)
        .filter(address__isnull=False)
        .filter(Q(household=None) | Q(household__members=None))
        .distinct()
        .select_related("address")
    )
    for record in waiting.iterator():
        assert record.address is not None  # noqa: S101 (filtered above)
        household = _household_at(record.address, record.person_id)
        if household is not None or record.household_id is not None:
            record.household = household
            record.save(update_fields=["household"])
            placed += household is not None
    return placed
