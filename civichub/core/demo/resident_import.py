"""Writing the planned residents: batches of whole communities, each one transaction with one
duplicate check and one audit event. A city-sized import draws, encrypts and converts in a process
pool while this process writes."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.db import connection, transaction
from django.utils.translation import gettext
from tqdm import tqdm

from civichub.core import crypto, services
from civichub.core.audit import audit_record
from civichub.core.demo.plan import CityPlan, plan_city
from civichub.core.demo.residents import ResidentPlan, plan_residents
from civichub.core.errors import Conflict, ValidationFailed
from civichub.core.models import CoordinateSystem, Organisation, Resident

# Rows per resident import transaction, and per audit event.
IMPORT_BATCH = 5000
# Below this many residents the import runs in-process; above, identity encryption and
# coordinate conversion run in a process pool while this process writes to the database.
POOL_THRESHOLD = 20_000
SQLITE_IMPORT_CACHE_KIB = 256 * 1024


def resident_values(community: Organisation, person: ResidentPlan) -> dict[str, Any]:
    """The same checks and derived fields as `services.resident_create`, without the per-row
    duplicate query (the import checks a whole batch at once)."""
    if not person.name.strip():
        raise ValidationFailed.on("name", gettext("请填写姓名。"))
    values = services.resident_derived_fields(
        community=community,
        latitude=person.latitude,
        longitude=person.longitude,
        crs=CoordinateSystem.GCJ02,
        identity_number=person.identity_number,
    )
    return {
        "name": person.name.strip(),
        "name_en": person.name_en,
        "phone": person.phone,
        "address": person.address,
        "community_id": community.pk,
        "latitude": person.latitude,
        "longitude": person.longitude,
        "crs": CoordinateSystem.GCJ02,
        **values,
    }


def batch_values(
    plan: CityPlan, communities: list[Organisation]
) -> list[tuple[str, list[dict[str, Any]]]]:
    return [
        (c.code, [resident_values(c, p) for p in plan_residents(plan, c.code)]) for c in communities
    ]


@lru_cache(maxsize=2)
def _cached_plan(size: str, seed: int) -> CityPlan:
    return plan_city(size=size, seed=seed)


def _pool_batch_values(
    size: str, seed: int, communities: list[Organisation]
) -> list[tuple[str, list[dict[str, Any]]]]:
    return batch_values(_cached_plan(size, seed), communities)


def import_batches(
    plan: CityPlan, organisations: dict[str, Organisation]
) -> list[list[Organisation]]:
    """Whole communities grouped into batches of about IMPORT_BATCH residents."""
    batches: list[list[Organisation]] = [[]]
    rows = 0
    for code, count in plan.resident_counts.items():
        if rows and rows + count > IMPORT_BATCH:
            batches.append([])
            rows = 0
        batches[-1].append(organisations[code])
        rows += count
    return [b for b in batches if b]


@dataclass
class ResidentImport:
    """What an import wrote: each community's first resident, the rows and the batches."""

    first: dict[str, Resident] = field(default_factory=dict)
    residents: int = 0
    batches: int = 0


def residents_import(
    plan: CityPlan, organisations: dict[str, Organisation], *, progress: bool
) -> ResidentImport:
    batches = import_batches(plan, organisations)
    result = ResidentImport()
    bar = tqdm(
        total=plan.resident_total,
        unit="人",
        desc="导入居民 Importing residents",
        disable=not progress,
        dynamic_ncols=True,
    )
    with bar, _large_sqlite_cache():
        for batch_number, values in enumerate(_computed_batches(plan, batches), start=1):
            created = batch_insert(plan, organisations, values, batch_number)
            for code, resident in created.items():
                result.first.setdefault(code, resident)
            rows = sum(len(v) for _, v in values)
            result.residents += rows
            result.batches += 1
            bar.update(rows)
    return result


@contextlib.contextmanager
def _large_sqlite_cache() -> Iterator[None]:
    """SQLite keeps 2 MB of pages per connection by default; inserting hundreds of thousands of
    rows into the random-order identity hash index then reads the same pages over and over.
    A larger cache for this connection, for the length of the import, halves the insert time."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        previous = int(cursor.fetchone()[0])
        cursor.execute(f"PRAGMA cache_size = {-SQLITE_IMPORT_CACHE_KIB}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {previous}")


def _computed_batches(
    plan: CityPlan, batches: list[list[Organisation]]
) -> Iterator[list[tuple[str, list[dict[str, Any]]]]]:
    # This process spends about as long writing a row as a worker spends drawing, encrypting
    # and converting it, so it keeps a core of its own.
    workers = (os.cpu_count() or 1) - 1
    use_pool = (
        plan.resident_total >= POOL_THRESHOLD
        and workers >= 1
        and "fork" in multiprocessing.get_all_start_methods()
    )
    if not use_pool:
        for batch in batches:
            yield batch_values(plan, batch)
        return
    # Create the key file (if it does not exist yet) before forking, so every worker encrypts
    # under the same key. Workers never touch the database connection they inherit.
    crypto.identity_lookup_hash("0")
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        # A bounded window of batches in flight keeps memory flat when the database is the
        # slower side; results come back in batch order so primary keys follow the plan.
        pending: deque[Future[list[tuple[str, list[dict[str, Any]]]]]] = deque()
        queued = deque(batches)
        while queued or pending:
            while queued and len(pending) < 2 * workers:
                batch = queued.popleft()
                pending.append(pool.submit(_pool_batch_values, plan.size, plan.seed, batch))
            yield pending.popleft().result()


def _common_ancestor(organisations: dict[str, Organisation], codes: list[str]) -> Organisation:
    """The lowest organisation whose subtree holds all the given ones (paths are "/1/4/17/")."""
    prefix = os.path.commonprefix([organisations[c].path for c in codes])
    prefix = prefix[: prefix.rfind("/") + 1]
    return next(o for o in organisations.values() if o.path == prefix)


@transaction.atomic
def batch_insert(
    plan: CityPlan,
    organisations: dict[str, Organisation],
    values: list[tuple[str, list[dict[str, Any]]]],
    batch_number: int,
) -> dict[str, Resident]:
    """One transaction: the duplicate check for the whole batch (one query), the rows, and one
    audit event recording what was imported where."""
    hashes = [row["identity_hash"] for _, rows in values for row in rows if row["identity_hash"]]
    duplicates = set(
        Resident.objects.filter(identity_hash__in=hashes).values_list("identity_hash", flat=True)
    )
    if duplicates or len(set(hashes)) != len(hashes):
        message = gettext("已有居民登记了这个身份证号。")
        raise Conflict(message, errors={"identity_number": [message]})
    residents = [Resident(**row) for _, rows in values for row in rows]
    Resident.objects.bulk_create(residents)
    first: dict[str, Resident] = {}
    position = 0
    for code, rows in values:
        if rows:
            first[code] = residents[position]
        position += len(rows)
    ids = [r.pk for r in residents if r.pk is not None]
    codes = [code for code, _ in values]
    audit_record(
        actor=None,
        action="resident.import",
        object_type="core.resident",
        organisation=_common_ancestor(organisations, codes),
        changes={
            "source": "demo",
            "seed": plan.seed,
            "batch": batch_number,
            "count": len(residents),
            "communities": {code: len(rows) for code, rows in values},
            "first_id": min(ids) if ids else None,
            "last_id": max(ids) if ids else None,
        },
    )
    if any(r.pk is None for r in first.values()):
        # A database without RETURNING on bulk inserts: look the first residents up by hash.
        by_hash = {
            r.identity_hash: r
            for r in Resident.objects.filter(
                identity_hash__in=[r.identity_hash for r in first.values()]
            )
        }
        first = {code: by_hash[r.identity_hash] for code, r in first.items()}
    return first
