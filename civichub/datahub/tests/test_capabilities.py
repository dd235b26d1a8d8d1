"""What the hub provides other modules through core's registry: the resident's own values for
the portal's prefill (with the department each came from, only under an agreement for that
purpose) and, further on, a verified blood group; every read is in the person's access log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from civichub.core import registry
from civichub.core.models import AuditEvent
from civichub.datahub import capabilities, services
from civichub.datahub.models import AccessEntry, ImportBatch, Person
from civichub.datahub.tests.conftest import ZHANG_WEI, Hub, police_row
from civichub.testing.city import staff_user

pytestmark = pytest.mark.django_db

PREFILL = "网上办事预填（本人同意）"


@pytest.fixture
def police_person(hub: Hub, police_import: Callable[..., ImportBatch]) -> Person:
    police_import([police_row("P1", "张伟", ZHANG_WEI, "1980-01-01", "男", phone="13900000009")])
    return Person.objects.get()


def _prefill_agreement(hub: Hub, purpose: str = PREFILL) -> None:
    head = staff_user("department_head", hub.city.police_city, username="phead")
    services.agreement_create(
        actor=head,
        source=hub.sources["public_security"],
        reader=hub.city.city,
        role="community_worker",
        area=hub.city.city,
        attributes=["name", "address", "phone"],
        purpose=purpose,
        legal_basis="本人同意（网上办事预填）",
        valid_from=dt.date(2025, 1, 1),
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
