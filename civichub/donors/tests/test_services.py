"""The registry and the call-up flow through the services: consent, merging, bad input, waves
in preference and distance order, acceptances, no-shows, closing, late answers, the monthly cap
and two requests competing for the same donors."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from civichub.core import crypto, registry
from civichub.core.errors import Conflict, PermissionDenied, ValidationFailed
from civichub.core.models import AuditEvent
from civichub.donors import services
from civichub.donors.models import BloodRequest, CallUp, CallUpState, Donor
from civichub.donors.tests.conftest import at_km
from civichub.notify.models import Delivery, Dispatch, PushSubscription

pytestmark = pytest.mark.django_db

ID_A = "11010519491231002X"


def _wave(request: BloodRequest, minutes: float = 0) -> int:
    return services.call_up_wave(
        request_id=request.pk, now=timezone.now() + timedelta(minutes=minutes)
    )


def _called(request: BloodRequest) -> list[int]:
    return list(
        CallUp.objects.filter(request=request).order_by("pk").values_list("donor_id", flat=True)
    )


# The registry --------------------------------------------------------------------------------


def test_identity_number_is_encrypted_and_a_second_registration_merges(
    make_donor: Any, staff: Any
) -> None:
    first = make_donor("B", "neg", identity_number=ID_A, verified=True)
    assert ID_A.encode() not in bytes(first.identity_encrypted)
    assert crypto.decrypt_identity(first.identity_encrypted) == ID_A
    assert first.identity_hash == crypto.identity_lookup_hash(ID_A)
    # The same person again, declaring another group and a new weight: one record, the
    # centre's tested group kept, the new weight taken.
    again = make_donor("A", "pos", identity_number=ID_A.lower(), verified=False, weight=80)
    assert again.pk == first.pk
    assert Donor.objects.count() == 1
    again.refresh_from_db()
    assert (again.abo, again.rhd, again.group_source) == ("B", "neg", "centre")
    assert again.weight_kg == 80
    assert AuditEvent.objects.filter(action="donors.donor.merge").count() == 1


def test_a_declared_group_is_replaced_by_the_centres(make_donor: Any, staff: Any) -> None:
    donor = make_donor("A", "pos", verified=False)
    services.donor_group_verify(actor=staff["centre"], donor=donor, abo="O", rhd="neg")
    donor.refresh_from_db()
    assert (donor.group_label, donor.group_source) == ("O-", "centre")


def test_a_residents_own_form_cannot_say_the_group_was_tested(city: Any, make_user: Any) -> None:
    given: dict[str, Any] = {
        "name": "王五",
        "phone": "13800000099",
        "community": city.community_a1,
        "details": services.DonorDetails("male", dt.date(1990, 1, 1), 70, "O", "neg"),
        "health_consent": True,
        "location_consent": False,
    }
    with pytest.raises(TypeError):
        services.SelfRegistration(**given, verified=True)  # type: ignore[call-arg]
    me = make_user(None, None)
    donor = services.donor_self_register(actor=me, form=services.SelfRegistration(**given))
    assert donor is not None
    assert (donor.group_label, donor.group_source, donor.user_id) == ("O-", "self", me.pk)


def _hub_knows(monkeypatch: pytest.MonkeyPatch, group: dict[str, Any] | None) -> list[Any]:
    """A module providing `verified_blood_group` (the data hub), met through core's registry."""
    asked: list[Any] = []

    def verified_blood_group(**kwargs: Any) -> dict[str, Any] | None:
        asked.append(kwargs)
        return group

    original = registry.provided
    monkeypatch.setattr(
        registry,
        "provided",
        lambda name: verified_blood_group if name == "verified_blood_group" else original(name),
    )
    return asked


def test_a_group_the_hub_holds_is_verified_and_never_overrides_the_centres(
    make_donor: Any, staff: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = _hub_knows(monkeypatch, {"abo": "O", "rhd": "neg", "source": "青山市卫健委"})
    donor = make_donor("A", "pos", identity_number=ID_A, verified=False)
    assert (donor.abo, donor.rhd, donor.group_source) == ("O", "neg", "hub")
    assert donor.get_group_source_display() == "数据中台（卫健）"
    assert asked == [{"actor": staff["centre"], "identity_number": ID_A, "purpose": "紧急用血"}]
    # a declared group again does not replace the hub's
    again = make_donor("B", "pos", identity_number=ID_A, verified=False)
    assert (again.pk, again.group_label, again.group_source) == (donor.pk, "O-", "hub")
    # the centre's test replaces it, and the hub no longer replaces the centre's
    make_donor("AB", "pos", identity_number=ID_A, verified=True)
    calls = len(asked)
    later = make_donor("B", "neg", identity_number=ID_A, verified=False)
    assert (later.group_label, later.group_source) == ("AB+", "centre")
    assert len(asked) == calls  # with the centre's group held, the hub is not read


def test_without_a_hub_group_the_declared_one_stays(
    make_donor: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = _hub_knows(monkeypatch, None)
    donor = make_donor("A", "pos", identity_number=ID_A, verified=False)
    assert (donor.group_label, donor.group_source) == ("A+", "self")
    assert len(asked) == 1
    make_donor("B", "pos", verified=False)  # no identity number: nothing to ask the hub
    assert len(asked) == 1


def test_no_health_data_without_the_health_consent(make_donor: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        make_donor(health_consent=False)
    assert "health_consent" in caught.value.errors
    assert Donor.objects.count() == 0


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"abo": "C"}, "abo"),
        ({"rhd": "weak"}, "rhd"),
        ({"weight": 8}, "weight_kg"),
        ({"age": -2}, "birth_date"),
        ({"identity_number": "110105194912310021"}, "identity_number"),
    ],
)
def test_impossible_registrations_are_refused_and_nothing_is_stored(
    make_donor: Any, values: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        make_donor(**values)
    assert field in caught.value.errors
    assert Donor.objects.count() == 0


@pytest.mark.parametrize(
    ("name", "phone", "field"),
    [("名" * 101, "13800000000", "name"), ("张三", "call me", "phone"), ("  ", "138", "name")],
)
def test_names_and_phones_that_cannot_be_stored_are_refused(
    city: Any, staff: Any, name: str, phone: str, field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        services.donor_register(
            actor=staff["centre"],
            registration=services.Registration(
                name=name,
                phone=phone,
                community=city.community_a1,
                details=services.DonorDetails("male", dt.date(1990, 1, 1), 70, "O", "pos"),
                health_consent=True,
                location_consent=False,
            ),
        )
    assert field in caught.value.errors
    assert Donor.objects.count() == 0


def test_withdrawing_consents_erases_what_they_covered(make_donor: Any, staff: Any) -> None:
    donor = make_donor()
    services.donation_record(
        actor=staff["centre"], donor=donor, kind="whole_blood", on=timezone.localdate()
    )
    services.donor_consent_withdraw(actor=staff["centre"], donor=donor, which="location")
    donor.refresh_from_db()
    assert (donor.cell, donor.cell_lat, donor.location_consent) == ("", None, False)
    services.donor_consent_withdraw(actor=staff["centre"], donor=donor, which="health")
    donor.refresh_from_db()
    assert (donor.abo, donor.birth_date, donor.weight_kg, donor.health_consent) == (
        "",
        None,
        None,
        False,
    )
    assert not donor.donations.exists()


def test_only_a_coarse_cell_is_kept_never_the_point(make_donor: Any) -> None:
    donor = make_donor(km=3.0)
    lat, lng = at_km(3.0)
    assert donor.cell and donor.search_cell and donor.region_cell
    assert (donor.cell_lat, donor.cell_lng) != (lat, lng)
    assert abs(donor.cell_lat - lat) < 0.01 and abs(donor.cell_lng - lng) < 0.01


def test_a_community_worker_cannot_manage_the_registry(make_donor: Any, staff: Any) -> None:
    donor = make_donor()
    with pytest.raises(PermissionDenied):
        services.donor_pause(actor=staff["worker"], donor=donor, until=None)


# Requests and waves ------------------------------------------------------------------------


def test_a_wave_calls_compatible_eligible_donors_best_first_by_emergency_sms(
    make_donor: Any, make_request: Any, django_capture_on_commit_callbacks: Any
) -> None:
    far_a = make_donor("A", "pos", km=4.0)
    near_o = make_donor("O", "pos", km=0.5)
    near_a = make_donor("A", "pos", km=0.5)
    declared_a = make_donor("A", "pos", km=0.5, verified=False)
    make_donor("B", "pos", km=0.2)  # never for an A patient's red cells
    neg_a = make_donor("A", "neg", km=0.2)  # kept for RhD-negative patients: last
    make_donor("AB", "pos", km=0.2)  # never
    request = make_request(units=1)
    with django_capture_on_commit_callbacks(execute=True):
        called = _wave(request)
    assert called == 5  # the first wave's size
    # Preference first (A+ before O+ before A-), then the distance band, then a tested group.
    assert _called(request) == [near_a.pk, declared_a.pk, far_a.pk, near_o.pk, neg_a.pk]
    dispatches = Dispatch.objects.filter(kind="donors.call_up")
    assert dispatches.count() == 5
    assert set(dispatches.values_list("priority", flat=True)) == {"emergency"}
    assert Delivery.objects.filter(channel="sms").count() == 5


def test_a_call_up_and_its_stand_down_reach_each_donor_by_the_channels_they_chose(
    make_donor: Any,
    make_request: Any,
    make_user: Any,
    city: Any,
    staff: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    accounts = {name: make_user(None, city.community_a1) for name in ("push", "both", "sms")}
    for n, user in enumerate(accounts.values()):
        PushSubscription.objects.create(
            user=user, endpoint=f"https://push.example.org/donor-{n}", p256dh="k", auth="a"
        )
    by_push = make_donor(km=0.3, user=accounts["push"], call_channels="push")
    by_both = make_donor(km=0.4, user=accounts["both"], call_channels="both")
    by_sms = make_donor(km=0.5, user=accounts["sms"], call_channels="sms")
    request = make_request(units=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert _wave(request) == 3

    def reached(donor: Any, kind: str) -> set[str]:
        sms = Delivery.objects.filter(
            channel="sms", address=donor.phone, notification__dispatch__kind=kind
        )
        push = Delivery.objects.filter(
            channel="push",
            notification__recipient=donor.user,
            notification__dispatch__kind=kind,
        )
        return {name for name, found in (("sms", sms), ("push", push)) if found.exists()}

    assert reached(by_push, "donors.call_up") == {"push"}
    assert reached(by_both, "donors.call_up") == {"sms", "push"}
    assert reached(by_sms, "donors.call_up") == {"sms"}
    with django_capture_on_commit_callbacks(execute=True):
        services.blood_request_cancel(actor=staff["hospital"], request=request)
    assert reached(by_push, "donors.stand_down") == {"push"}
    assert reached(by_both, "donors.stand_down") == {"sms", "push"}
    assert reached(by_sms, "donors.stand_down") == {"sms"}


def test_push_is_refused_for_a_donor_without_an_account_and_nothing_is_stored(
    make_donor: Any,
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        make_donor(call_channels="push")
    assert "call_channels" in refused.value.errors
    with pytest.raises(ValidationFailed) as refused:
        make_donor(call_channels="pigeon")
    assert "call_channels" in refused.value.errors
    assert not Donor.objects.exists()


def test_ineligible_paused_capped_and_unavailable_donors_are_not_called(
    make_donor: Any, make_request: Any, staff: Any
) -> None:
    centre = staff["centre"]
    ok = make_donor()
    recent = make_donor()
    services.donation_record(
        actor=centre, donor=recent, kind="whole_blood", on=timezone.localdate() - timedelta(days=30)
    )
    paused = make_donor()
    services.donor_pause(actor=centre, donor=paused, until=timezone.now() + timedelta(days=3))
    deferred = make_donor()
    services.deferral_add(
        actor=centre,
        donor=deferred,
        starts_on=timezone.localdate(),
        ends_on=timezone.localdate() + timedelta(days=10),
        reason="感冒",
    )
    make_donor(age=17)
    make_donor(age=56)  # a first-time donor past 55
    make_donor(sex="female", weight=44)
    make_donor(sex="male", weight=48)
    capped = make_donor()
    Donor.objects.filter(pk=capped.pk).update(
        month_key=timezone.localtime().strftime("%Y-%m"), month_call_ups=3
    )
    elsewhere = make_donor()
    now = timezone.localtime()
    other_day = (now.weekday() + 1) % 7
    services.donor_windows_set(
        actor=centre, donor=elsewhere, windows=[(other_day, dt.time(0, 0), dt.time(23, 59))]
    )
    request = make_request(units=1)
    _wave(request)
    assert _called(request) == [ok.pk]


def test_donors_beyond_the_wave_radius_wait_for_a_later_wave(
    make_donor: Any, make_request: Any
) -> None:
    near = make_donor(km=2)
    far = make_donor(km=20)
    request = make_request(units=2)
    _wave(request)
    assert _called(request) == [near.pk]
    assert _wave(request, minutes=5) == 0  # the next wave is not due yet
    _wave(request, minutes=30)  # wave 2: 10 km
    assert _called(request) == [near.pk]
    _wave(request, minutes=60)  # wave 3: 25 km
    assert _called(request) == [near.pk, far.pk]


def test_rhd_negative_patient_without_consent_calls_only_rhd_negative_donors_city_wide(
    make_donor: Any, make_request: Any
) -> None:
    make_donor("A", "pos", km=0.5)
    make_donor("O", "pos", km=0.5)
    neg_o = make_donor("O", "neg", km=60)  # beyond 50 km: RhD-negative requests search wide
    neg_a = make_donor("A", "neg", km=30)
    request = make_request(patient_rhd="neg")
    _wave(request)
    assert _called(request) == [neg_a.pk, neg_o.pk]


def test_the_emergency_exception_calls_rhd_positive_donors_after_every_negative(
    make_donor: Any, make_request: Any
) -> None:
    pos_a = make_donor("A", "pos", km=0.5)
    neg_o = make_donor("O", "neg", km=30)
    request = make_request(patient_rhd="neg", rhd_exception_consent=True, consent_note="同意书 17")
    _wave(request)
    assert _called(request) == [neg_o.pk, pos_a.pk]
    assert CallUp.objects.get(donor=pos_a).conditions == ["rhd_emergency_exception"]


def test_the_exception_is_refused_for_a_patient_with_anti_d(make_request: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        make_request(patient_rhd="neg", anti_d=True, rhd_exception_consent=True, consent_note="x")
    assert "rhd_exception_consent" in caught.value.errors
    assert BloodRequest.objects.count() == 0


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"patient_abo": "C"}, "patient_abo"),
        ({"patient_rhd": "+"}, "patient_rhd"),
        ({"component": "serum"}, "component"),
        ({"units": 0}, "units"),
        ({"latitude": 123.0}, "location"),
        ({"rhd_exception_consent": True}, "consent_note"),
        ({"address": "路" * 301}, "address"),
    ],
)
def test_impossible_requests_are_refused(make_request: Any, values: dict, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        make_request(**values)
    assert field in caught.value.errors
    assert BloodRequest.objects.count() == 0


def test_acceptances_stop_the_waves_and_donations_meet_the_request(
    make_donor: Any, make_request: Any, staff: Any, django_capture_on_commit_callbacks: Any
) -> None:
    donors = [make_donor(km=0.5 + i / 10) for i in range(4)]
    request = make_request(units=2)
    _wave(request)
    first, second, third, fourth = CallUp.objects.filter(request=request).order_by("pk")
    assert services.call_up_respond(call_up=first, accept=True)
    assert services.call_up_respond(call_up=second, accept=False)
    assert services.call_up_respond(call_up=third, accept=True)
    first.refresh_from_db()
    assert len(first.check_in_code) == 6
    request.refresh_from_db()
    assert request.next_wave_at is None and request.first_accepted_at is not None
    assert _wave(request, minutes=60) == 0
    hospital = staff["hospital"]
    services.call_up_mark(actor=hospital, call_up=first, state="arrived")
    services.call_up_mark(actor=hospital, call_up=first, state="donated")
    with django_capture_on_commit_callbacks(execute=True):
        services.call_up_mark(actor=hospital, call_up=third, state="donated")
    request.refresh_from_db()
    assert request.status == "met"
    fourth.refresh_from_db()
    assert fourth.state == CallUpState.STOOD_DOWN
    assert Dispatch.objects.filter(kind="donors.stand_down").count() == 1
    # The donation is on the donor's record: not callable for whole blood for six months.
    donors[0].refresh_from_db()
    assert donors[0].whole_blood_from is not None
    assert donors[0].whole_blood_from > timezone.localdate() + timedelta(days=150)
    # A late answer is thanked and changes nothing.
    assert services.call_up_respond(call_up=fourth, accept=True) is False
    fourth.refresh_from_db()
    assert fourth.state == CallUpState.STOOD_DOWN


def test_a_no_show_reopens_the_waves(make_donor: Any, make_request: Any, staff: Any) -> None:
    make_donor(km=0.5)
    request = make_request(units=1)
    _wave(request)
    call_up = CallUp.objects.get(request=request)
    services.call_up_respond(call_up=call_up, accept=True)
    request.refresh_from_db()
    assert request.next_wave_at is None
    services.call_up_mark(actor=staff["hospital"], call_up=call_up, state="no_show")
    request.refresh_from_db()
    assert request.next_wave_at is not None and request.status == "open"
    later = make_donor(km=0.7)
    _wave(request, minutes=1)
    assert _called(request)[-1] == later.pk


def test_when_everyone_declines_the_next_wave_is_due_at_once(
    make_donor: Any, make_request: Any
) -> None:
    make_donor(km=0.5)
    request = make_request(units=1)
    _wave(request)
    services.call_up_respond(call_up=CallUp.objects.get(request=request), accept=False)
    request.refresh_from_db()
    assert request.next_wave_at is not None and request.next_wave_at <= timezone.now()


def test_marks_follow_the_call_up_states(make_donor: Any, make_request: Any, staff: Any) -> None:
    make_donor()
    request = make_request()
    _wave(request)
    call_up = CallUp.objects.get(request=request)
    with pytest.raises(Conflict):
        services.call_up_mark(actor=staff["hospital"], call_up=call_up, state="arrived")
    with pytest.raises(ValidationFailed):
        services.call_up_mark(actor=staff["hospital"], call_up=call_up, state="called")
    with pytest.raises(PermissionDenied):
        services.call_up_mark(actor=staff["worker"], call_up=call_up, state="no_show")


def test_no_donor_is_called_more_than_the_monthly_cap(make_donor: Any, make_request: Any) -> None:
    donor = make_donor()
    for _ in range(3):
        request = make_request()
        _wave(request)
        assert _called(request) == [donor.pk]
        services.call_up_respond(call_up=CallUp.objects.get(request=request), accept=False)
    request = make_request()
    _wave(request)
    assert _called(request) == []


def test_two_requests_never_take_the_same_donor(make_donor: Any, make_request: Any) -> None:
    donors = [make_donor(km=0.5 + i / 10) for i in range(3)]
    first, second = make_request(units=1), make_request(units=1)
    _wave(first)
    _wave(second)
    assert set(_called(first)) == {d.pk for d in donors}
    assert _called(second) == []
    # And the database refuses it whatever a caller does.
    with pytest.raises(IntegrityError), transaction.atomic():
        CallUp.objects.create(request=second, donor=donors[0], wave=1, distance_km=0.5)


def test_a_donor_freed_by_a_decline_can_be_called_by_another_request(
    make_donor: Any, make_request: Any
) -> None:
    donor = make_donor()
    first, second = make_request(), make_request()
    _wave(first)
    services.call_up_respond(call_up=CallUp.objects.get(request=first), accept=False)
    _wave(second)
    assert _called(second) == [donor.pk]


def test_two_open_requests_share_donors_through_waves_declines_no_shows_and_closing(
    make_donor: Any, make_request: Any, staff: Any
) -> None:
    """Two requests open at once, their waves interleaved: a donor is never taken by both; one
    freed by a decline or a no-show may be called by the other; the first request met stands
    its other donors down, who are then free for the second."""
    donors = [make_donor(km=0.5 + i / 10) for i in range(4)]
    first, second = make_request(units=1), make_request(units=2)

    def check_no_donor_twice() -> None:
        active = list(
            CallUp.objects.filter(state__in=["called", "accepted", "arrived"]).values_list(
                "donor_id", flat=True
            )
        )
        assert len(active) == len(set(active))

    def call_up(request: BloodRequest, donor: Donor) -> CallUp:
        return CallUp.objects.get(request=request, donor=donor)

    _wave(first)
    _wave(second, minutes=1)
    check_no_donor_twice()
    assert set(_called(first)) == {d.pk for d in donors} and _called(second) == []
    # A decline frees a donor for the other request's next wave.
    services.call_up_respond(call_up=call_up(first, donors[1]), accept=False)
    _wave(second, minutes=11)
    check_no_donor_twice()
    assert _called(second) == [donors[1].pk]
    # An acceptance then a no-show: the donor is free again, and called by the other.
    services.call_up_respond(call_up=call_up(first, donors[0]), accept=True)
    services.call_up_mark(
        actor=staff["hospital"], call_up=call_up(first, donors[0]), state="no_show"
    )
    _wave(second, minutes=22)
    check_no_donor_twice()
    assert donors[0].pk in _called(second)
    # The first request is met by another donor: the rest are stood down and become free.
    services.call_up_respond(call_up=call_up(first, donors[2]), accept=True)
    for state in ("arrived", "donated"):
        services.call_up_mark(
            actor=staff["hospital"], call_up=call_up(first, donors[2]), state=state
        )
    first.refresh_from_db()
    assert first.status == "met"
    assert call_up(first, donors[3]).state == "stood_down"
    _wave(second, minutes=33)
    check_no_donor_twice()
    assert donors[3].pk in _called(second) and donors[2].pk not in _called(second)
    # A late answer to the closed request changes nothing.
    assert services.call_up_respond(call_up=call_up(first, donors[3]), accept=True) is False
    assert call_up(first, donors[3]).state == "stood_down"
