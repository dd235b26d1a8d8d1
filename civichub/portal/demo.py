"""The demo city's service catalogue, seeded through the services: each service is drafted,
sent for review and published, so the search index and version history are the real ones."""

from __future__ import annotations

from typing import Any

from civichub.core.config import module_config
from civichub.core.models import Organisation, OrganisationKind
from civichub.portal import services
from civichub.portal.conf import PortalSettings
from civichub.portal.demo_catalogue import DEPARTMENTS, FAQS, FORM, SERVICES, STEPS
from civichub.portal.models import Dataset, Frequency, Service


def _department(city: Organisation, function: str) -> Organisation | None:
    return (
        Organisation.objects.filter(
            kind=OrganisationKind.DEPARTMENT, function=function, path__startswith=city.path
        )
        .order_by("path")
        .first()
    )


def guide_content(row: list[Any], department: Organisation) -> dict[str, Any]:
    (
        function,
        _kind,
        name,
        _en,
        _events,
        legal,
        promised,
        visits,
        online,
        fee,
        materials,
        description,
        description_en,
    ) = row
    _letters, basis, basis_en = DEPARTMENTS[function]
    return {
        "description": description,
        "description_en": description_en,
        "legal_basis": basis,
        "legal_basis_en": basis_en,
        "conditions": f"符合{name}相关规定条件的申请人。",
        "conditions_en": "Applicants who meet the conditions set by the rules.",
        "location": f"{department.name}政务服务窗口（市民中心二楼）",
        "location_en": f"{department.name_en or department.name} counter, Civic Centre, 2nd floor",
        "hours": "工作日 9:00–12:00，13:30–17:00",
        "hours_en": "Working days 9:00–12:00, 13:30–17:00",
        "result": f"{name}办理结果（电子证照）",
        "result_en": "Decision with an electronic certificate",
        "audience": "person",
        "phone": "0990-12345",
        "complaint_phone": "12345",
        "legal_limit_days": legal,
        "promised_limit_days": promised,
        "fee": {
            "free": fee is None,
            "amount": fee[0] if fee else "",
            "amount_en": "",
            "basis": fee[1] if fee else "",
        },
        "visits": visits,
        "fully_online": online and visits == 0,
        "materials": [
            {"name": m[0], "name_en": m[1], "form": m[2], "count": m[3], "required": True}
            for m in materials
        ],
        "steps": [{"name": zh, "name_en": en} for zh, en in STEPS],
        "faqs": [{"q": q, "a": a, "q_en": qe, "a_en": ae} for q, a, qe, ae in FAQS.get(name, [])],
        "form": FORM if online else [],
    }


def service_codes() -> list[str]:
    """The code of each demo service, numbered within its department (e.g. 99010000MZ-GG-0008)."""
    division = module_config(PortalSettings).division_code
    counters: dict[str, int] = {}
    codes = []
    for row in SERVICES:
        letters = DEPARTMENTS[row[0]][0]
        counters[letters] = counters.get(letters, 0) + 1
        codes.append(f"{division}{letters}-{row[1]}-{counters[letters]:04d}")
    return codes


def publish_catalogue(city: Organisation, names: set[str] | None = None) -> int:
    """Publishes the demo services (those named, or all), skipping codes already there."""
    created = 0
    for code, row in zip(service_codes(), SERVICES, strict=True):
        function, kind, name, name_en, events = row[:5]
        if names is not None and name not in names:
            continue
        department = _department(city, function)
        if department is None or Service.objects.filter(code=code).exists():
            continue
        version = services.service_create(
            actor=None,
            code=code,
            kind=kind,
            department=department,
            name=name,
            name_en=name_en,
            content=guide_content(row, department),
            life_events=list(events),
            online_application=bool(row[8]),
        )
        services.version_submit(actor=None, version=version)
        services.version_publish(actor=None, version=version, note="演示数据")
        created += 1
    return created


# (slug, title, English title, description, English description, source, frequency)
DATASETS = (
    (
        "service-catalogue",
        "政务服务事项目录",
        "Government service catalogue",
        "全部已发布的政务服务事项：编码、名称、实施机关、是否网上申请、到现场次数、承诺时限。",
        "Every published service: code, name, authority, online application, visits, promised "
        "time limit.",
        "portal.services",
        Frequency.WEEKLY,
    ),
    (
        "online-applications",
        "网上申请件数统计",
        "Online applications",
        "按事项、月份和办理状态统计的网上申请件数，少于 10 件的不予公布。",
        "Online applications by service, month and status; counts below 10 are not published.",
        "portal.applications",
        Frequency.MONTHLY,
    ),
    (
        "population-by-community",
        "分社区人口登记人数",
        "Registered population by community",
        "数据中台人口登记按社区、年龄段和性别统计的人数，少于 10 人的不予公布。",
        "Persons in the data hub's registry by community, age band and gender; counts below 10 "
        "are not published.",
        "datahub.population",
        Frequency.QUARTERLY,
    ),
)


def seed_datasets(city: Organisation) -> int:
    """The demo's open datasets, published by the city's government office (idempotent)."""
    created = 0
    for slug, title, title_en, text, text_en, source, frequency in DATASETS:
        if Dataset.objects.filter(slug=slug).exists():
            continue
        dataset = services.dataset_save(
            actor=None,
            slug=slug,
            title=title,
            title_en=title_en,
            description=text,
            description_en=text_en,
            publisher=city,
            source=source,
            frequency=frequency,
            keywords=[title],
        )
        services.dataset_publish(actor=None, dataset=dataset)
        created += 1
    return created


def seed(*, city: Organisation, size: str) -> int:
    """Publishes the demo catalogue and open datasets (idempotent: existing ones are skipped)."""
    del size  # the catalogue is the same at every size
    return publish_catalogue(city) + seed_datasets(city)
