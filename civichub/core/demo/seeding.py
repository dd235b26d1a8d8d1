"""Seeding the demo city: core's data through core's services, then every installed module's
demo data through the registry."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.utils.translation import gettext

from civichub.core import dbguard, hooks
from civichub.core.demo.accounts import resident_accounts_create
from civichub.core.demo.hooks import demo_data_hooks
from civichub.core.demo.organisations import organisations_create
from civichub.core.demo.plan import DEFAULT_SEED, plan_city
from civichub.core.demo.resident_import import residents_import
from civichub.core.demo.staff import staff_create
from civichub.core.errors import Conflict
from civichub.core.models import Organisation, OrganisationKind, RoleAssignment


@dataclass
class SeedSummary:
    size: str
    seed: int
    organisations: int = 0
    departments: int = 0
    communities: int = 0
    residents: int = 0
    users: int = 0
    role_assignments: int = 0
    resident_accounts: int = 0
    import_batches: int = 0
    modules: list[str] = field(default_factory=list)
    seconds: float = 0.0
    phase_seconds: dict[str, float] = field(default_factory=dict)


def database_is_empty() -> bool:
    """True when no organisation exists yet: the demo city may only be seeded into that."""
    return not Organisation.objects.exists()


#: Called before each phase of the seeding and once at the end: (phases done, phases in all,
#: the phase starting, or "" at the end).
PhaseCallback = Callable[[int, int, str], None]


def seed_city(
    *,
    size: str = "small",
    progress: bool = True,
    seed: int = DEFAULT_SEED,
    on_phase: PhaseCallback | None = None,
) -> SeedSummary:
    """Builds the demo city in an empty database and returns what was created."""
    plan = plan_city(size=size, seed=seed)
    if not database_is_empty():
        raise Conflict(gettext("数据库中已有组织机构，演示城市只能写入空数据库。"))
    started = time.perf_counter()
    summary = SeedSummary(size=size, seed=seed)
    module_hooks = list(demo_data_hooks())
    # organisations and staff, residents, resident accounts, each module, the closing signal
    total = 3 + len(module_hooks) + 1
    done = 0

    def starting(name: str) -> None:
        if on_phase is not None:
            on_phase(done, total, name)

    def phase(name: str, since: float) -> float:
        now = time.perf_counter()
        summary.phase_seconds[name] = round(now - since, 3)
        return now

    mark = started
    starting("organisations")
    with transaction.atomic():
        organisations = organisations_create(plan.organisations)
        mark = phase("organisations", mark)
        users = staff_create(plan.staff, organisations)
        mark = phase("staff", mark)
    done += 1
    starting("residents")
    imported = residents_import(plan, organisations, progress=progress)
    summary.residents = imported.residents
    summary.import_batches = imported.batches
    mark = phase("residents", mark)
    done += 1
    starting("resident_accounts")
    with transaction.atomic():
        summary.resident_accounts = resident_accounts_create(
            seed=seed, first_residents=imported.first
        )
    mark = phase("resident_accounts", mark)
    done += 1
    city = organisations[plan.city.code]
    for label, seed_module in module_hooks:
        starting(label)
        with transaction.atomic():
            seed_module(city=city, size=size, **_seed_argument(seed_module, seed))
        summary.modules.append(label)
        mark = phase(f"module:{label}", mark)
        done += 1
    starting("demo_seeded")
    with transaction.atomic():
        hooks.demo_seeded.send(hooks.DemoSeeded(size=size))
    phase("demo_seeded", mark)
    done += 1
    summary.organisations = len(organisations)
    summary.departments = sum(
        1 for o in plan.organisations if o.kind == OrganisationKind.DEPARTMENT
    )
    summary.communities = len(plan.resident_counts)
    summary.users = len(users) + summary.resident_accounts
    summary.role_assignments = RoleAssignment.objects.count()
    summary.seconds = round(time.perf_counter() - started, 3)
    if on_phase is not None:
        on_phase(done, total, "")
    return summary


def _seed_argument(function: Any, seed: int) -> dict[str, int]:
    """Module demo data is called as function(city=..., size=...); a function that also takes
    `seed` gets it, so it can look up the same plan (`plan_city(size=size, seed=seed)`)."""
    parameters = inspect.signature(function).parameters.values()
    if any(p.name == "seed" or p.kind is p.VAR_KEYWORD for p in parameters):
        return {"seed": seed}
    return {}


def database_reset() -> None:
    """Wipe the demo database. SQLite: delete the database files (before any connection is
    open). PostgreSQL: flush every table, lifting the audit log's append-only guard."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        connections.close_all()
        name = Path(str(db["NAME"]))
        for path in (name, *(Path(f"{name}{suffix}") for suffix in ("-wal", "-shm", "-journal"))):
            path.unlink(missing_ok=True)
        return
    call_command("migrate", interactive=False, verbosity=0)
    with dbguard.lifted(connection):
        call_command("flush", interactive=False, verbosity=0)
