"""A small city built through the services, and staff users in it, for tests and benchmarks."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count

from civichub.core import services
from civichub.core.models import Organisation, User

_seq = count(1)


@dataclass
class SmallCity:
    city: Organisation
    district_a: Organisation
    district_b: Organisation
    subdistrict_a: Organisation
    subdistrict_b: Organisation
    community_a1: Organisation
    community_a2: Organisation
    community_b1: Organisation
    health_a: Organisation
    police_city: Organisation
    all: dict[str, Organisation] = field(default_factory=dict)


def build_city() -> SmallCity:
    create = services.organisation_create
    city = create(actor=None, kind="city", name="青山市", name_en="Qingshan", code="T1")
    da = create(
        actor=None, kind="district", name="东湖区", name_en="Donghu", code="T1.1", parent=city
    )
    db = create(
        actor=None, kind="district", name="西岭区", name_en="Xiling", code="T1.2", parent=city
    )
    sa = create(
        actor=None, kind="subdistrict", name="桃园街道", name_en="Taoyuan", code="T1.1.1", parent=da
    )
    sb = create(
        actor=None, kind="subdistrict", name="松林街道", name_en="Songlin", code="T1.2.1", parent=db
    )
    ca1 = create(
        actor=None,
        kind="community",
        name="桃源社区",
        name_en="Taoyuan Community",
        code="T1.1.1.1",
        parent=sa,
    )
    ca2 = create(
        actor=None,
        kind="community",
        name="杏花社区",
        name_en="Xinghua Community",
        code="T1.1.1.2",
        parent=sa,
    )
    cb1 = create(
        actor=None,
        kind="community",
        name="松风社区",
        name_en="Songfeng Community",
        code="T1.2.1.1",
        parent=sb,
    )
    health = create(
        actor=None,
        kind="department",
        name="东湖区卫生健康委员会",
        name_en="Donghu Health Commission",
        code="T1.1.D1",
        parent=da,
        function="health",
    )
    police = create(
        actor=None,
        kind="department",
        name="青山市公安局",
        name_en="Qingshan Public Security Bureau",
        code="T1.D1",
        parent=city,
        function="public_security",
    )
    result = SmallCity(city, da, db, sa, sb, ca1, ca2, cb1, health, police)
    result.all = {o.code: o for o in (city, da, db, sa, sb, ca1, ca2, cb1, health, police)}
    return result


def staff_user(
    role: str | None,
    organisation: Organisation | None,
    *,
    username: str | None = None,
    password: str = "correct horse battery 9",
    **extra: object,
) -> User:
    user = services.user_create(
        actor=None,
        username=username or f"user{next(_seq)}",
        password=password,
        validate=False,
        **extra,  # type: ignore[arg-type]
    )
    if role and organisation is not None:
        services.role_grant(actor=None, user=user, role=role, organisation=organisation)
    return user


def hospital_create(district: Organisation) -> Organisation:
    """The district's hospital (the donors tests' and browser tests' own)."""
    return services.organisation_create(
        actor=None,
        kind="department",
        name="东湖区人民医院",
        name_en="Donghu People's Hospital",
        code="T1.1.H1",
        parent=district,
        function="hospital",
    )
