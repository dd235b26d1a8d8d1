"""Extended phenotypes: recorded by the donor (declared) or the blood centre (tested, never
replaced by the donor), shown on the donor's own page and the registry, and a request for a
patient with antibodies calling only donors known to lack the antigens (unknown is not called,
and the request says so)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from civichub.core.errors import PermissionDenied, ValidationFailed
from civichub.core.models import AuditEvent
from civichub.donors import services
from civichub.donors.models import BloodRequest, CallUp, Donor
from civichub.donors.tests.conftest import HOSPITAL_LAT, HOSPITAL_LNG

pytestmark = pytest.mark.django_db


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _called(request: BloodRequest) -> set[int]:
    """The donors a request's first wave calls (the wave runs after commit in production)."""
    if not request.waves:
        services.call_up_wave(request_id=request.pk, now=timezone.now())
        request.refresh_from_db()
    return set(CallUp.objects.filter(request=request).values_list("donor_id", flat=True))


def test_the_centres_antigens_are_tested_and_the_donor_cannot_change_them(
    make_donor: Any, make_user: Any, staff: Any
) -> None:
    me = make_user(None, None)
    donor = make_donor(user=me)
    services.donor_phenotype_set(actor=staff["centre"], donor=donor, phenotype={"K": "-"})
    donor.refresh_from_db()
    assert donor.phenotype == {"K": "-"} and donor.phenotype_verified == ["K"]
    # The donor adds what they know; it stays declared.
    services.donor_phenotype_set(actor=me, donor=donor, phenotype={"Fya": "+", "K": "-"})
    donor.refresh_from_db()
    assert donor.phenotype == {"K": "-", "Fya": "+"} and donor.phenotype_verified == ["K"]
    # Neither changing nor forgetting a tested antigen: refused, nothing stored changes.
    for value in ("+", ""):
        with pytest.raises(ValidationFailed):
            services.donor_phenotype_set(actor=me, donor=donor, phenotype={"K": value})
        donor.refresh_from_db()
        assert donor.phenotype == {"K": "-", "Fya": "+"}
    # The donor may forget their own declared one; the centre may replace anything.
    services.donor_phenotype_set(actor=me, donor=donor, phenotype={"Fya": ""})
    services.donor_phenotype_set(actor=staff["centre"], donor=donor, phenotype={"K": "+"})
    donor.refresh_from_db()
    assert donor.phenotype == {"K": "+"} and donor.phenotype_verified == ["K"]
    assert AuditEvent.objects.filter(action="donors.donor.phenotype").count() == 4


@pytest.mark.parametrize("phenotype", [{"Q": "-"}, {"K": "neg"}, {"K": "0"}])
def test_bad_antigens_are_refused(make_donor: Any, staff: Any, phenotype: Any) -> None:
    donor = make_donor()
    with pytest.raises(ValidationFailed):
        services.donor_phenotype_set(actor=staff["centre"], donor=donor, phenotype=phenotype)
    donor.refresh_from_db()
    assert donor.phenotype == {}


def test_others_cannot_record_a_phenotype(make_donor: Any, make_user: Any, staff: Any) -> None:
    donor = make_donor()
    for actor in (make_user(None, None), staff["hospital"]):
        with pytest.raises(PermissionDenied):
            services.donor_phenotype_set(actor=actor, donor=donor, phenotype={"K": "-"})


def test_withdrawing_the_health_consent_erases_the_phenotype(make_donor: Any, staff: Any) -> None:
    donor = make_donor()
    services.donor_phenotype_set(actor=staff["centre"], donor=donor, phenotype={"Jka": "-"})
    services.donor_consent_withdraw(actor=staff["centre"], donor=donor, which="health")
    donor.refresh_from_db()
    assert donor.phenotype == {} and donor.phenotype_verified == []


def _register(staff: Any, city: Any, phenotype: dict[str, str], *, verified: bool) -> Donor:
    today = timezone.localdate()
    return services.donor_register(
        actor=staff["centre"],
        registration=services.Registration(
            name="献血者",
            phone="13800009999",
            community=city.community_a1,
            details=services.DonorDetails(
                sex="female",
                birth_date=today.replace(year=today.year - 30) - timedelta(days=30),
                weight_kg=55,
                abo="O",
                rhd="pos",
                phenotype=phenotype,
            ),
            health_consent=True,
            location_consent=False,
            identity_number="11010519491231002X",
            verified=verified,
        ),
    )


def test_an_import_marks_its_antigens_tested_and_a_declaration_keeps_them(
    staff: Any, city: Any
) -> None:
    first = _register(staff, city, {"K": "-", "Jka": "+"}, verified=True)
    assert first.phenotype_verified == ["K", "Jka"]
    # The same person declaring other values: the tested ones stay, a new one is declared.
    again = _register(staff, city, {"K": "+", "Fya": "-"}, verified=False)
    assert again.pk == first.pk
    again.refresh_from_db()
    assert again.phenotype == {"K": "-", "Fya": "-", "Jka": "+"}
    assert again.phenotype_verified == ["K", "Jka"]


def test_a_request_calls_only_donors_known_to_lack_the_antigens(
    make_donor: Any, make_request: Any, staff: Any
) -> None:
    negative = make_donor("A", km=3.0)
    services.donor_phenotype_set(
        actor=staff["centre"], donor=negative, phenotype={"K": "-", "Fya": "-"}
    )
    only_k = make_donor("A", km=1.0)
    services.donor_phenotype_set(actor=staff["centre"], donor=only_k, phenotype={"K": "-"})
    positive = make_donor("A", km=1.0)
    services.donor_phenotype_set(
        actor=staff["centre"], donor=positive, phenotype={"K": "+", "Fya": "-"}
    )
    unknown = make_donor("A", km=0.5)  # nearest, but its antigens are unknown
    request = make_request(units=3, antigen_negative=["Fya", "K"])
    assert request.antigen_negative == ["K", "Fya"]  # kept in one order
    assert _called(request) == {negative.pk}
    # Without the antibodies, everyone of a compatible group is called, phenotype or not.
    services.blood_request_cancel(actor=staff["hospital"], request=request)
    plain = make_request(units=1)
    assert _called(plain) == {negative.pk, only_k.pk, positive.pk, unknown.pk}


def test_a_declared_negative_counts_as_known(
    make_donor: Any, make_user: Any, make_request: Any
) -> None:
    me = make_user(None, None)
    donor = make_donor(user=me, km=2.0)
    services.donor_phenotype_set(actor=me, donor=donor, phenotype={"Jka": "-"})
    make_donor(km=1.0)
    request = make_request(antigen_negative=["Jka"])
    assert _called(request) == {donor.pk}


def test_a_request_refuses_an_unknown_antigen_and_DEL(make_request: Any) -> None:
    for asked in (["Q"], ["DEL"]):
        with pytest.raises(ValidationFailed) as refused:
            make_request(antigen_negative=asked)
        assert "antigen_negative" in refused.value.errors
    assert BloodRequest.objects.count() == 0


def test_the_pages_show_and_record_phenotypes(
    hospital: Any, make_donor: Any, make_user: Any, staff: Any
) -> None:
    me = make_user(None, None)
    donor = make_donor(user=me)
    centre = _client(staff["centre"])
    # The centre records through the registry page: marked tested there and on the donor's.
    response = centre.post(
        "/donors/registry/", {"donor": str(donor.pk), "pheno_K": "-", "pheno_Jka": ""}
    )
    assert response.status_code == 302
    donor.refresh_from_db()
    assert donor.phenotype == {"K": "-"} and donor.phenotype_verified == ["K"]
    assert "K− ✓" in centre.get("/donors/registry/").content.decode()
    # "Unchanged" on the registry's form leaves a recorded antigen as it was.
    centre.post("/donors/registry/", {"donor": str(donor.pk), "pheno_K": "", "pheno_E": "+"})
    donor.refresh_from_db()
    assert donor.phenotype == {"K": "-", "E": "+"}
    services.donor_phenotype_set(actor=staff["centre"], donor=donor, phenotype={"E": ""})
    bad = centre.post("/donors/registry/", {"donor": "999999", "pheno_K": "-"})
    assert bad.status_code == 422 and 'role="alert"' in bad.content.decode()
    # The donor declares another on their own page; the tested one has no field there.
    client = _client(me)
    page = client.get("/donors/me/").content.decode()
    assert "K− ✓" in page and 'name="pheno_K"' not in page and 'name="pheno_Fya"' in page
    client.post("/donors/me/", {"action": "phenotype", "pheno_Fya": "+"})
    donor.refresh_from_db()
    assert donor.phenotype == {"K": "-", "Fya": "+"} and donor.phenotype_verified == ["K"]
    assert "Fy(a)+" in client.get("/donors/me/").content.decode()
    # A request asking for K-negative donors says that unknown ones are not called.
    hospital_client = _client(staff["hospital"])
    created = hospital_client.post(
        "/donors/",
        {
            "hospital": hospital.pk,
            "component": "red_cells",
            "units": "1",
            "patient_abo": "A",
            "patient_rhd": "pos",
            "antigen_negative": ["K"],
            "address": "输血科",
            "latitude": str(HOSPITAL_LAT),
            "longitude": str(HOSPITAL_LNG),
            "crs": "wgs84",
        },
    )
    assert created.status_code == 302
    assert BloodRequest.objects.get().antigen_negative == ["K"]
    html = hospital_client.get(created["Location"]).content.decode()
    assert "K−" in html and "未知" in html
    assert _called(BloodRequest.objects.get()) == {donor.pk}


def test_the_api_takes_and_gives_the_antigens(hospital: Any, staff: Any, make_donor: Any) -> None:
    donor = make_donor()
    services.donor_phenotype_set(actor=staff["centre"], donor=donor, phenotype={"K": "-"})
    response = _client(staff["hospital"]).post(
        "/api/donors/requests",
        {
            "hospital_id": hospital.pk,
            "component": "red_cells",
            "units": 1,
            "patient_abo": "A",
            "patient_rhd": "pos",
            "address": "输血科",
            "latitude": HOSPITAL_LAT,
            "longitude": HOSPITAL_LNG,
            "crs": "wgs84",
            "antigen_negative": ["K"],
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["antigen_negative"] == ["K"]
    assert [c["call_up_id"] for c in response.json()["call_ups"]] == list(
        CallUp.objects.filter(donor=donor).values_list("pk", flat=True)
    )
    assert timezone.now() - timedelta(minutes=1) < BloodRequest.objects.get().created_at
