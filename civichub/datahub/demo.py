"""The demo city's data hub: the five departments' extracts drawn from the demo residents with
realistic mess (old 15-digit numbers, missing numbers, traditional characters, homophones,
romanised names, mistyped birth dates, addresses written another way), imported through the
services; the hub's staff, sharing agreements, and a few reads of the demo resident's record so
that "my data" has an access log to show."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from random import Random
from typing import Any

from openpyxl import Workbook

from civichub.core import crypto
from civichub.core import services as core_services
from civichub.core.demo import DEFAULT_SEED, DemoLogin, plan_city
from civichub.core.models import Organisation, OrganisationKind, Resident, User
from civichub.datahub import selectors, services
from civichub.datahub.models import ImportBatch, Person, Source
from civichub.datahub.synthetic import HOMOPHONES, messy_birth, messy_name

SIZES = {"small": 300, "medium": 2000, "large": 5000}
STAFF = (
    # role, username, password, department function, surname, given name, zh, en
    (
        "data_steward",
        "datasteward",
        "demo-steward-2026",
        "public_security",
        "孙",
        "立",
        "数据管理员：市公安局户籍数据源",
        "Data steward: the city police's household register",
    ),
    (
        "department_head",
        "healthhead",
        "demo-healthhead-2026",
        "health",
        "吴",
        "红",
        "卫健委负责人：批准健康数据共享协议",
        "Health commission head: approves health data sharing",
    ),
    (
        "family_doctor",
        "familydoctor",
        "demo-doctor-2026",
        "health",
        "刘",
        "洋",
        "家庭医生：查看签约居民的健康信息（留痕）",
        "Family doctor: reads residents' health data (audited)",
    ),
)
CARE, VISIT, BLOOD = "家庭医生签约服务", "入户走访", "紧急用血"
HOME_CARE = "居家养老关怀（本人同意）"
PREFILL = "网上办事预填（本人同意）"  # the purpose the resident portal's prefill reads with


def _department(city: Organisation, function: str) -> Organisation | None:
    return (
        Organisation.objects.filter(
            path__startswith=city.path, kind=OrganisationKind.DEPARTMENT, function=function
        )
        .order_by("depth", "pk")
        .first()
    )


def _csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def _xlsx(rows: list[dict[str, Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(rows[0]))
    for row in rows:
        sheet.append(list(row.values()))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _extracts(residents: list[Resident], rng: Random) -> dict[str, bytes]:
    police, health, civil = [], [], []
    for resident in residents:
        number = crypto.decrypt_identity(resident.identity_encrypted or b"")
        born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
        gender = "男" if int(number[16]) % 2 else "女"
        old = born.year < 1970 and rng.random() < 0.3
        police.append(
            {
                "rkbh": f"R{resident.pk:07d}",
                "xm": resident.name,
                "sfzh": number[:6] + number[8:17] if old else number,
                "csrq": born.isoformat(),
                "xb": gender,
                "hjdz": resident.address,
                "lxdh": resident.phone,
                "sqdm": resident.community.code,
                "hh": f"H{resident.pk // 3:06d}",
                "yhzgx": "户主",
                "djrq": "2012-03-01",
            }
        )
        clean = resident is residents[-1]  # the demo resident's own record links surely
        if clean or rng.random() < 0.6:
            health.append(
                {
                    "档案号": f"J{resident.pk:07d}",
                    "姓名": resident.name if clean else messy_name(resident.name, rng),
                    "身份证号": number if clean or rng.random() < 0.5 else "",
                    "出生日期": messy_birth(born, rng),
                    "性别": gender,
                    "住址": resident.address if rng.random() < 0.7 else "",
                    "电话": resident.phone,
                    "签约医生": "刘洋",
                    "慢病": rng.choice(("高血压", "糖尿病", "无", "无", "无")),
                    "血型": rng.choice(("A", "B", "AB", "O")),
                    "Rh血型": "阴性" if resident.pk % 300 == 0 else "阳性",
                    "末次接种": "2025-10-15",
                }
            )
        if born.year < 1961 or rng.random() < 0.05:
            civil.append(
                {
                    "record_id": f"M{resident.pk:07d}",
                    "name": messy_name(resident.name, rng),
                    "id_number": number if rng.random() < 0.4 else "",
                    "birth_date": messy_birth(born, rng),
                    "gender": gender,
                    "address": resident.address,
                    "dibao": rng.random() < 0.08,
                    "elderly_subsidy": "200" if born.year < 1946 else "",
                    "lives_alone": rng.random() < 0.25,
                }
            )
    health.append({**health[0], "档案号": "J9999999", "血型": "熊猫血"})  # one refused row
    health.extend(_uncertain(residents[:60])[:3])
    return {
        "public_security": _csv(police),
        "health": _xlsx(health),
        "civil_affairs": json.dumps(civil, ensure_ascii=False).encode(),
    }


def _uncertain(residents: list[Resident]) -> list[dict[str, Any]]:
    """Records a clinic typed from memory: a homophone surname, day and month swapped, no
    number, address or phone. Linkage cannot be sure: they wait for the review queue."""
    rows = []
    for resident in residents:
        number = crypto.decrypt_identity(resident.identity_encrypted or b"")
        month, day = int(number[10:12]), int(number[12:14])
        surname = HOMOPHONES.get(resident.name[0])
        if day > 12 or day == month or surname is None:
            continue
        rows.append(
            {
                "档案号": f"K{resident.pk:07d}",
                "姓名": surname + resident.name[1:],
                "身份证号": "",
                "出生日期": f"{number[6:10]}-{day:02d}-{month:02d}",
                "性别": "男" if int(number[16]) % 2 else "女",
                "住址": "",
                "电话": "",
                "签约医生": "刘洋",
                "慢病": "无",
                "血型": "O",
                "末次接种": "",
            }
        )
    return rows


def _staff(city: Organisation) -> dict[str, User]:
    users = {}
    for role, username, password, function, surname, given, _zh, _en in STAFF:
        department = _department(city, function)
        user = User.objects.filter(username=username).first()
        if user is None and department is not None:
            user = core_services.user_create(
                actor=None,
                username=username,
                password=password,
                last_name=surname,
                first_name=given,
                validate=False,
            )
            core_services.role_grant(actor=None, user=user, role=role, organisation=department)
        if user is not None:
            users[username] = user
    return users


def _agreements(city: Organisation, sources: dict[str, Source], head: User) -> None:
    health = sources["health"]
    police = sources["public_security"]
    start = dt.date(2025, 1, 1)
    services.agreement_create(
        actor=head,
        source=health,
        reader=health.department,
        role="family_doctor",
        area=city,
        attributes=["family_doctor", "chronic_condition", "blood_group", "last_vaccination"],
        purpose=CARE,
        legal_basis="基本医疗卫生与健康促进法；家庭医生签约服务协议",
        valid_from=start,
        scope="contracted",  # each doctor reads only the residents who signed with them
    )
    # sensitive data with no legal basis: only for the residents who consent on "my data"
    services.agreement_create(
        actor=head,
        source=health,
        reader=city,
        role="community_worker",
        area=city,
        attributes=["chronic_condition"],
        purpose=HOME_CARE,
        valid_from=start,
        legal_basis="",
        basis="consent",
        consent_text="我同意所在社区的社区工作者查看我的慢病管理信息，仅用于居家养老关怀走访；"
        "我可以随时在“我的数据”中撤回。",
        consent_version="2026-1",
    )
    services.agreement_create(
        actor=head,
        source=health,
        reader=health.department,
        role="department_head",
        area=city,
        attributes=["blood_group", "rh_factor"],
        purpose=BLOOD,
        legal_basis="献血法；临床紧急用血预案",
        valid_from=start,
    )
    police_head = User.objects.filter(
        role_assignments__role="department_head", role_assignments__organisation=police.department
    ).first()
    if police_head is not None:
        services.agreement_create(
            actor=police_head,
            source=police,
            reader=city,
            role="community_worker",
            area=city,
            attributes=["name", "address", "phone", "household_number"],
            purpose=VISIT,
            legal_basis="城市居民委员会组织法",
            valid_from=start,
        )
        # the resident portal's prefill: the resident's own values, with their consent
        services.agreement_create(
            actor=police_head,
            source=police,
            reader=city,
            role="community_worker",
            area=city,
            attributes=["name", "address", "phone"],
            purpose=PREFILL,
            legal_basis="个人信息保护法第十三条（本人同意）",
            valid_from=start,
        )


def seed(*, city: Organisation, size: str, seed: int = DEFAULT_SEED) -> None:
    sources = {s.key: s for s in services.source_sync(city=city)}
    if "public_security" not in sources or ImportBatch.objects.exists():
        return
    rng = Random(seed)
    residents = list(
        Resident.objects.filter(community__path__startswith=city.path, identity_hash__isnull=False)
        .select_related("community")
        .order_by("pk")[: SIZES.get(size, 300)]
    )
    own = User.objects.filter(username="resident").select_related("resident").first()
    if own is not None and own.resident is not None:
        # the demo resident's neighbours first, so their community worker has pairs to review
        neighbours = [r for r in residents if r.community_id == own.resident.community_id]
        rest = [r for r in residents if r.community_id != own.resident.community_id]
        residents = [r for r in neighbours if r.pk != own.resident_id] + rest + [own.resident]
    if not residents:
        return
    for key, content in _extracts(residents, rng).items():
        if key in sources:
            batch = services.import_start(
                actor=None, source=sources[key], content=content, file_name=f"{key}-demo"
            )
            services.import_run(batch_id=batch.pk)
    users = _staff(city)
    if "healthhead" in users and "health" in sources:
        _agreements(city, sources, users["healthhead"])
    _demo_reads(own, users)


def _demo_reads(own: User | None, users: dict[str, User]) -> None:
    if own is None or own.resident_id is None or "familydoctor" not in users:
        return
    person = Person.objects.filter(resident_id=own.resident_id).first()
    if person is None:
        return
    selectors.person_attributes(
        actor=users["familydoctor"], person=person, names=None, purpose=CARE
    )
    worker = User.objects.filter(username="worker").first()
    if worker is not None:
        selectors.person_attributes(actor=worker, person=person, names=["address"], purpose=VISIT)


def demo_logins(*, seed: int = DEFAULT_SEED) -> list[DemoLogin]:
    """The data hub's demo logins, shown with core's in `civichub demo`."""
    organisations = plan_city(size="small", seed=seed).organisations
    logins = []
    for role, username, password, function, _s, _g, zh, en in STAFF:
        where = next(
            (
                o
                for o in organisations
                if o.kind == OrganisationKind.DEPARTMENT and o.function == function
            ),
            organisations[0],
        )
        logins.append(
            DemoLogin(
                role=role,
                username=username,
                password=password,
                description_zh=zh,
                description_en=en,
                organisation_code=where.code,
                organisation_name=where.name,
                organisation_name_en=where.name_en,
            )
        )
    return logins
