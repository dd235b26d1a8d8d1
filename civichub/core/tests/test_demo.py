"""The demo city: a deterministic plan, written through the services, with a login per role."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import RequestFactory

from civichub.core import crypto, demo, geo, services
from civichub.core.apps import STAFF_ROLES
from civichub.core.demo import hooks as demo_hooks
from civichub.core.demo import resident_import
from civichub.core.errors import Conflict
from civichub.core.identity import birth_year, identity_number_error
from civichub.core.models import (
    AuditEvent,
    DepartmentFunction,
    Organisation,
    OrganisationKind,
    Resident,
    User,
)
from civichub.core.permissions import role_paths
from civichub.core.registry import ModuleManifest

SEED = 7


@pytest.fixture
def core_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Core's demo data alone: each module tests its own."""
    monkeypatch.setattr(demo_hooks, "modules", lambda: iter(()))


@pytest.fixture(scope="class")
def seeded(django_db_setup: Any, django_db_blocker: Any) -> Iterator[demo.SeedSummary]:
    """One small city for the tests that only read it: seeded once, core's data alone, inside a
    transaction rolled back at the end; each test's own transaction nests inside it."""
    with django_db_blocker.unblock(), pytest.MonkeyPatch.context() as patch:
        patch.setattr(demo_hooks, "modules", lambda: iter(()))
        with transaction.atomic():
            yield demo.seed_city(size="small", progress=False, seed=SEED)
            transaction.set_rollback(True)


# The plan: pure and deterministic ------------------------------------------------------------


def test_the_same_seed_plans_the_same_city() -> None:
    first, second = demo.plan_city(seed=SEED), demo.plan_city(seed=SEED)
    assert first == second
    community = first.of_kind(OrganisationKind.COMMUNITY)[0].code
    assert demo.plan_residents(first, community) == demo.plan_residents(second, community)
    assert demo.demo_logins(seed=SEED) == demo.demo_logins(seed=SEED)


def test_another_seed_plans_another_city_with_the_same_codes_and_logins() -> None:
    first, other = demo.plan_city(seed=SEED), demo.plan_city(seed=SEED + 1)
    assert [o.name for o in first.organisations] != [o.name for o in other.organisations]
    community = first.of_kind(OrganisationKind.COMMUNITY)[0].code
    first_names = [r.name for r in demo.plan_residents(first, community)]
    assert first_names != [r.name for r in demo.plan_residents(other, community)]
    logins = [(x.role, x.username, x.password) for x in demo.demo_logins(seed=SEED)]
    assert logins == [(x.role, x.username, x.password) for x in demo.demo_logins(seed=SEED + 1)]


def test_the_small_city_is_a_corner_of_the_full_city() -> None:
    small, city = demo.plan_city(size="small"), demo.plan_city(size="city")
    full = {o.code: o for o in city.organisations}
    assert all(full[o.code] == o for o in small.organisations)
    assert 200 <= small.resident_total < 1000
    assert city.resident_total >= 500_000


def test_planned_identity_numbers_are_valid_and_unique_across_a_district() -> None:
    plan = demo.plan_city(seed=SEED)
    numbers = [
        r.identity_number
        for c in plan.of_kind(OrganisationKind.COMMUNITY)
        for r in demo.plan_residents(plan, c.code)
    ]
    assert len(set(numbers)) == len(numbers) == plan.resident_total
    assert [n for n in numbers if identity_number_error(n)] == []
    # Province 99 is unassigned, so no generated number can be a real person's.
    assert {n[:2] for n in numbers} == {"99"}


def test_romanisation_separates_syllables_with_an_apostrophe() -> None:
    assert demo.romanise(["xi", "an"]) == "Xi'an"
    assert demo.romanise(["qing", "shan"]) == "Qingshan"


# The seeded database -------------------------------------------------------------------------


@pytest.mark.django_db
class TestTheSeededSmallCity:
    def test_seeding_writes_the_planned_tree(self, seeded: demo.SeedSummary) -> None:
        plan = demo.plan_city(seed=SEED)
        stored = {o.code: o for o in Organisation.objects.select_related("parent")}
        assert {c: (o.kind, o.name, o.name_en) for c, o in stored.items()} == {
            o.code: (o.kind, o.name, o.name_en) for o in plan.organisations
        }
        (city,) = [o for o in stored.values() if o.parent is None]
        assert city.kind == OrganisationKind.CITY
        for organisation in stored.values():
            if organisation.parent is not None:
                assert organisation.path == f"{organisation.parent.path}{organisation.pk}/"
                if organisation.kind != OrganisationKind.DEPARTMENT:
                    # Administrative codes: a city's trailing "00" is not part of its prefix.
                    assert organisation.code.startswith(organisation.parent.code.removesuffix("00"))
                    assert len(organisation.code) == {"district": 6, "subdistrict": 9}.get(
                        organisation.kind, 12
                    )
        districts = Organisation.objects.filter(parent=city, kind=OrganisationKind.DISTRICT)
        assert districts.count() == 2
        for district in districts:
            subdistricts = district.children.filter(kind=OrganisationKind.SUBDISTRICT)
            assert subdistricts.count() == 2
            for subdistrict in subdistricts:
                assert subdistrict.children.filter(kind=OrganisationKind.COMMUNITY).count() == 2
            assert district.children.filter(kind=OrganisationKind.DEPARTMENT).count() >= 8
        city_functions = set(
            city.children.filter(kind=OrganisationKind.DEPARTMENT).values_list(
                "function", flat=True
            )
        )
        assert city_functions == set(DepartmentFunction.values) - {DepartmentFunction.HOSPITAL}
        hospitals = Organisation.objects.filter(function=DepartmentFunction.HOSPITAL)
        assert hospitals.count() == 4 + 2
        assert {h.parent.function for h in hospitals if h.parent} == {DepartmentFunction.HEALTH}
        assert seeded.organisations == len(stored)

    def test_every_demo_login_signs_in_and_holds_its_role(self, seeded: demo.SeedSummary) -> None:
        logins = demo.demo_logins(seed=SEED)
        assert {x.role for x in logins} == STAFF_ROLES | {"resident"}
        request = RequestFactory().post("/accounts/login/")
        for login in logins:
            user = authenticate(request, username=login.username, password=login.password)
            assert isinstance(user, User), login.username
            assert not user.is_superuser and not user.is_staff
            if login.role == "resident":
                assert user.resident is not None
                assert user.resident.community.code == login.organisation_code
                assert role_paths(user) == []
            else:
                where = Organisation.objects.get(code=login.organisation_code)
                assert role_paths(user) == [(login.role, where.path)]

    def test_every_role_has_staff_and_only_demo_logins_can_sign_in(
        self, seeded: demo.SeedSummary
    ) -> None:
        demo_usernames = {x.username for x in demo.demo_logins(seed=SEED)}
        staff = User.objects.filter(role_assignments__isnull=False).distinct()
        held = set(staff.values_list("role_assignments__role", flat=True))
        assert held == STAFF_ROLES
        for user in User.objects.all():
            assert user.has_usable_password() == (user.username in demo_usernames), user.username
        for community in Organisation.objects.filter(kind=OrganisationKind.COMMUNITY):
            workers = community.role_assignments.filter(role="community_worker")
            assert workers.exists(), community.code

    def test_every_community_has_residents_with_valid_encrypted_identity_numbers(
        self,
        seeded: demo.SeedSummary,
    ) -> None:
        plan = demo.plan_city(seed=SEED)
        communities = Organisation.objects.filter(kind=OrganisationKind.COMMUNITY)
        assert communities.count() == 8
        for community in communities:
            area = plan.by_code[community.code].area
            assert area is not None
            residents = list(community.residents.all())
            assert len(residents) == plan.resident_counts[community.code]
            for resident in residents:
                assert resident.identity_encrypted is not None
                number = crypto.decrypt_identity(resident.identity_encrypted)
                assert identity_number_error(number) is None
                assert crypto.identity_lookup_hash(number) == resident.identity_hash
                assert number[-4:] == resident.identity_last4
                assert birth_year(number) == resident.birth_year
                assert resident.name and resident.name_en and resident.phone and resident.address
                assert resident.crs == "gcj02"
                assert resident.latitude is not None and resident.longitude is not None
                distance = geo.distance_m(
                    area.latitude, area.longitude, resident.latitude, resident.longitude
                )
                assert distance <= area.radius_m
                assert (resident.wgs84_latitude, resident.wgs84_longitude) == geo.to_wgs84(
                    resident.latitude, resident.longitude, "gcj02"
                )
        assert Resident.objects.count() == seeded.residents == plan.resident_total

    def test_the_resident_import_is_audited_once_per_batch(self, seeded: demo.SeedSummary) -> None:
        imports = AuditEvent.objects.filter(action="resident.import")
        assert imports.count() == seeded.import_batches >= 1
        assert sum(e.changes["count"] for e in imports) == Resident.objects.count()
        assert not AuditEvent.objects.filter(action="resident.create").exists()
        event = imports.get()
        assert event.actor_label.startswith("system:")
        assert sum(event.changes["communities"].values()) == event.changes["count"]

    def test_the_bulk_import_refuses_an_identity_number_already_registered(
        self,
        seeded: demo.SeedSummary,
    ) -> None:
        plan = demo.plan_city(seed=SEED)
        organisations = {o.code: o for o in Organisation.objects.all()}
        batch = resident_import.import_batches(plan, organisations)[0][:1]
        values = resident_import.batch_values(plan, batch)
        with pytest.raises(Conflict):
            resident_import.batch_insert(plan, organisations, values, batch_number=99)


def test_modules_add_their_demo_data_after_cores(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    def plain_hook(*, city: Organisation, size: str) -> None:
        calls.append({"city": city.code, "size": size, "residents": Resident.objects.count()})

    def seed_aware_hook(*, city: Organisation, size: str, seed: int) -> None:
        calls.append({"city": city.code, "size": size, "seed": seed})

    class Plain:
        label = "plain"

    class SeedAware:
        label = "seedaware"

    hooks = "civichub.core.tests.test_demo"
    monkeypatch.setattr(f"{hooks}.plain_hook", plain_hook, raising=False)
    monkeypatch.setattr(f"{hooks}.seed_aware_hook", seed_aware_hook, raising=False)
    installed = [
        (Plain(), ModuleManifest(demo_data=f"{hooks}:plain_hook")),
        (SeedAware(), ModuleManifest(demo_data=f"{hooks}:seed_aware_hook")),
        (Plain(), ModuleManifest()),
    ]
    monkeypatch.setattr(demo_hooks, "modules", lambda: iter(installed))
    phases: list[tuple[int, int, str]] = []

    def on_phase(done: int, total: int, phase: str) -> None:
        phases.append((done, total, phase))
        if phase == "seedaware":  # each phase is announced before it runs
            assert len(calls) == 1

    summary = demo.seed_city(size="small", progress=False, seed=SEED, on_phase=on_phase)
    assert phases == [
        (0, 6, "organisations"),
        (1, 6, "residents"),
        (2, 6, "resident_accounts"),
        (3, 6, "plain"),
        (4, 6, "seedaware"),
        (5, 6, "demo_seeded"),
        (6, 6, ""),
    ]
    assert calls == [
        {"city": demo.CITY_CODE, "size": "small", "residents": summary.residents},
        {"city": demo.CITY_CODE, "size": "small", "seed": SEED},
    ]
    assert summary.modules == ["plain", "seedaware"]


def test_seeding_refuses_a_database_that_already_holds_organisations(db: Any) -> None:
    services.organisation_create(actor=None, kind="city", name="青山市", code="T1")
    assert not demo.database_is_empty()
    with pytest.raises(Conflict):
        demo.seed_city(size="small", progress=False)
    with pytest.raises(CommandError, match="already holds organisations"):
        call_command("seed", "--no-progress")
    assert Organisation.objects.count() == 1


def test_the_seed_command_seeds_an_empty_database_and_prints_the_logins(
    db: Any, core_only: None
) -> None:
    assert demo.database_is_empty()
    out = io.StringIO()
    call_command("seed", "--size", "small", "--seed", str(SEED), "--no-progress", stdout=out)
    assert not demo.database_is_empty()
    text = out.getvalue()
    assert "Demo city seeded" in text
    for login in demo.demo_logins(seed=SEED):
        assert f"{login.username}" in text and login.password in text
    assert Resident.objects.count() == demo.plan_city(seed=SEED).resident_total
