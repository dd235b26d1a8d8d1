"""Households and addresses as entities of the registry, built from the household register:
members placed by their records, addresses joined on their normalised text, a move ending the
old membership."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from civichub.datahub import selectors, services
from civichub.datahub.linkage import address_key
from civichub.datahub.models import (
    Address,
    Household,
    ImportBatch,
    Membership,
    Person,
    SourceRecord,
)
from civichub.datahub.synthetic import address_written, population
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


# Across departments ---------------------------------------------------------------------------


def _civil_import(hub: Hub, capture: Any, rows: list[dict[str, Any]]) -> ImportBatch:
    with capture(execute=True):
        batch = services.import_start(
            actor=None,
            source=hub.sources["civil_affairs"],
            content=json.dumps(rows, ensure_ascii=False).encode(),
        )
    batch.refresh_from_db()
    return batch


def _civil_row(rid: str, name: str, born: str, address: str) -> dict[str, Any]:
    return {
        "record_id": rid,
        "name": name,
        "id_number": "",
        "birth_date": born,
        "gender": "女",
        "address": address,
        "dibao": True,
        "elderly_subsidy": "",
        "lives_alone": False,
    }


def _placed() -> dict[str, str | None]:
    return {
        r.record_id: r.household.number if r.household else None
        for r in SourceRecord.objects.select_related("household")
    }


def test_other_departments_records_join_the_registers_households_by_address(
    hub: Hub,
    police_import: Callable[..., ImportBatch],
    health_import: Callable[..., ImportBatch],
    django_capture_on_commit_callbacks: Any,
) -> None:
    # Health delivers first: its record waits at its address until the register comes.
    health_import(
        [
            [
                "D1",
                "李娜",
                "",
                "1992-03-15",
                "女",
                "幸福路 12栋 3单元 501",
                "",
                "刘医生",
                "无",
                "A",
                None,
            ]
        ]
    )
    police_import(
        [
            police_row("P1", "张伟", ZHANG_WEI, "1980-01-01", "男", address=HOME),
            police_row("P2", "李娜", LI_NA, "1992-03-15", "女", relation="配偶", address=HOME),
            police_row("P4", "王芳", "", "1975-03-04", "女", household="H002", address="杏花路8号"),
        ]
    )
    _civil_import(
        hub,
        django_capture_on_commit_callbacks,
        [
            _civil_row("C1", "张伟", "1980-01-01", "幸福路12号楼3-501"),  # written another way
            _civil_row("C2", "王芳", "1975-03-04", "青山市东湖区杏花路８号"),  # with the district
            _civil_row("C3", "赵敏", "1950-07-07", "梨花路3号"),  # no household of the register
            _civil_row("C4", "周洁", "1960-01-01", "幸福路12号3单元502室"),  # the flat next door
        ],
    )
    assert _placed() == {
        "P1": "H001",
        "P2": "H001",
        "P4": "H002",
        "D1": "H001",
        "C1": "H001",
        "C2": "H002",
        "C3": None,
        "C4": None,
    }
    # One address entity per place, whichever department wrote it and however.
    by_record = dict(SourceRecord.objects.values_list("record_id", "address__key"))
    assert by_record["D1"] == by_record["C1"] == by_record["P1"] == "幸福路|12-3-501"
    assert by_record["C2"] == by_record["P4"] == "杏花路|8"
    assert Address.objects.count() == 4
    # Withdrawing the register's delivery takes the households away from every department's
    # records; its next delivery places them again.
    batch = ImportBatch.objects.get(source=hub.sources["public_security"])
    services.import_rollback(actor=hub.steward, batch=batch)
    assert _placed() == {
        "D1": None,
        "C1": None,
        "C2": None,
        "C3": None,
        "C4": None,
    }


def test_the_address_key_joins_generated_spellings_with_known_truth() -> None:
    """Every spelling the generator makes of a person's address (its departments' styles)
    gives the key of that place, and different places give different keys."""
    rng = random.Random(5)
    pop = population(300, seed=5)
    keys_of_place: dict[tuple[str, int, int, int], set[str]] = {}
    for person in pop.people:
        place = (person.road, person.building, person.unit, person.room)
        for _style in range(6):
            keys_of_place.setdefault(place, set()).add(address_key(address_written(person, rng)))
    assert all(len(keys) == 1 for keys in keys_of_place.values())
    assert len({next(iter(k)) for k in keys_of_place.values()}) == len(keys_of_place)
