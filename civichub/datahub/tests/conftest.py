"""A small city with the five departments registered as sources, and the people who use the
hub: a data steward of the public security bureau, the health commission's head, a family
doctor, a community worker, an auditor, and a resident with an account."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from openpyxl import Workbook

from civichub.core import services as core_services
from civichub.core.identity import check_digit
from civichub.core.models import Organisation, Resident, User
from civichub.datahub import services
from civichub.datahub.models import Agreement, ImportBatch, Source
from civichub.testing.city import SmallCity, staff_user


def identity(first17: str) -> str:
    return first17 + check_digit(first17)


# Identity numbers with valid check digits (GB 11643), made for the tests.
ZHANG_WEI = identity("11010119800101123")
LI_NA = identity("11010119920315432")


@dataclass
class Hub:
    city: SmallCity
    civil_affairs: Organisation
    education: Organisation
    tourism: Organisation
    sources: dict[str, Source]
    steward: User
    health_steward: User
    health_head: User
    doctor: User
    worker: User
    auditor: User
    resident: Resident
    resident_user: User


@pytest.fixture(autouse=True)
def _immediate_tasks(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture
def hub(city: SmallCity) -> Hub:
    create = core_services.organisation_create
    civil = create(
        actor=None,
        kind="department",
        name="青山市民政局",
        code="T1.D2",
        parent=city.city,
        function="civil_affairs",
    )
    education = create(
        actor=None,
        kind="department",
        name="青山市教育局",
        code="T1.D3",
        parent=city.city,
        function="education",
    )
    tourism = create(
        actor=None,
        kind="department",
        name="青山市文旅局",
        code="T1.D4",
        parent=city.city,
        function="tourism",
    )
    sources = {s.key: s for s in services.source_sync(city=city.city)}
    resident = core_services.resident_create(
        actor=None, name="张伟", community=city.community_a1, identity_number=ZHANG_WEI
    )
    resident_user = staff_user(None, None, username="zhangwei")
    resident_user.resident = resident
    resident_user.save(update_fields=["resident"])
    return Hub(
        city=city,
        civil_affairs=civil,
        education=education,
        tourism=tourism,
        sources=sources,
        steward=staff_user("data_steward", city.police_city, username="steward"),
        health_steward=staff_user("data_steward", city.health_a, username="hsteward"),
        health_head=staff_user("department_head", city.health_a, username="hhead"),
        doctor=staff_user(
            "family_doctor", city.health_a, username="doctor", last_name="刘", first_name="医生"
        ),
        worker=staff_user("community_worker", city.community_a1, username="worker"),
        auditor=staff_user("auditor", city.city, username="auditor"),
        resident=resident,
        resident_user=resident_user,
    )


def department_head(hub: Hub, source_key: str) -> User:
    """The head of the department that provides a source: the one who approves its
    agreements (made once per test)."""
    if source_key == "health":
        return hub.health_head
    username = f"head-{source_key}"
    found = User.objects.filter(username=username).first()
    return found or staff_user(
        "department_head", hub.sources[source_key].department, username=username
    )


def agreement_make(hub: Hub, *, source: str = "health", **overrides: Any) -> Agreement:
    """A sharing agreement through `services.agreement_create`, approved by the source's
    department head: by default the family doctors of the health commission reading blood
    groups of the whole city for their care, on a law, from 2025. A test overrides what it is
    about (`attributes=`, `purpose=`, `reader=`, `scope=`, `basis=`, …)."""
    fields: dict[str, Any] = {
        "actor": department_head(hub, source),
        "source": hub.sources[source],
        "reader": hub.city.health_a,
        "role": "family_doctor",
        "area": hub.city.city,
        "attributes": ["blood_group"],
        "purpose": "家庭医生签约服务",
        "legal_basis": "基本医疗卫生与健康促进法第三十一条",
        "valid_from": dt.date(2025, 1, 1),
    }
    fields.update(overrides)
    return services.agreement_create(**fields)


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    lines = [",".join(header)] + [",".join(r) for r in rows]
    return ("\n".join(lines) + "\n").encode()


def xlsx_bytes(header: list[str], rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


POLICE_HEADER = ["rkbh", "xm", "sfzh", "csrq", "xb", "hjdz", "lxdh", "sqdm", "hh", "yhzgx", "djrq"]


def police_row(rid: str, name: str, number: str, born: str, gender: str, **extra: str) -> list[str]:
    row = {
        "rkbh": rid,
        "xm": name,
        "sfzh": number,
        "csrq": born,
        "xb": gender,
        "hjdz": extra.get("address", "桃园街道幸福路12号3单元501室"),
        "lxdh": extra.get("phone", ""),
        "sqdm": extra.get("community", "T1.1.1.1"),
        "hh": extra.get("household", "H001"),
        "yhzgx": extra.get("relation", "户主"),
        "djrq": extra.get("registered", "2010-05-01"),
    }
    return [row[h] for h in POLICE_HEADER]


@pytest.fixture
def police_import(hub: Hub, django_capture_on_commit_callbacks: Any) -> Callable[..., ImportBatch]:
    def run(rows: list[list[str]], *, actor: User | None = None) -> ImportBatch:
        with django_capture_on_commit_callbacks(execute=True):
            batch = services.import_start(
                actor=actor or hub.steward,
                source=hub.sources["public_security"],
                content=csv_bytes(POLICE_HEADER, rows),
                file_name="hukou.csv",
            )
        batch.refresh_from_db()
        return batch

    return run


HEALTH_HEADER = [
    "档案号",
    "姓名",
    "身份证号",
    "出生日期",
    "性别",
    "住址",
    "电话",
    "签约医生",
    "慢病",
    "血型",
    "末次接种",
]


@pytest.fixture
def health_import(hub: Hub, django_capture_on_commit_callbacks: Any) -> Callable[..., ImportBatch]:
    def run(rows: list[list[Any]], header: list[str] | None = None) -> ImportBatch:
        with django_capture_on_commit_callbacks(execute=True):
            batch = services.import_start(
                actor=hub.health_steward,
                source=hub.sources["health"],
                content=xlsx_bytes(header or HEALTH_HEADER, rows),
                file_name="qianyue.xlsx",
            )
        batch.refresh_from_db()
        return batch

    return run


TODAY = dt.date(2026, 1, 1)


def population_deliver(hub: Hub, pop: Any, capture: Any) -> None:
    """A generated population's three extracts imported as their departments deliver them:
    the household register as CSV, health as Excel, civil affairs as JSON."""
    deliveries = [
        (
            hub.steward,
            "public_security",
            csv_bytes(POLICE_HEADER, [[r[h] for h in POLICE_HEADER] for r in pop.police]),
        ),
        (
            hub.health_steward,
            "health",
            xlsx_bytes(HEALTH_HEADER, [[r[h] for h in HEALTH_HEADER] for r in pop.health]),
        ),
        (None, "civil_affairs", json.dumps(pop.civil, ensure_ascii=False).encode()),
    ]
    for actor, key, content in deliveries:
        with capture(execute=True):
            services.import_start(actor=actor, source=hub.sources[key], content=content)
