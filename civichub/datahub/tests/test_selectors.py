"""Agreement-scoped reads (role x source x attribute x purpose), the access log a resident
reads (exactly the reads that happened), the source health figures and the review queue's
scope."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from civichub.core.errors import PermissionDenied, ValidationFailed
from civichub.core.models import AuditEvent, User
from civichub.datahub import selectors, services
from civichub.datahub.models import Agreement, ImportBatch, Person
from civichub.datahub.tests.conftest import ZHANG_WEI, Hub, agreement_make, police_row
from civichub.testing.city import staff_user

pytestmark = pytest.mark.django_db

CARE = "家庭医生签约服务"
VISIT = "入户走访"
BLOOD = "紧急用血"


@pytest.fixture
def zhang(
    hub: Hub,
    police_import: Callable[..., ImportBatch],
    health_import: Callable[..., ImportBatch],
) -> Person:
    police_import([police_row("P1", "张伟", ZHANG_WEI, "1980-01-01", "男")])
    health_import(
        [["D1", "张伟", ZHANG_WEI, "1980-01-01", "男", "", "", "刘医生", "高血压", "A", None]]
    )
    city = hub.city
    agreement_make(
        hub, area=city.district_a, attributes=["chronic_condition", "blood_group", "family_doctor"]
    )
    agreement_make(hub, role="department_head", purpose=BLOOD, legal_basis="献血法；紧急用血预案")
    agreement_make(
        hub,
        source="public_security",
        reader=city.community_a1,
        role="community_worker",
        area=city.community_a1,
        attributes=["name", "address", "household_number"],
        purpose=VISIT,
        legal_basis="城市居民委员会组织法",
    )
    return Person.objects.get()


def _read(user: User, person: Person, purpose: str, names: list[str] | None = None) -> set[str]:
    found = selectors.person_attributes(actor=user, person=person, names=names, purpose=purpose)
    return {v.name for v in found.values}


MATRIX = [
    ("doctor", CARE, {"chronic_condition", "blood_group", "family_doctor"}),
    ("doctor", VISIT, None),
    ("worker", VISIT, {"name", "address", "household_number"}),
    ("worker", CARE, None),
    ("health_head", BLOOD, {"blood_group"}),
    ("health_head", CARE, None),
    ("steward", VISIT, None),
    ("auditor", VISIT, None),
]


@pytest.mark.parametrize(("who", "purpose", "visible"), MATRIX)
def test_an_agreement_decides_which_attributes_a_role_reads(
    hub: Hub, zhang: Person, who: str, purpose: str, visible: set[str] | None
) -> None:
    user = getattr(hub, who)
    if visible is None:
        with pytest.raises(PermissionDenied):
            _read(user, zhang, purpose)
    else:
        assert _read(user, zhang, purpose) == visible


def test_a_community_worker_never_sees_a_diagnosis(hub: Hub, zhang: Person) -> None:
    found = selectors.person_attributes(
        actor=hub.worker, person=zhang, names=["address", "chronic_condition"], purpose=VISIT
    )
    assert [v.name for v in found.values] == ["address"]
    assert found.withheld == ["chronic_condition"]
    (address,) = found.values
    assert (address.source, address.record_id) == ("public_security", "P1")


def test_a_worker_of_another_community_is_outside_the_agreement(hub: Hub, zhang: Person) -> None:
    other = staff_user("community_worker", hub.city.community_b1)
    with pytest.raises(PermissionDenied):
        _read(other, zhang, VISIT)


def test_an_ended_agreement_admits_no_one(hub: Hub, zhang: Person) -> None:
    agreement = Agreement.objects.get(purpose=BLOOD)
    services.agreement_end(actor=hub.health_head, agreement=agreement)
    with pytest.raises(PermissionDenied):
        _read(hub.health_head, zhang, BLOOD)


def test_an_agreement_names_attributes_the_source_has_and_a_legal_basis(hub: Hub) -> None:
    with pytest.raises(ValidationFailed) as refused:
        agreement_make(hub, attributes=["religion"], legal_basis=" ")
    assert set(refused.value.errors) == {"attributes", "legal_basis"}
    with pytest.raises(PermissionDenied):
        agreement_make(hub, source="public_security", actor=hub.health_head, attributes=["address"])


def test_the_resident_sees_exactly_the_reads_of_their_record(hub: Hub, zhang: Person) -> None:
    _read(hub.doctor, zhang, CARE)
    _read(hub.worker, zhang, VISIT, ["address"])
    with pytest.raises(PermissionDenied):
        _read(hub.worker, zhang, CARE)
    mine = selectors.my_record(actor=hub.resident_user)
    assert mine is not None and mine.person == zhang
    seen = [(a.reader, a.organisation, a.role, a.purpose, a.attributes) for a in mine.accesses]
    assert seen == [
        (hub.worker, hub.city.community_a1, "community_worker", VISIT, ["address"]),
        (
            hub.doctor,
            hub.city.health_a,
            "family_doctor",
            CARE,
            ["blood_group", "chronic_condition", "family_doctor"],
        ),
    ]
    reads = AuditEvent.objects.filter(action="datahub.person.read", object_id=str(zhang.pk))
    assert reads.count() == 2
    by_name = {v.name: v for v in mine.values}
    assert by_name["blood_group"].source == "health"
    assert by_name["household_number"].source == "public_security"


def test_no_one_else_reads_a_residents_own_record(hub: Hub, zhang: Person) -> None:
    assert selectors.my_record(actor=hub.worker) is None
    with pytest.raises(PermissionDenied):
        selectors.access_log(actor=hub.worker, person=zhang)
    assert selectors.access_log(actor=hub.auditor, person=zhang) == []


def test_source_health_counts_rows_links_and_staleness(hub: Hub, zhang: Person) -> None:
    (police,) = selectors.source_list(actor=hub.steward)
    assert police.source.key == "public_security"
    assert (police.rows_accepted, police.records, police.linked) == (1, 1, 1)
    assert police.linkage_rate == 1.0 and not police.stale
    keys = {h.source.key for h in selectors.source_list(actor=hub.auditor)}
    assert keys == {"public_security", "health", "civil_affairs", "education", "tourism"}
    stale = {h.source.key for h in selectors.source_list(actor=hub.auditor) if h.stale}
    assert stale == {"civil_affairs", "education", "tourism"}
