"""What the hub provides other modules through core's registry: the resident's own values for
the portal's prefill (with the department each came from, only under an agreement for that
purpose) and, further on, a verified blood group; every read is in the person's access log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from civichub.core import registry
from civichub.core.models import AuditEvent
from civichub.datahub import capabilities, services
from civichub.datahub.models import AccessEntry, ImportBatch, Person
from civichub.datahub.tests.conftest import (
    HEALTH_HEADER,
    LI_NA,
    ZHANG_WEI,
    Hub,
    agreement_make,
    police_row,
)

pytestmark = pytest.mark.django_db

PREFILL = "网上办事预填（本人同意）"
BLOOD = "紧急用血"


@pytest.fixture
def police_person(hub: Hub, police_import: Callable[..., ImportBatch]) -> Person:
    police_import([police_row("P1", "张伟", ZHANG_WEI, "1980-01-01", "男", phone="13900000009")])
    return Person.objects.get()


def _prefill_agreement(hub: Hub, purpose: str = PREFILL) -> None:
    agreement_make(
        hub,
        source="public_security",
        reader=hub.city.city,
        role="community_worker",
        attributes=["name", "address", "phone"],
        purpose=purpose,
        legal_basis="本人同意（网上办事预填）",
    )


def test_resident_facts_give_values_with_their_department_and_log_the_read(
    hub: Hub, police_person: Person
) -> None:
    _prefill_agreement(hub)
    provided = registry.provided("resident_facts")
    assert provided is capabilities.resident_facts
    facts = provided(actor=hub.resident_user, purpose=PREFILL)
    assert set(facts) == {"name", "address", "phone"}
    assert facts["phone"]["value"] == "13900000009"
    assert facts["address"]["source"] == hub.city.police_city.name
    assert facts["address"]["updated_at"] is not None
    entry = AccessEntry.objects.get(person=police_person)
    assert entry.reader == hub.resident_user and entry.purpose == PREFILL
    assert entry.attributes == ["address", "name", "phone"] and entry.channel == "portal"
    assert AuditEvent.objects.filter(
        action="datahub.person.read", object_id=str(police_person.pk)
    ).exists()


def test_resident_facts_are_empty_and_unlogged_without_an_agreement_for_the_purpose(
    hub: Hub, police_person: Person
) -> None:
    _prefill_agreement(hub, purpose="入户走访")
    assert capabilities.resident_facts(actor=hub.resident_user, purpose=PREFILL) == {}
    assert not AccessEntry.objects.filter(person=police_person).exists()


def test_resident_facts_are_empty_for_an_account_with_no_linked_person(hub: Hub) -> None:
    _prefill_agreement(hub)
    assert capabilities.resident_facts(actor=hub.resident_user, purpose=PREFILL) == {}


def _blood_agreement(hub: Hub, attributes: list[str]) -> None:
    agreement_make(
        hub,
        role="department_head",
        attributes=attributes,
        purpose=BLOOD,
        legal_basis="献血法；临床紧急用血预案",
    )


def _health_row(rh: str) -> list[Any]:
    row: list[Any] = ["D1", "张伟", ZHANG_WEI, "1980-01-01", "男", "", "", "刘医生", "无", "B"]
    return [*row, None, rh]


def test_a_health_blood_group_is_given_with_its_department_and_the_read_logged(
    hub: Hub, police_person: Person, health_import: Callable[..., ImportBatch]
) -> None:
    health_import([_health_row("阴性")], header=[*HEALTH_HEADER, "Rh血型"])
    _blood_agreement(hub, ["blood_group", "rh_factor"])
    provided = registry.provided("verified_blood_group")
    assert provided is capabilities.verified_blood_group
    group = provided(actor=None, identity_number=ZHANG_WEI.lower(), purpose=BLOOD)
    assert group is not None
    assert (group["abo"], group["rhd"]) == ("B", "neg")
    assert group["source"] == hub.city.health_a.name
    entry = AccessEntry.objects.get(person=police_person)
    assert entry.purpose == BLOOD and entry.attributes == ["blood_group", "rh_factor"]
    assert entry.channel == "donors"


def test_no_group_without_the_rh_factor_an_agreement_or_the_person(
    hub: Hub, police_person: Person, health_import: Callable[..., ImportBatch]
) -> None:
    health_import([_health_row("")], header=[*HEALTH_HEADER, "Rh血型"])
    _blood_agreement(hub, ["blood_group", "rh_factor"])
    read = capabilities.verified_blood_group
    assert read(actor=None, identity_number=ZHANG_WEI, purpose=BLOOD) is None  # no RhD
    assert read(actor=None, identity_number=LI_NA, purpose=BLOOD) is None  # not in the hub
    assert read(actor=None, identity_number=ZHANG_WEI, purpose="入户走访") is None
    assert not AccessEntry.objects.exists()


def test_population_counts_give_counts_by_community_age_band_and_gender_only(
    hub: Hub, police_import: Callable[..., ImportBatch]
) -> None:
    police_import(
        [
            police_row("P1", "张伟", ZHANG_WEI, "1980-01-01", "男"),
            police_row("P2", "李娜", LI_NA, "1990-05-01", "女"),
        ]
    )
    community = hub.city.community_a1
    Person.objects.update(community=community)  # as linkage places them from their address
    provided = registry.provided("population_counts")
    assert provided is capabilities.population_counts
    rows = provided()
    assert sum(r["persons"] for r in rows) == 2
    assert {r["community_code"] for r in rows} == {community.code}
    assert all(
        set(r) == {"community_code", "community", "age_band", "gender", "persons"} for r in rows
    )
    assert {r["age_band"] for r in rows} <= {"18-39", "40-59"}


def test_a_blood_group_shared_on_consent_is_given_only_while_the_person_consents(
    hub: Hub, police_person: Person, health_import: Callable[..., ImportBatch]
) -> None:
    health_import([_health_row("阳性")], header=[*HEALTH_HEADER, "Rh血型"])
    agreement = agreement_make(
        hub,
        role="department_head",
        attributes=["blood_group", "rh_factor"],
        purpose=BLOOD,
        legal_basis="",
        basis="consent",
        consent_text="我同意献血登记机构核对我的血型。",
        consent_version="1",
    )
    read = capabilities.verified_blood_group
    assert read(actor=None, identity_number=ZHANG_WEI, purpose=BLOOD) is None
    services.consent_give(actor=hub.resident_user, person=police_person, agreement=agreement)
    group = read(actor=None, identity_number=ZHANG_WEI, purpose=BLOOD)
    assert group is not None and (group["abo"], group["rhd"]) == ("B", "pos")
    services.consent_withdraw(actor=hub.resident_user, person=police_person, agreement=agreement)
    assert read(actor=None, identity_number=ZHANG_WEI, purpose=BLOOD) is None
