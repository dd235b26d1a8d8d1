"""The donors pages: the board's form (bad input shown, nothing stored), the registry without
phones or addresses, and the donor's page from the link: accept, late answers, forged links."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from civichub.donors import services
from civichub.donors.links import call_up_token
from civichub.donors.models import BloodRequest, CallUp
from civichub.donors.tests.conftest import HOSPITAL_LAT, HOSPITAL_LNG
from civichub.testing.summaries import summary_targets

pytestmark = pytest.mark.django_db


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_board_refuses_bad_input_and_stores_nothing(hospital: Any, staff: Any) -> None:
    response = _client(staff["hospital"]).post(
        "/donors/",
        {
            "hospital": hospital.pk,
            "component": "red_cells",
            "units": "0",
            "patient_abo": "A",
            "patient_rhd": "neg",
            "anti_d": "on",
            "rhd_exception_consent": "on",
            "address": "",
            "latitude": "north",
            "longitude": "104.06",
        },
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert 'role="alert"' in html and "请填写数字。" in html
    assert BloodRequest.objects.count() == 0


def test_the_board_creates_a_request_and_shows_it(hospital: Any, staff: Any) -> None:
    client = _client(staff["hospital"])
    response = client.post(
        "/donors/",
        {
            "hospital": hospital.pk,
            "component": "platelets",
            "units": "2",
            "patient_abo": "B",
            "patient_rhd": "pos",
            "urgency": "critical",
            "address": "输血科",
            "latitude": str(HOSPITAL_LAT),
            "longitude": str(HOSPITAL_LNG),
            "crs": "wgs84",
        },
    )
    created = BloodRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/donors/requests/{created.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert "B+ → O+ → A+ → AB+ → B- → O- → A- → AB-" in page


def test_staff_without_a_role_here_are_refused(staff: Any) -> None:
    assert _client(staff["worker"]).get("/donors/").status_code == 403
    assert _client(staff["worker"]).get("/donors/registry/").status_code == 403


def test_the_registry_shows_no_phone_and_no_place(staff: Any, make_donor: Any) -> None:
    donor = make_donor("O", "neg")
    html = _client(staff["centre"]).get("/donors/registry/?rhd=neg").content.decode()
    assert "O-" in html and f"#{donor.pk}" in html
    assert donor.phone not in html and donor.cell not in html


def test_the_donor_accepts_from_the_link_and_a_late_answer_changes_nothing(
    make_donor: Any, make_request: Any, staff: Any
) -> None:
    make_donor()
    make_donor(km=0.8)
    request = make_request(units=1)
    services.call_up_wave(request_id=request.pk)
    first, second = CallUp.objects.order_by("pk")
    page = Client().get(f"/donors/r/{call_up_token(first)}/")
    assert page.status_code == 200 and "我能来献血" in page.content.decode()
    accepted = Client().post(f"/donors/r/{call_up_token(first)}/", {"answer": "accept"})
    html = accepted.content.decode()
    first.refresh_from_db()
    assert first.check_in_code in html and request.address in html
    services.call_up_mark(actor=staff["hospital"], call_up=first, state="donated")
    late = Client().post(f"/donors/r/{call_up_token(second)}/", {"answer": "accept"})
    assert "无需前往" in late.content.decode()
    second.refresh_from_db()
    assert second.state == "stood_down" and not second.check_in_code


def test_a_forged_link_is_refused() -> None:
    response = Client().get("/donors/r/forged-token/")
    assert response.status_code == 403
    assert "这个链接无效。" in response.content.decode()


def test_a_donor_sees_when_they_can_give_again_and_can_pause(
    make_donor: Any, make_user: Any, staff: Any
) -> None:
    from django.utils import timezone

    me = make_user(None, None)
    donor = make_donor(user=me)
    services.donation_record(
        actor=staff["centre"], donor=donor, kind="whole_blood", on=timezone.localdate()
    )
    client = _client(me)
    html = client.get("/donors/me/").content.decode()
    assert "个月" in html and "单采血小板" in html  # the whole-blood interval, in words
    client.post("/donors/me/", {"action": "pause"})
    donor.refresh_from_db()
    assert donor.paused_until is not None
    client.post("/donors/me/", {"action": "location"})
    donor.refresh_from_db()
    assert not donor.location_consent
    other = _client(make_user(None, None)).get("/donors/me/").content.decode()
    assert "您还没有登记为献血志愿者。" in other


def _registration(community: Any, **changes: str) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": "李娜",
        "phone": "13912345678",
        "community": str(community.pk),
        "sex": "female",
        "birth_date": "1995-04-02",
        "weight_kg": "52",
        "abo": "O",
        "rhd": "neg",
        "health_consent": "on",
        "location_consent": "on",
        "latitude": "30.6610",
        "longitude": "104.0610",
        "weekday": ["5", "6"],
        "starts": "09:00",
        "ends": "18:00",
    }
    values.update(changes)
    return {key: value for key, value in values.items() if value != ""}


def test_a_resident_registers_with_two_separate_consents_and_withdraws_one(
    city: Any, make_user: Any
) -> None:
    from civichub.core.models import AuditEvent
    from civichub.donors import consent
    from civichub.donors.models import Donor

    me = make_user(None, None)
    client = _client(me)
    assert client.get("/donors/me/register/").status_code == 200
    response = client.post("/donors/me/register/", _registration(city.community_a1))
    assert response.status_code == 302 and response["Location"] == "/donors/me/"
    donor = Donor.objects.get(user=me)
    assert donor.group_label == "O-" and donor.group_source == "self"
    assert donor.health_consent_version == consent.HEALTH_VERSION
    assert donor.location_consent_version == consent.LOCATION_VERSION
    assert donor.cell and donor.windows.count() == 2
    assert "已保存" in client.get("/donors/me/").content.decode()
    # Unticking the location consent withdraws that one alone; the health data stays.
    client.post("/donors/me/register/", _registration(city.community_a1, location_consent=""))
    donor.refresh_from_db()
    assert not donor.location_consent and not donor.cell and donor.cell_lat is None
    assert donor.health_consent and donor.abo == "O"
    assert Donor.objects.filter(user=me).count() == 1  # edited, not registered twice
    # Unticking the health consent erases the group and the rest of the health data.
    client.post("/donors/me/register/", _registration(city.community_a1, health_consent=""))
    donor.refresh_from_db()
    assert not donor.health_consent and donor.abo == "" and donor.birth_date is None
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        "donors.donor.register",
        "donors.donor.merge",
        "donors.consent.withdraw.location",
        "donors.consent.withdraw.health",
    } <= actions


def test_bad_registration_input_is_refused_and_keeps_what_was_typed(
    city: Any, make_user: Any
) -> None:
    from civichub.donors.models import Donor

    client = _client(make_user(None, None))
    response = client.post(
        "/donors/me/register/",
        _registration(city.community_a1, weight_kg="heavy", name="王小明", starts=""),
    )
    html = response.content.decode()
    assert response.status_code == 422 and 'role="alert"' in html
    assert "请用数字填写体重（公斤）。" in html and 'value="王小明"' in html
    assert 'value="heavy"' in html and 'id="weight_kg-error"' in html
    no_consent = client.post(
        "/donors/me/register/", _registration(city.community_a1, health_consent="")
    )
    assert no_consent.status_code == 422 and "单独同意" in no_consent.content.decode()
    assert Donor.objects.count() == 0


def test_a_duplicate_identity_merges_only_into_ones_own_record(
    city: Any, make_user: Any, make_donor: Any
) -> None:
    from civichub.donors.models import Donor

    imported = make_donor("A", "pos", phone="13912345678", identity_number="11010519491231002X")
    me = make_user(None, None)
    form = _registration(city.community_a1, identity_number="11010519491231002X")
    assert _client(me).post("/donors/me/register/", form).status_code == 302
    imported.refresh_from_db()
    assert imported.user_id == me.pk and Donor.objects.count() == 1
    # The blood centre's tested group is not replaced by the declared one.
    assert imported.group_label == "A+" and imported.group_source == "centre"
    # Someone else with the same number cannot take the record over.
    other = _client(make_user(None, None)).post("/donors/me/register/", form)
    assert other.status_code == 422 and "联系血站" in other.content.decode()
    imported.refresh_from_db()
    assert imported.user_id == me.pk and Donor.objects.count() == 1


def test_registration_needs_a_sign_in_and_shows_only_ones_own_record(
    city: Any, make_user: Any, make_donor: Any
) -> None:
    assert Client().get("/donors/me/register/").status_code == 302
    someone = make_user(None, None)
    make_donor(user=someone)
    page = _client(make_user(None, None)).get("/donors/me/register/").content.decode()
    assert "登记为献血志愿者" in page and "13800" not in page


def test_a_bad_request_is_summarised_at_the_top_each_problem_linked_to_its_field(
    hospital: Any, staff: Any
) -> None:
    html = (
        _client(staff["hospital"])
        .post(
            "/donors/",
            {
                "hospital": hospital.pk,
                "component": "red_cells",
                "units": "1",
                "patient_abo": "A",
                "patient_rhd": "pos",
                "address": "人民医院",
                "latitude": "north",
                "longitude": "104.06",
            },
        )
        .content.decode()
    )
    summary = html[html.index('id="error-summary"') :]
    summary = summary[: summary.index("</div>")]
    assert 'role="alert" tabindex="-1" autofocus' in summary
    assert '<a href="#latitude">' in summary and 'id="latitude"' in html
    assert "_errors" not in html and 'class="error" role="alert"' not in html


def test_a_refused_mark_links_to_the_call_up_list(
    make_donor: Any, make_request: Any, staff: Any
) -> None:
    """A donor marked as arrived before accepting: the refusal is about the call-up's state,
    which the list shows; the summary links there."""
    make_donor()
    request = make_request()
    services.call_up_wave(request_id=request.pk)
    call_up = CallUp.objects.get(request=request)
    client = _client(staff["hospital"])
    client.post(f"/donors/call-ups/{call_up.pk}/mark/", {"state": "arrived"})
    html = client.get(f"/donors/requests/{request.pk}/").content.decode()
    assert summary_targets(html) == ["call-ups"]
