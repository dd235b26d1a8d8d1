"""The demo's donors: volunteers in the demo city's communities through the services, with a
hospital login whose first request calls some of them."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.test import RequestFactory

from civichub.core import demo
from civichub.core.permissions import role_paths
from civichub.donors import demo as donors_demo
from civichub.donors import services
from civichub.donors.demo import demo_logins
from civichub.donors.models import CallUp, Donor

pytestmark = pytest.mark.django_db


def test_the_demo_seeds_donors_and_logins_that_can_call_them(
    django_db_blocker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from civichub.core.demo import hooks

    only_donors = [(c, m) for c, m in hooks.modules() if c.label == "donors"]
    monkeypatch.setattr(hooks, "modules", lambda: iter(only_donors))
    monkeypatch.setattr(donors_demo, "DONORS", 60)  # a few hundred in the real demo
    demo.seed_city(size="small", progress=False, seed=7)
    assert Donor.objects.count() == 60
    assert Donor.objects.filter(cell="").count() == 0
    request = RequestFactory().post("/accounts/login/")
    logins = demo_logins(seed=7)
    for login in logins:
        user = authenticate(request, username=login.username, password=login.password)
        assert user is not None, login.username
        assert [role for role, _path in role_paths(user)] == [login.role]
    hospital_user = authenticate(request, username="hospital", password=logins[0].password)
    hospital = hospital_user.role_assignments.get().organisation  # type: ignore[union-attr]
    donor = Donor.objects.filter(abo="O", rhd="pos", whole_blood_from__isnull=True).first()
    assert donor is not None
    created = services.blood_request_create(
        actor=hospital_user,  # type: ignore[arg-type]
        hospital=hospital,
        component="red_cells",
        units=1,
        patient_abo="O",
        patient_rhd="pos",
        anti_d=False,
        address="输血科",
        latitude=donor.cell_lat,  # type: ignore[arg-type]
        longitude=donor.cell_lng,  # type: ignore[arg-type]
        crs="wgs84",
    )
    assert services.call_up_wave(request_id=created.pk) > 0
    assert CallUp.objects.filter(request=created).exists()
