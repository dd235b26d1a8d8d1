"""Households and addresses as entities of the registry, built from the household register:
members placed by their records, addresses joined on their normalised text, a move ending the
old membership."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from civichub.datahub import selectors, services
from civichub.datahub.models import Address, Household, ImportBatch, Membership, Person
from civichub.datahub.tests.conftest import LI_NA, ZHANG_WEI, Hub, police_row

pytestmark = pytest.mark.django_db

HOME = "桃园街道幸福路12号3单元501室"


def test_the_register_makes_households_at_addresses(
    hub: Hub, police_import: Callable[..., ImportBatch]
) -> None:
    police_import(
        [
            police_row("P1", "张伟", ZHANG_WEI, "1980-01-01", "男", address=HOME),
            police_row("P2", "李娜", LI_NA, "1992-03-15", "女", relation="配偶", address=HOME),
            police_row(
                "P3",
                "张小明",
                "",
                "2015-06-01",
                "男",
                relation="子",
                household="H009",
                address="桃园街道幸福路１２号３单元５０１室",  # full-width digits: the same place
            ),
        ]
    )
    (home,) = Address.objects.all()
    assert home.text == HOME and home.community == hub.city.community_a1
    households = {h.number: h for h in Household.objects.all()}
    assert set(households) == {"H001", "H009"}
    assert {h.address_id for h in households.values()} == {home.pk}
    members = {
        (m.person.name if m.person else "", m.relation)
        for m in Membership.objects.filter(household=households["H001"])
    }
    assert members == {("张伟", "户主"), ("李娜", "配偶")}


def test_a_move_ends_the_old_membership_and_keeps_it(
    hub: Hub, police_import: Callable[..., ImportBatch]
) -> None:
    police_import([police_row("P2", "李娜", LI_NA, "1992-03-15", "女", relation="配偶")])
    police_import(
        [police_row("P2", "李娜", LI_NA, "1992-03-15", "女", household="H002", address="杏花路8号")]
    )
    old, new = Membership.objects.order_by("pk")
    assert (old.household.number, new.household.number) == ("H001", "H002")
    assert old.until is not None and new.until is None
    assert new.relation == "户主" and new.household.address is not None
    assert new.household.address.text == "杏花路8号"
    police_import(  # the same delivery again changes nothing
        [police_row("P2", "李娜", LI_NA, "1992-03-15", "女", household="H002", address="杏花路8号")]
    )
    assert Membership.objects.count() == 2


def test_the_resident_sees_their_household_on_my_data(
    hub: Hub, police_import: Callable[..., ImportBatch]
) -> None:
    police_import([police_row("P1", "张伟", ZHANG_WEI, "1980-01-01", "男", household="H007")])
    mine = selectors.my_record(actor=hub.resident_user)
    assert mine is not None and mine.person == Person.objects.get()
    assert [(m.household.number, m.relation) for m in mine.households] == [("H007", "户主")]


def _open_memberships() -> set[tuple[str, str, str]]:
    return {
        (m.record.record_id, m.household.number, m.relation)
        for m in Membership.objects.filter(until=None).select_related("record", "household")
    }


def test_withdrawing_a_delivery_undoes_its_household_moves(
    hub: Hub, police_import: Callable[..., ImportBatch]
) -> None:
    first = police_import(
        [
            police_row("P1", "张伟", ZHANG_WEI, "1980-01-01", "男", address=HOME),
            police_row("P2", "李娜", LI_NA, "1992-03-15", "女", relation="配偶", address=HOME),
        ]
    )
    before = _open_memberships()
    moved = police_import(
        [
            police_row("P1", "张伟", ZHANG_WEI, "1980-01-01", "男", address=HOME),
            # Li Na moves to a new household at another address, as its head.
            police_row(
                "P2", "李娜", LI_NA, "1992-03-15", "女", household="H002", address="杏花路8号"
            ),
            # A newborn only this delivery brings, in the first household.
            police_row("P3", "张小明", "", "2025-06-01", "男", relation="子", address=HOME),
        ]
    )
    assert _open_memberships() == {
        ("P1", "H001", "户主"),
        ("P2", "H002", "户主"),
        ("P3", "H001", "子"),
    }
    services.import_rollback(actor=hub.steward, batch=moved)
    assert _open_memberships() == before
    assert set(Household.objects.values_list("number", flat=True)) == {"H001"}
    assert Membership.objects.filter(until__isnull=False).count() == 0
    # The register's first delivery alone holds: withdrawing it leaves no household.
    services.import_rollback(actor=hub.steward, batch=first)
    assert not Membership.objects.exists() and not Household.objects.exists()


def test_withdrawing_a_delivery_puts_a_moved_household_back_at_its_address(
    hub: Hub, police_import: Callable[..., ImportBatch]
) -> None:
    police_import([police_row("P1", "张伟", ZHANG_WEI, "1980-01-01", "男", address=HOME)])
    moved = police_import(
        [police_row("P1", "张伟", ZHANG_WEI, "1980-01-01", "男", address="杏花路8号")]
    )
    assert Household.objects.get().address.text == "杏花路8号"  # type: ignore[union-attr]
    services.import_rollback(actor=hub.steward, batch=moved)
    household = Household.objects.get()
    assert household.address is not None and household.address.text == HOME
    (member,) = Membership.objects.all()
    assert member.until is None and member.relation == "户主"
