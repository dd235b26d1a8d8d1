"""The demo city's staff: the documented demo accounts, placed where each role can be tried, and
staff drawn for every district, subdistrict, community and department."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from random import Random

from civichub.core import services
from civichub.core.demo.names import draw_person
from civichub.core.demo.organisations import OrganisationPlan
from civichub.core.models import DepartmentFunction, Organisation, OrganisationKind, User


@dataclass(frozen=True)
class StaffPlan:
    username: str
    role: str
    organisation_code: str
    last_name: str
    first_name: str
    password: str | None = None  # only the documented demo logins can sign in


# (role, username, password, description zh, description en); where each sits is decided in
# `demo_placements` from the plan.
DEMO_ACCOUNTS: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "operator",
        "operator",
        "demo-operator-2026",
        "运维管理员：管理全市组织机构、账号和角色（不是超级用户）",
        "Operator: manages the city's organisations, accounts and roles (not a superuser)",
    ),
    (
        "auditor",
        "auditor",
        "demo-auditor-2026",
        "审计员：查看全市审计日志",
        "Auditor: reads the whole city's audit log",
    ),
    (
        "publisher",
        "publisher",
        "demo-publisher-2026",
        "发布员：向全市发布信息",
        "Publisher: publishes notices to the whole city",
    ),
    (
        "department_head",
        "head",
        "demo-head-2026",
        "部门负责人：第一个区的民政局",
        "Department head: the first district's civil affairs bureau",
    ),
    (
        "department_handler",
        "handler",
        "demo-handler-2026",
        "部门承办人：第一个区的民政局",
        "Department handler: the first district's civil affairs bureau",
    ),
    (
        "community_worker",
        "worker",
        "demo-worker-2026",
        "社区工作者：第一个社区的居民",
        "Community worker: residents of the first community",
    ),
    (
        "community_worker",
        "worker2",
        "demo-worker2-2026",
        "社区工作者：另一个区的社区（用于对比权限范围）",
        "Community worker in another district (to compare scopes)",
    ),
    (
        "registrar",
        "registrar",
        "demo-registrar-2026",
        "户籍登记员：第一个街道，可查看完整身份证号（留痕）",
        "Registrar: the first subdistrict; may reveal identity numbers (audited)",
    ),
    (
        "resident",
        "resident",
        "demo-resident-2026",
        "居民：第一个社区的一位居民本人账号",
        "Resident: a resident's own account, first community",
    ),
)


def demo_placements(organisations: Sequence[OrganisationPlan]) -> dict[str, str]:
    """Where each demo login sits: username -> organisation code."""
    city = organisations[0]
    districts = [o for o in organisations if o.kind == OrganisationKind.DISTRICT]
    first_district = districts[0]
    subdistrict = next(
        o
        for o in organisations
        if o.parent_code == first_district.code and o.kind == OrganisationKind.SUBDISTRICT
    )
    community = next(o for o in organisations if o.parent_code == subdistrict.code)
    civil_affairs = next(
        o
        for o in organisations
        if o.parent_code == first_district.code and o.function == DepartmentFunction.CIVIL_AFFAIRS
    )
    other_subdistrict = next(
        o
        for o in organisations
        if o.parent_code == districts[1].code and o.kind == OrganisationKind.SUBDISTRICT
    )
    other_community = next(o for o in organisations if o.parent_code == other_subdistrict.code)
    return {
        "operator": city.code,
        "auditor": city.code,
        "publisher": city.code,
        "head": civil_affairs.code,
        "handler": civil_affairs.code,
        "worker": community.code,
        "worker2": other_community.code,
        "registrar": subdistrict.code,
        "resident": community.code,
    }


def plan_staff(organisations: Sequence[OrganisationPlan], seed: int) -> tuple[StaffPlan, ...]:
    rng = Random(f"{seed}:staff")
    usernames = {username for _, username, *_ in DEMO_ACCOUNTS}
    placements = demo_placements(organisations)
    staff: list[StaffPlan] = []

    def person(
        role: str,
        organisation: OrganisationPlan,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        surname, given, surname_py, given_py = draw_person(rng, female=rng.random() < 0.5)
        if username is None:
            base = (surname_py + given_py).lower().replace("'", "")
            username, n = base, 1
            while username in usernames:
                n += 1
                username = f"{base}{n}"
            usernames.add(username)
        staff.append(
            StaffPlan(
                username=username,
                role=role,
                organisation_code=organisation.code,
                last_name=surname,
                first_name=given,
                password=password,
            )
        )

    by_code = {o.code: o for o in organisations}
    for role, username, password, _zh, _en in DEMO_ACCOUNTS:
        if role != "resident":
            person(role, by_code[placements[username]], username, password)
    for organisation in organisations:
        if organisation.kind == OrganisationKind.COMMUNITY:
            person("community_worker", organisation)
        elif organisation.kind == OrganisationKind.SUBDISTRICT:
            person("registrar", organisation)
        elif organisation.kind == OrganisationKind.DISTRICT:
            for role in ("operator", "auditor", "publisher"):
                person(role, organisation)
        elif organisation.kind == OrganisationKind.DEPARTMENT:
            person("department_head", organisation)
            person("department_handler", organisation)
            person("department_handler", organisation)
    return tuple(staff)


def staff_create(staff: Sequence[StaffPlan], organisations: dict[str, Organisation]) -> list[User]:
    """Creates the planned staff accounts, each with its role at its organisation."""
    users = []
    for member in staff:
        user = services.user_create(
            actor=None,
            username=member.username,
            password=member.password,
            first_name=member.first_name,
            last_name=member.last_name,
        )
        services.role_grant(
            actor=None,
            user=user,
            role=member.role,
            organisation=organisations[member.organisation_code],
        )
        users.append(user)
    return users
