"""The donors tests' city: a hospital, its staff, the blood centre and a helper that registers
donors at a distance from the hospital through the service."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from itertools import count
from typing import Any

import pytest
from django.utils import timezone

from civichub.core.models import Organisation
from civichub.donors import services
from civichub.donors.models import Donor
from civichub.testing.city import hospital_create

HOSPITAL_LAT, HOSPITAL_LNG = 30.6600, 104.0600
_phones = count(1)


@pytest.fixture
def hospital(city: Any) -> Organisation:
    return hospital_create(city.district_a)


@pytest.fixture
def staff(hospital: Organisation, city: Any, make_user: Any) -> dict[str, Any]:
    return {
        "hospital": make_user("hospital_staff", hospital),
        "centre": make_user("blood_centre", city.city),
        "worker": make_user("community_worker", city.community_a1),
    }


def at_km(east_km: float, north_km: float = 0.0) -> tuple[float, float]:
    """A WGS-84 point `east_km` east and `north_km` north of the hospital."""
    lat = HOSPITAL_LAT + north_km / 111.195
    lng = HOSPITAL_LNG + east_km / (111.195 * math.cos(math.radians(HOSPITAL_LAT)))
    return lat, lng


@pytest.fixture
def make_donor(city: Any, staff: dict[str, Any]) -> Callable[..., Donor]:
    def make(
        abo: str = "A",
        rhd: str = "pos",
        km: float = 1.0,
        *,
        sex: str = "male",
        age: int = 30,
        weight: float = 65,
        verified: bool = True,
        community: Organisation | None = None,
        **extra: Any,
    ) -> Donor:
        lat, lng = at_km(km)
        today = timezone.localdate()
        # Keywords of the registration itself go into it; the others (user, language,
        # channels) are donor_register's own.
        own = {k: extra.pop(k) for k in ("user", "language", "call_channels") if k in extra}
        registration = services.Registration(
            name="献血者",
            phone=extra.pop("phone", None) or f"1380000{next(_phones):04d}",
            community=community or city.community_a1,
            details=services.DonorDetails(
                sex=sex,
                birth_date=today.replace(year=today.year - age) - dt.timedelta(days=30),
                weight_kg=weight,
                abo=abo,
                rhd=rhd,
            ),
            latitude=lat,
            longitude=lng,
            crs="wgs84",
            verified=verified,
            **{"health_consent": True, "location_consent": True, **extra},
        )
        return services.donor_register(actor=staff["centre"], registration=registration, **own)

    return make


@pytest.fixture
def make_request(hospital: Organisation, staff: dict[str, Any]) -> Callable[..., Any]:
    def make(**values: Any) -> Any:
        defaults: dict[str, Any] = {
            "component": "red_cells",
            "units": 1,
            "patient_abo": "A",
            "patient_rhd": "pos",
            "anti_d": False,
            "address": "东湖区人民医院输血科，健康路 1 号",
            "latitude": HOSPITAL_LAT,
            "longitude": HOSPITAL_LNG,
            "crs": "wgs84",
        }
        defaults.update(values)
        return services.blood_request_create(actor=staff["hospital"], hospital=hospital, **defaults)

    return make
