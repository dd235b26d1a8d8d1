"""Demo data for the donors module: a few hundred volunteers spread over the demo city's
communities with China's group frequencies (RhD-negative raised so the demo has some), part of
them verified by the blood centre, some with donation history; a hospital account and a blood
centre account. Registered through the services; nothing here is real."""

from __future__ import annotations

import datetime as dt
from random import Random
from typing import Any

from django.utils import timezone

from civichub.core import services as core_services
from civichub.core.demo import DEFAULT_SEED, DemoLogin, plan_city
from civichub.core.models import DepartmentFunction, Organisation, OrganisationKind, User
from civichub.donors import services

DONORS = 300
HOSPITAL_USERNAME = "hospital"
HOSPITAL_PASSWORD = "demo-hospital-2026"  # noqa: S105  (a documented demo login)
CENTRE_USERNAME = "bloodcentre"
CENTRE_PASSWORD = "demo-bloodcentre-2026"  # noqa: S105  (a documented demo login)
# China's ABO frequencies (O 30 %, A 28 %, B 31 %, AB 11 %).
ABO_GROUPS = ("O", "A", "B", "AB")
ABO_WEIGHTS = (30, 28, 31, 11)


def _hospital_plan(size: str, seed: int) -> Any:
    """The demo city's first hospital in the plan (the hospital account's place)."""
    hospitals = [
        o
        for o in plan_city(size=size, seed=seed).organisations
        if o.function == DepartmentFunction.HOSPITAL
    ]
    return min(hospitals, key=lambda o: (len(o.code), o.code)) if hospitals else None


def _account(username: str, password: str, role: str, where: Organisation, names: tuple) -> User:
    existing = User.objects.filter(username=username).first()
    if existing is not None:
        return existing
    user = core_services.user_create(
        actor=None,
        username=username,
        password=password,
        last_name=names[0],
        first_name=names[1],
        validate=False,
    )
    core_services.role_grant(actor=None, user=user, role=role, organisation=where)
    return user


def seed(*, city: Organisation, size: str, seed: int = DEFAULT_SEED) -> None:
    planned = _hospital_plan(size, seed)
    hospital = (
        Organisation.objects.filter(code=planned.code, path__startswith=city.path).first()
        if planned is not None
        else None
    )
    if hospital is not None:
        _account(HOSPITAL_USERNAME, HOSPITAL_PASSWORD, "hospital_staff", hospital, ("林", "医生"))
    _account(CENTRE_USERNAME, CENTRE_PASSWORD, "blood_centre", city, ("陈", "站长"))
    plan = plan_city(size=size, seed=seed)
    places = [
        (item.code, item.area.latitude, item.area.longitude)
        for item in plan.organisations
        if item.kind == OrganisationKind.COMMUNITY and item.area is not None
    ]
    communities = {
        o.code: o
        for o in Organisation.objects.filter(
            kind=OrganisationKind.COMMUNITY, path__startswith=city.path
        )
    }
    places = [p for p in places if p[0] in communities]
    if not places:
        return
    rng = Random(seed + 13)
    today = timezone.localdate()
    for index in range(DONORS):
        code, lat, lng = rng.choice(places)
        sex = rng.choice(("male", "female"))
        donor = services.donor_register(
            actor=None,
            registration=services.Registration(
                name=f"志愿者{index + 1:03d}",
                phone=f"139{index:08d}",
                community=communities[code],
                details=services.DonorDetails(
                    sex=sex,
                    birth_date=today - dt.timedelta(days=rng.randint(19 * 365, 54 * 365)),
                    weight_kg=float(rng.randint(48 if sex == "male" else 44, 90)),
                    abo=rng.choices(ABO_GROUPS, ABO_WEIGHTS)[0],
                    rhd="neg" if rng.random() < 0.05 else "pos",
                ),
                health_consent=True,
                location_consent=True,
                latitude=lat + rng.uniform(-0.01, 0.01),
                longitude=lng + rng.uniform(-0.01, 0.01),
                crs="gcj02",
                verified=rng.random() < 0.6,
            ),
        )
        if rng.random() < 0.3:
            services.donation_record(
                actor=None,
                donor=donor,
                kind="whole_blood",
                on=today - dt.timedelta(days=rng.randint(10, 400)),
            )


def demo_logins(*, seed: int = DEFAULT_SEED) -> list[DemoLogin]:
    """The donors demo logins, shown with core's in `civichub demo`."""
    city = plan_city(size="small", seed=seed).organisations[0]
    hospital = _hospital_plan("small", seed) or city
    return [
        DemoLogin(
            role="hospital_staff",
            username=HOSPITAL_USERNAME,
            password=HOSPITAL_PASSWORD,
            description_zh="医院输血科：发起紧急用血召集、登记到达和献血",
            description_en="Hospital transfusion staff: raise emergency requests, record arrivals",
            organisation_code=hospital.code,
            organisation_name=hospital.name,
            organisation_name_en=hospital.name_en,
        ),
        DemoLogin(
            role="blood_centre",
            username=CENTRE_USERNAME,
            password=CENTRE_PASSWORD,
            description_zh="血站：管理献血志愿者名册，查看全部召集",
            description_en="Blood centre: keeps the donor registry, follows every request",
            organisation_code=city.code,
            organisation_name=city.name,
            organisation_name_en=city.name_en,
        ),
    ]
