"""The portal's test world: the small test city with the five departments the demo catalogue
needs, the catalogue published through the services, and a resident with an account."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from civichub.core import services as core_services
from civichub.core.models import Organisation, Resident, User
from civichub.portal import demo
from civichub.testing.city import SmallCity, staff_user


@dataclass
class Portal:
    city: SmallCity
    departments: dict[str, Organisation]
    resident: Resident
    applicant: User


def add_departments(city: SmallCity) -> dict[str, Organisation]:
    departments = {"public_security": city.police_city, "health": city.health_a}
    for n, (function, name) in enumerate(
        [
            ("civil_affairs", "青山市民政局"),
            ("education", "青山市教育局"),
            ("housing", "青山市住房和城乡建设局"),
        ],
        start=2,
    ):
        departments[function] = core_services.organisation_create(
            actor=None,
            kind="department",
            name=name,
            name_en=name,
            code=f"T1.D{n}",
            parent=city.city,
            function=function,
        )
    return departments


# A few services for the application tests; the search tests publish the whole catalogue.
FEW = {
    "社会保障卡申领",
    "最低生活保障申请",
    "户籍证明开具",
    "居住证申领",
    "内地居民婚姻登记（结婚登记）",
}


@pytest.fixture
def portal(city: SmallCity) -> Portal:
    departments = add_departments(city)
    demo.publish_catalogue(city.city, FEW)
    resident = core_services.resident_create(
        actor=None,
        name="王小梅",
        phone="13800000001",
        address="桃源社区 3 栋 201",
        community=city.community_a1,
        identity_number="11010519491231002X",
    )
    applicant = staff_user(None, None, username="wangxm", resident=resident)
    return Portal(city, departments, resident, applicant)


@pytest.fixture
def catalogue(portal: Portal) -> Portal:
    """The whole demo catalogue (about sixty services)."""
    demo.seed(city=portal.city.city, size="small")
    return portal


@pytest.fixture
def handler(portal: Portal) -> Any:
    return staff_user("department_handler", portal.departments["civil_affairs"])


@pytest.fixture
def head(portal: Portal) -> Any:
    return staff_user("department_head", portal.departments["civil_affairs"])


@pytest.fixture(autouse=True)
def certificate_key_dir(settings: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The certificate signing key in a directory of the test run, not the data directory."""
    settings.DATA_DIR = tmp_path_factory.getbasetemp() / "portal-data"
