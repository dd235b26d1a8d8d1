"""Who reads what: a role x source x attribute matrix over two residents (one contracted with
the family doctor, one with another doctor), and PIPL's separate consent, which residents
give and withdraw on "my data" and which the read check honours."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from civichub.core.errors import Conflict, PermissionDenied, ValidationFailed
from civichub.core.models import User
from civichub.datahub import selectors, services
from civichub.datahub.models import Agreement, Consent, ImportBatch, Person
from civichub.datahub.tests.conftest import (
    HEALTH_HEADER,
    LI_NA,
    ZHANG_WEI,
    Hub,
    agreement_make,
    police_row,
)
from civichub.testing.city import staff_user
from civichub.testing.summaries import described_by, summary_targets

pytestmark = pytest.mark.django_db

CARE = "家庭医生签约服务"
VISIT = "入户走访"
BLOOD = "紧急用血"
HOME_CARE = "居家养老关怀（本人同意）"
START = dt.date(2025, 1, 1)


def _civil_import(hub: Hub, capture: Any, items: list[dict[str, object]]) -> None:
    steward = staff_user("data_steward", hub.civil_affairs, username="csteward")
    with capture(execute=True):
        services.import_start(
            actor=steward,
            source=hub.sources["civil_affairs"],
            content=json.dumps(items, ensure_ascii=False).encode(),
            file_name="civil.json",
            fmt="json",
        )


@pytest.fixture
def residents(
    hub: Hub,
    police_import: Callable[..., ImportBatch],
    health_import: Callable[..., ImportBatch],
    django_capture_on_commit_callbacks: Any,
) -> dict[str, Person]:
    """张伟 signed with the hub's doctor (刘医生), 李娜 with another doctor; both live in
    community A1; the civil affairs bureau knows 张伟 lives alone and receives 低保."""
    police_import(
        [
            police_row("P1", "张伟", ZHANG_WEI, "1980-01-01", "男"),
            police_row("P2", "李娜", LI_NA, "1992-03-15", "女", household="H002"),
        ]
    )
    header = [*HEALTH_HEADER, "Rh血型"]
    health_import(
        [
            [
                "D1",
                "张伟",
                ZHANG_WEI,
                "1980-01-01",
                "男",
                "",
                "",
                "刘医生",
                "高血压",
                "A",
                None,
                "阳性",
            ],
            [
                "D2",
                "李娜",
                LI_NA,
                "1992-03-15",
                "女",
                "",
                "",
                "王医生",
                "糖尿病",
                "O",
                None,
                "阴性",
            ],
        ],
        header=header,
    )
    _civil_import(
        hub,
        django_capture_on_commit_callbacks,
        [
            {
                "record_id": "C1",
                "name": "张伟",
                "id_number": ZHANG_WEI,
                "birth_date": "1980-01-01",
                "gender": "男",
                "dibao": True,
                "disability_grade": 2,
                "lives_alone": True,
            }
        ],
    )
    city = hub.city
    agreement_make(
        hub,
        attributes=["chronic_condition", "blood_group", "family_doctor", "last_vaccination"],
        scope="contracted",
    )
    agreement_make(
        hub,
        role="department_head",
        attributes=["blood_group", "rh_factor"],
        purpose=BLOOD,
        legal_basis="献血法；临床紧急用血预案",
    )
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
    agreement_make(
        hub,
        source="civil_affairs",
        reader=city.community_a1,
        role="community_worker",
        area=city.community_a1,
        attributes=["minimum_living_allowance", "lives_alone", "elderly_subsidy"],
        purpose=VISIT,
        legal_basis="社会救助暂行办法",
    )
    return {p.name: p for p in Person.objects.all()}


EVERYTHING = [
    "name",
    "address",
    "phone",
    "birth_date",
    "gender",
    "household_number",
    "relation_to_head",
    "registered_at",
    "family_doctor",
    "chronic_condition",
    "blood_group",
    "rh_factor",
    "last_vaccination",
    "minimum_living_allowance",
    "disability_grade",
    "elderly_subsidy",
    "lives_alone",
]
POLICE_BASIC = {
    ("public_security", "name"),
    ("public_security", "address"),
    ("public_security", "household_number"),
}

# (reader, purpose, person) -> the (source, attribute) pairs read; None: the read is refused
MATRIX: list[tuple[str, str, str, set[tuple[str, str]] | None]] = [
    (
        "doctor",
        CARE,
        "张伟",
        {("health", "chronic_condition"), ("health", "blood_group"), ("health", "family_doctor")},
    ),
    ("doctor", CARE, "李娜", None),  # signed with another doctor
    ("doctor", VISIT, "张伟", None),
    ("doctor", BLOOD, "张伟", None),
    (
        "worker",
        VISIT,
        "张伟",
        POLICE_BASIC
        | {("civil_affairs", "minimum_living_allowance"), ("civil_affairs", "lives_alone")},
    ),
    ("worker", VISIT, "李娜", POLICE_BASIC),
    ("worker", CARE, "张伟", None),
    ("worker", BLOOD, "张伟", None),
    ("health_head", BLOOD, "张伟", {("health", "blood_group"), ("health", "rh_factor")}),
    ("health_head", BLOOD, "李娜", {("health", "blood_group"), ("health", "rh_factor")}),
    ("health_head", CARE, "张伟", None),
    ("health_head", VISIT, "张伟", None),
    ("steward", VISIT, "张伟", None),
    ("auditor", CARE, "张伟", None),
    ("other_worker", VISIT, "张伟", None),
]


def _reader(hub: Hub, who: str) -> User:
    if who == "other_worker":
        return staff_user("community_worker", hub.city.community_b1, username="other")
    user: User = getattr(hub, who)
    return user


@pytest.mark.parametrize(("who", "purpose", "name", "expected"), MATRIX)
def test_role_source_attribute_matrix(
    hub: Hub,
    residents: dict[str, Person],
    who: str,
    purpose: str,
    name: str,
    expected: set[tuple[str, str]] | None,
) -> None:
    reader, person = _reader(hub, who), residents[name]
    if expected is None:
        with pytest.raises(PermissionDenied):
            selectors.person_attributes(
                actor=reader, person=person, names=EVERYTHING, purpose=purpose
            )
        return
    found = selectors.person_attributes(
        actor=reader, person=person, names=EVERYTHING, purpose=purpose
    )
    assert {(v.source, v.name) for v in found.values} == expected
    assert set(found.withheld) == set(EVERYTHING) - {n for _s, n in expected}


def test_a_community_worker_reads_eligibility_flags_but_no_diagnosis_or_disability(
    hub: Hub, residents: dict[str, Person]
) -> None:
    found = selectors.person_attributes(
        actor=hub.worker, person=residents["张伟"], names=None, purpose=VISIT
    )
    values = {(v.source, v.name): v.value for v in found.values}
    assert values[("civil_affairs", "minimum_living_allowance")] == "true"
    assert not {n for _s, n in values} & {"chronic_condition", "blood_group", "disability_grade"}
    assert ("health", "address") not in values  # the clinic's copy of the address is not shared


def test_a_contract_ending_ends_the_doctors_reads(
    hub: Hub, residents: dict[str, Person], health_import: Callable[..., ImportBatch]
) -> None:
    zhang = residents["张伟"]
    selectors.person_attributes(actor=hub.doctor, person=zhang, names=None, purpose=CARE)
    # the next delivery: 张伟 has moved to another doctor
    health_import(
        [["D1", "张伟", ZHANG_WEI, "1980-01-01", "男", "", "", "王医生", "高血压", "A", None]]
    )
    with pytest.raises(PermissionDenied):
        selectors.person_attributes(actor=hub.doctor, person=zhang, names=None, purpose=CARE)


def test_only_a_source_with_contracts_takes_an_agreement_limited_to_them(hub: Hub) -> None:
    with pytest.raises(ValidationFailed) as refused:
        agreement_make(
            hub,
            source="public_security",
            reader=hub.city.community_a1,
            role="community_worker",
            area=hub.city.community_a1,
            attributes=["address"],
            purpose=VISIT,
            legal_basis="城市居民委员会组织法",
            scope="contracted",
        )
    assert set(refused.value.errors) == {"scope"}


# PIPL: separate consent ---------------------------------------------------------------------


@pytest.fixture
def home_care(hub: Hub, residents: dict[str, Person]) -> Agreement:
    """Health data to the community worker with no legal basis: only with each resident's
    own consent."""
    return agreement_make(
        hub,
        reader=hub.city.community_a1,
        role="community_worker",
        area=hub.city.community_a1,
        attributes=["chronic_condition"],
        purpose=HOME_CARE,
        legal_basis="",
        basis="consent",
        consent_text="我同意社区工作者查看我的慢病信息，用于居家养老关怀。",
        consent_version="2026-1",
    )


def test_an_agreement_needs_a_legal_basis_or_a_consent_text(hub: Hub) -> None:
    common: dict[str, Any] = {
        "reader": hub.city.community_a1,
        "role": "community_worker",
        "area": hub.city.community_a1,
        "attributes": ["chronic_condition"],
        "purpose": HOME_CARE,
        "legal_basis": "",
    }
    with pytest.raises(ValidationFailed) as no_basis:
        agreement_make(hub, **common)
    assert set(no_basis.value.errors) == {"legal_basis"}
    with pytest.raises(ValidationFailed) as no_text:
        agreement_make(hub, **common, basis="consent", consent_version="1")
    assert set(no_text.value.errors) == {"consent_text"}


def test_sensitive_data_on_consent_are_read_only_while_consent_is_in_force(
    hub: Hub, residents: dict[str, Person], home_care: Agreement
) -> None:
    zhang = residents["张伟"]

    def read() -> set[str]:
        found = selectors.person_attributes(
            actor=hub.worker, person=zhang, names=None, purpose=HOME_CARE
        )
        return {v.name for v in found.values}

    with pytest.raises(PermissionDenied):
        read()
    consent = services.consent_give(actor=hub.resident_user, person=zhang, agreement=home_care)
    assert (consent.purpose, consent.text_version, consent.withdrawn_at) == (
        HOME_CARE,
        "2026-1",
        None,
    )
    assert consent.given_at is not None
    assert read() == {"chronic_condition"}
    with pytest.raises(PermissionDenied):  # 李娜 has not consented
        selectors.person_attributes(
            actor=hub.worker, person=residents["李娜"], names=None, purpose=HOME_CARE
        )
    withdrawn = services.consent_withdraw(
        actor=hub.resident_user, person=zhang, agreement=home_care
    )
    assert withdrawn.pk == consent.pk and withdrawn.withdrawn_at is not None
    with pytest.raises(PermissionDenied):
        read()
    with pytest.raises(Conflict):
        services.consent_withdraw(actor=hub.resident_user, person=zhang, agreement=home_care)


def test_only_the_resident_gives_their_consent(
    hub: Hub, residents: dict[str, Person], home_care: Agreement
) -> None:
    with pytest.raises(PermissionDenied):
        services.consent_give(actor=hub.worker, person=residents["张伟"], agreement=home_care)
    with pytest.raises(PermissionDenied):  # 李娜 is not the signed-in resident
        services.consent_give(
            actor=hub.resident_user, person=residents["李娜"], agreement=home_care
        )
    assert not Consent.objects.exists()


def test_a_new_consent_text_needs_consent_again(
    hub: Hub, residents: dict[str, Person], home_care: Agreement
) -> None:
    zhang = residents["张伟"]
    services.consent_give(actor=hub.resident_user, person=zhang, agreement=home_care)
    Agreement.objects.filter(pk=home_care.pk).update(consent_version="2026-2")
    with pytest.raises(PermissionDenied):
        selectors.person_attributes(actor=hub.worker, person=zhang, names=None, purpose=HOME_CARE)
    home_care.refresh_from_db()
    again = services.consent_give(actor=hub.resident_user, person=zhang, agreement=home_care)
    assert again.text_version == "2026-2"
    assert [c.withdrawn_at is None for c in Consent.objects.order_by("pk")] == [False, True]


def test_the_resident_gives_and_withdraws_consent_on_my_data(
    hub: Hub, residents: dict[str, Person], home_care: Agreement
) -> None:
    client = Client()
    client.force_login(hub.resident_user)
    page = client.get("/datahub/my-data/").content.decode()
    assert home_care.consent_text in page and "2026-1" in page
    url = f"/datahub/my-data/consents/{home_care.pk}/"
    assert client.post(url, {"give": "1"}).status_code == 302
    consent = Consent.objects.get()
    assert consent.withdrawn_at is None and consent.given_by == hub.resident_user
    assert "撤回同意" in client.get("/datahub/my-data/").content.decode()
    assert client.post(url, {"give": "0"}).status_code == 302
    consent.refresh_from_db()
    assert consent.withdrawn_at is not None
    other = Client()
    other.force_login(hub.worker)
    assert other.post(url, {"give": "1"}).status_code == 404
    assert Consent.objects.count() == 1


def test_the_resident_gives_consent_over_the_api(
    hub: Hub, residents: dict[str, Person], home_care: Agreement, api_as: Callable[..., Any]
) -> None:
    api = api_as(hub.resident_user)
    given = api.post(f"/api/datahub/me/consents/{home_care.pk}", {"given": True})
    assert given.status_code == 200 and given.json()["withdrawn_at"] is None
    mine = api.get("/api/datahub/me").json()
    assert [(c["agreement_id"], c["given"]) for c in mine["consents"]] == [(home_care.pk, True)]
    taken = api.post(f"/api/datahub/me/consents/{home_care.pk}", {"given": False})
    assert taken.status_code == 200 and taken.json()["withdrawn_at"] is not None


def test_the_agreements_page_approves_one_resting_on_consent(hub: Hub) -> None:
    client = Client()
    client.force_login(hub.health_head)
    form = {
        "source": "health",
        "reader": hub.city.community_a1.pk,
        "role": "community_worker",
        "area": hub.city.community_a1.pk,
        "attributes": "chronic_condition",
        "purpose": HOME_CARE,
        "legal_basis": "",
        "basis": "consent",
        "scope": "area",
        "consent_text": "我同意社区工作者查看我的慢病信息。",
        "consent_version": "v1",
        "valid_from": "2025-01-01",
    }
    refused = client.post("/datahub/agreements/", {**form, "consent_text": ""})
    assert refused.status_code == 200 and not Agreement.objects.exists()
    html = refused.content.decode()
    assert summary_targets(html) == ["id_consent_text"]
    assert "id_consent_text_error" in described_by(html, "id_consent_text")
    assert client.post("/datahub/agreements/", form).status_code == 302
    made = Agreement.objects.get()
    assert (made.basis, made.consent_version, made.legal_basis) == ("consent", "v1", "")
    assert "本人单独同意（v1）" in client.get("/datahub/agreements/").content.decode()


def test_a_refused_correction_request_shows_each_problem_at_its_box(
    hub: Hub, residents: dict[str, Person]
) -> None:
    """My data: a request without a reason, and one for information that is not the resident's,
    each linked from the summary to the box it is about, which names its message."""
    client = Client()
    client.force_login(hub.resident_user)
    html = client.post("/datahub/my-data/", {"value": "1", "reason": ""}).content.decode()
    assert summary_targets(html) == ["id_reason"]
    assert described_by(html, "id_reason") == ["id_reason_error"]
    html = client.post("/datahub/my-data/", {"value": "999999", "reason": "错了"}).content.decode()
    assert summary_targets(html) == ["id_value"]
    assert described_by(html, "id_value") == ["id_value_error"]
    assert 'value="错了"' in html  # what was typed stays
