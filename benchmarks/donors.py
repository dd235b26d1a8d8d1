"""Benchmark of the donors module: ranking the first 50 eligible, compatible donors near a
hospital among a million, and call-ups in waves against a single blast.

    python benchmarks/donors.py [--donors N] [--queries Q] [--quick] [--postgres URL]

On SQLite in a temporary data directory (removed afterwards), and on PostgreSQL too when
`--postgres` names a server (a scratch database is created and dropped):

- N donors (default 1,000,000) loaded in bulk (COPY on PostgreSQL, batched inserts in one
  transaction on SQLite: setup, not measured) with China's group frequencies (O 30 %, A 28 %,
  B 31 %, AB 11 %; RhD-negative 0.3 %), spread around a city centre (normal, σ 15 km), aged
  18-60, a fifth within their whole-blood interval, one in twenty paused; `--phenotyped`
  (default 5 %; 1-10 % in practice) with a phenotype on record: Rh (C, c, E, e) and K always,
  Fy(a), Jk(a), Di(a) for half of them, each negative as often as in Han Chinese donors
  (C− 12 %, c− 45 %, E− 52 %, e− 7 %, K− 99.8 %, Fy(a)− 0.5 %, Jk(a)− 36 %, Di(a)− 92 %);
- `donors.rank_pos_p50_ms` / `_p99_ms`: `rank_candidates` (the service's own path: the H3
  cells whose centre lies in each distance band, each cell's donors of a group read in the
  ranking's order from the covering index `donors_donor_ranking` and merged, stopping after the
  rows needed, group by group and band by band in preference and distance order, then the full
  eligibility rule and availability on each donor) for the first 50 for red cells within 10 km
  of a hospital, random RhD-positive patient groups and hospital places; `donors.rank_neg_*`
  for RhD-negative patients (city-wide, 100 km, through the coarser region cells);
  `donors.rank_antigen_neg_*` for RhD-positive patients with an antibody, who need donors known
  to lack the antigen (E−, c−, Jk(a)−, K− or Fy(a)−, as often as Chinese patients form those
  antibodies; a donor whose phenotype leaves the antigen out is not taken), within 10 km,
  read from the partial index of donors with a phenotype on record `donors_donor_phenotyped`
  (on PostgreSQL those lacking a rare antigen, Fy(a) here, through the GIN index of phenotypes
  `donors_donor_phenotype_gin`, every compatible group at once);
  `_cpu_p50_ms` / `_cpu_p99_ms` are the CPU time of the same queries (this process, and on
  PostgreSQL the server process serving its connection), which the load of other work on the
  machine does not inflate as it does wall-clock time; the load average is printed with them;
- `donors.scan_pos_p50_ms` / `_p99_ms`: the same first 50 by a plain SQL scan of the table (the
  same conditions and order, no cell filter), in the same run;
- a simulation of call-ups on the ranked donors of real queries: each called donor accepts with
  probability `--accept` (default 0.284, the share of donors who answered an SMS reminder in
  the research notes; no published figure exists for urgent call-ups) after a log-normal delay
  (median `--delay` minutes, σ 0.8), waves of 5, 10, 20, 40 every 10 minutes against one blast
  to every compatible donor within reach; median and p90 minutes to the first acceptance and
  to the request met (2 donors), and how many people each approach disturbed.

Prints `name: value` lines on stdout (progress on stderr).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.common import (  # noqa: E402
    line,
    load_average,
    migrate_database,
    note,
    percentile,
    postgres_database,
    print_machine,
)

CENTRE = (30.6600, 104.0600)  # a city centre (WGS-84)
ABO_SHARES = (("O", 0.30), ("A", 0.28), ("B", 0.31), ("AB", 0.11))
RHD_NEGATIVE = 0.003
# How often each antigen is negative among Han Chinese donors (research notes: K extremely
# rare, Fy(a) frequent, Jk(a) allele about 0.4, Di(a) about 0.04; Rh from Chinese donor surveys).
ANTIGEN_NEGATIVE = {"C": 0.12, "c": 0.45, "E": 0.52, "e": 0.07, "K": 0.998}
ANTIGEN_NEGATIVE_SOMETIMES = {"Fya": 0.005, "Jka": 0.36, "Dia": 0.92}
# The antibodies of patients who need antigen-negative blood, as often as they are found in
# Chinese patients (anti-E first, then anti-c and anti-Jk(a); anti-K and anti-Fy(a) rare).
PATIENT_ANTIBODIES = (("E", 0.5), ("c", 0.2), ("Jka", 0.15), ("K", 0.1), ("Fya", 0.05))
BENCH_DATABASE = "civichub_bench_donors"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--donors", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--scan-queries", type=int, default=20, help="plain scans timed (each reads every row)"
    )
    parser.add_argument("--simulations", type=int, default=400)
    parser.add_argument(
        "--phenotyped", type=float, default=0.05, help="share of donors with a phenotype"
    )
    parser.add_argument("--accept", type=float, default=0.284)
    parser.add_argument("--delay", type=float, default=8.0)
    parser.add_argument(
        "--quick", action="store_true", help="3,000 donors, 10 queries: a smoke run"
    )
    parser.add_argument(
        "--postgres",
        default="",
        help="also on this server, e.g. postgresql://postgres@127.0.0.1:5432",
    )
    parser.add_argument("--database", default="sqlite", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.donors, args.queries, args.simulations, args.scan_queries = 3_000, 10, 100, 3
    return args


def _point(rng: random.Random, sigma_km: float) -> tuple[float, float]:
    north, east = rng.gauss(0, sigma_km), rng.gauss(0, sigma_km)
    lat = CENTRE[0] + north / 111.195
    lng = CENTRE[1] + east / (111.195 * math.cos(math.radians(CENTRE[0])))
    return lat, lng


def _phenotype(rng: random.Random) -> dict[str, str]:
    """A donor's phenotype as a blood centre records it: Rh and K always, the others for half."""
    tested = dict(ANTIGEN_NEGATIVE)
    if rng.random() < 0.5:
        tested.update(ANTIGEN_NEGATIVE_SOMETIMES)
    return {a: "-" if rng.random() < share else "+" for a, share in tested.items()}


def insert_donors(count: int, community: Any, rng: random.Random, phenotyped: float) -> None:
    """Donors in bulk, as registration would have left them (coarse cells, consents, stored
    eligibility dates). Setup, not what is measured: rows go in as plain tuples, by COPY on
    PostgreSQL and by batched inserts in one transaction on SQLite."""
    import h3
    from django.db import connection, transaction
    from django.utils import timezone

    from civichub.donors.conf import DonorsSettings
    from civichub.donors.models import Donor

    conf = DonorsSettings()
    ops = connection.ops
    now = timezone.now()
    today = timezone.localdate()
    groups = [g for g, _share in ABO_SHARES]
    weights = [share for _g, share in ABO_SHARES]
    fields = [f for f in Donor._meta.concrete_fields if not f.primary_key]
    columns = [f.column for f in fields]
    defaults = {f.attname: f.get_db_prep_save(f.get_default(), connection) for f in fields}
    defaults.update(
        community_id=community.pk,
        name="",
        health_consent_at=ops.adapt_datetimefield_value(now),
        location_consent_at=ops.adapt_datetimefield_value(now),
    )
    paused = ops.adapt_datetimefield_value(now + dt.timedelta(days=7))
    phenotype_field = Donor._meta.get_field("phenotype")
    centres: dict[str, tuple[str, str, str, float, float]] = {}

    def row(n: int) -> tuple[Any, ...]:
        lat, lng = _point(rng, 15.0)
        cell = h3.latlng_to_cell(lat, lng, conf.cell_resolution)
        if cell not in centres:
            centre_lat, centre_lng = h3.cell_to_latlng(cell)
            centres[cell] = (
                cell,
                h3.cell_to_parent(cell, conf.search_resolution),
                h3.cell_to_parent(cell, conf.region_resolution),
                centre_lat,
                centre_lng,
            )
        cell, search_cell, region_cell, centre_lat, centre_lng = centres[cell]
        recent = rng.random() < 0.2
        values = {
            **defaults,
            "phone": f"1{n:010d}",
            "sex": "male" if n % 2 else "female",
            "birth_date": ops.adapt_datefield_value(
                today - dt.timedelta(days=rng.randint(18 * 366, 60 * 365))
            ),
            "weight_kg": float(rng.randint(46, 90)),
            "abo": rng.choices(groups, weights)[0],
            "rhd": "neg" if rng.random() < RHD_NEGATIVE else "pos",
            "group_source": "centre" if rng.random() < 0.6 else "self",
            "cell": cell,
            "search_cell": search_cell,
            "region_cell": region_cell,
            "cell_lat": centre_lat,
            "cell_lng": centre_lng,
            "paused_until": paused if rng.random() < 0.05 else None,
            "whole_blood_from": ops.adapt_datefield_value(
                today + dt.timedelta(days=rng.randint(1, 180))
            )
            if recent
            else None,
            "calls": rng.randint(0, 6),
            "accepts": rng.randint(0, 2),
        }
        if rng.random() < phenotyped:
            values["phenotype"] = phenotype_field.get_db_prep_save(_phenotype(rng), connection)
        return tuple(values[f.attname] for f in fields)

    table = ops.quote_name(Donor._meta.db_table)
    names = ", ".join(ops.quote_name(c) for c in columns)
    batch = 50_000
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for n in range(count):
                    copy.write_row(row(n))
                    if n % 100_000 == 99_999:
                        note(f"  {n + 1} donors")
        else:
            marks = ", ".join(["%s"] * len(columns))
            sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608  # nosec B608
            for first in range(0, count, batch):
                cursor.executemany(sql, [row(n) for n in range(first, min(count, first + batch))])
                if (first + batch) % 100_000 == 0:
                    note(f"  {first + batch} donors")


def _antigen_condition(antigens: tuple[str, ...]) -> str:
    """Donors whose phenotype records each antigen as negative, in plain SQL (the names are
    constants of this script)."""
    from django.db import connection

    if connection.vendor == "postgresql":
        return "".join(f" AND (phenotype ->> '{a}') = '-'" for a in antigens)
    return "".join(f" AND json_extract(phenotype, '$.\"{a}\"') = '-'" for a in antigens)


def scan_first_50(
    *,
    groups: list[tuple[str, str]],
    lat: float,
    lng: float,
    radius_km: float,
    antigens: tuple[str, ...] = (),
) -> list[int]:
    """The plain scan: every donor row read, distance computed for each, no cell filter."""
    from django.db import connection
    from django.utils import timezone

    from civichub.donors.selectors import rules

    today = timezone.localdate()
    ruleset = rules()
    cos_lat = math.cos(math.radians(lat))
    pref = " ".join(f"WHEN abo = %s AND rhd = %s THEN {i}" for i in range(len(groups)))
    in_groups = " OR ".join("(abo = %s AND rhd = %s)" for _ in groups)
    flat = [value for pair in groups for value in pair]
    sql = f"""
        SELECT id FROM (
          SELECT id, abo, rhd, group_source, accepts, calls, last_called_at,
            ((cell_lat - %s) * 111.195) * ((cell_lat - %s) * 111.195)
            + ((cell_lng - %s) * %s) * ((cell_lng - %s) * %s) AS dist2
          FROM donors_donor
          WHERE ({in_groups})
            AND health_consent_at IS NOT NULL AND health_revoked_at IS NULL
            AND location_consent_at IS NOT NULL AND location_revoked_at IS NULL
            AND (paused_until IS NULL OR paused_until <= %s)
            AND (whole_blood_from IS NULL OR whole_blood_from <= %s)
            AND birth_date <= %s AND birth_date > %s
            AND ((sex = 'male' AND weight_kg >= %s) OR (sex = 'female' AND weight_kg >= %s))
            {_antigen_condition(antigens)}
        ) AS d
        WHERE dist2 <= %s
        ORDER BY CASE {pref} ELSE 99 END, dist2, group_source, accepts DESC, calls
        LIMIT 50
    """  # noqa: S608  (constant SQL; values are parameters)
    k = 111.195 * cos_lat
    params: list[Any] = [lat, lat, lng, k, lng, k, *flat]
    params += [
        timezone.now(),
        today,
        today.replace(year=today.year - ruleset.min_age),
        today.replace(year=today.year - max(ruleset.max_age_first, ruleset.max_age_repeat) - 1),
        ruleset.min_weight_kg_male,
        ruleset.min_weight_kg_female,
        radius_km * radius_km,
        *flat,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


class CpuClock:
    """CPU time spent on a query, in nanoseconds: this process's own (SQLite runs inside it)
    plus, on PostgreSQL, that of the server process serving this connection (read from
    /proc/<pid>/schedstat, nanosecond resolution; the server runs on the same machine). Unlike
    wall-clock time it does not grow when other work on the machine takes the cores."""

    def __init__(self) -> None:
        from django.db import connection

        self.server: Path | None = None
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pid = cursor.fetchone()[0]
            candidate = Path(f"/proc/{pid}/schedstat")
            self.server = candidate if candidate.exists() else None

    def __call__(self) -> int:
        spent = time.process_time_ns()
        if self.server is not None:
            spent += int(self.server.read_text().split()[0])
        return spent


def _patient(rng: random.Random, negative: bool) -> Any:
    from civichub.donors.compatibility import Patient

    abo = rng.choices([g for g, _s in ABO_SHARES], [s for _g, s in ABO_SHARES])[0]
    return Patient(abo=abo, rhd="neg" if negative else "pos")


def measure_ranking(
    args: argparse.Namespace, negative: bool, rng: random.Random, antibodies: bool = False
) -> list[int]:
    """Times `rank_candidates` and the plain scan; returns the number of compatible, callable
    donors within reach of the first queries (the pools the simulation calls from). With
    `antibodies`, RhD-positive patients who need donors negative for one antigen."""
    from django.utils import timezone

    from civichub.donors.compatibility import donor_groups
    from civichub.donors.selectors import candidate_queryset, rank_candidates

    label = "antigen_neg" if antibodies else "neg" if negative else "pos"
    radius = 100.0 if negative else 10.0
    ranked_ms: list[float] = []
    ranked_cpu_ms: list[float] = []
    scan_ms: list[float] = []
    scan_cpu_ms: list[float] = []
    cpu = CpuClock()
    found: list[int] = []
    pools: list[int] = []
    for n in range(args.queries):
        patient = _patient(rng, negative)
        lat, lng = _point(rng, 5.0)
        antigens: tuple[str, ...] = ()
        if antibodies:
            names = [a for a, _share in PATIENT_ANTIBODIES]
            antigens = (rng.choices(names, [share for _a, share in PATIENT_ANTIBODIES])[0],)
        now = timezone.now()
        began, began_cpu = time.perf_counter(), cpu()
        result = rank_candidates(
            component="red_cells",
            patient=patient,
            lat=lat,
            lng=lng,
            radius_km=radius,
            now=now,
            limit=50,
            antigen_negative=antigens,
        )
        ranked_ms.append((time.perf_counter() - began) * 1000)
        ranked_cpu_ms.append((cpu() - began_cpu) / 1e6)
        found.append(len(result))
        groups = [(a.value, r.value) for a, r, _v in donor_groups("red_cells", patient)]
        if n < args.scan_queries:
            began, began_cpu = time.perf_counter(), cpu()
            scan_first_50(groups=groups, lat=lat, lng=lng, radius_km=radius, antigens=antigens)
            scan_ms.append((time.perf_counter() - began) * 1000)
            scan_cpu_ms.append((cpu() - began_cpu) / 1e6)
        if len(pools) < 30:
            reach = 50.0 if not negative else radius
            pools.append(
                candidate_queryset(
                    component="red_cells",
                    patient=patient,
                    lat=lat,
                    lng=lng,
                    radius_km=reach,
                    now=now,
                    antigen_negative=antigens,
                )[:20000].count()
            )
    for name, values, cpu_values in (
        ("rank", ranked_ms, ranked_cpu_ms),
        ("scan", scan_ms, scan_cpu_ms),
    ):
        line(f"donors.{name}_{label}_p50_ms", f"{percentile(values, 0.5):.2f}")
        line(f"donors.{name}_{label}_p99_ms", f"{percentile(values, 0.99):.2f}")
        line(f"donors.{name}_{label}_cpu_p50_ms", f"{percentile(cpu_values, 0.5):.2f}")
        line(f"donors.{name}_{label}_cpu_p99_ms", f"{percentile(cpu_values, 0.99):.2f}")
    line(f"donors.rank_{label}_load_average", load_average())
    line(f"donors.rank_{label}_found_median", sorted(found)[len(found) // 2])
    return pools


def simulate(args: argparse.Namespace, pools: list[int], label: str, rng: random.Random) -> None:
    """Waves against a blast on the pools of compatible, callable donors of real queries."""
    sizes, minutes, units = (5, 10, 20, 40), 10.0, 2
    results: dict[str, dict[str, list[float]]] = {
        way: {"first": [], "met": [], "disturbed": []} for way in ("waves", "blast")
    }
    for s in range(args.simulations):
        pool = pools[s % len(pools)]
        answers = [
            (rng.random() < args.accept, rng.lognormvariate(math.log(args.delay), 0.8))
            for _ in range(pool)
        ]
        # Blast: everyone at minute 0.
        accepted = sorted(delay for ok, delay in answers if ok)
        _record(results["blast"], accepted, units, pool)
        # Waves: wave k at 10(k-1) minutes while fewer than `units` have accepted by then.
        called, start, wave = 0, 0.0, 0
        times: list[float] = []
        while called < pool:
            if len([t for t in times if t <= start]) >= units:
                break
            size = sizes[min(wave, len(sizes) - 1)]
            for ok, delay in answers[called : called + size]:
                if ok:
                    times.append(start + delay)
            called = min(pool, called + size)
            wave += 1
            start += minutes
        _record(results["waves"], sorted(times), units, called)
    for way, figures in results.items():
        for what in ("first", "met"):
            values = figures[what]
            reached = [v for v in values if v != math.inf]
            line(f"donors.sim_{label}_{way}_{what}_median_min", _fmt(percentile(values, 0.5)))
            line(f"donors.sim_{label}_{way}_{what}_p90_min", _fmt(percentile(values, 0.9)))
            if what == "met":
                line(f"donors.sim_{label}_{way}_met_share", f"{len(reached) / len(values):.3f}")
        line(
            f"donors.sim_{label}_{way}_disturbed_median",
            f"{percentile(figures['disturbed'], 0.5):.0f}",
        )


def _record(
    figures: dict[str, list[float]], accepted: list[float], units: int, disturbed: int
) -> None:
    figures["first"].append(accepted[0] if accepted else math.inf)
    figures["met"].append(accepted[units - 1] if len(accepted) >= units else math.inf)
    figures["disturbed"].append(float(disturbed))


def _fmt(value: float) -> str:
    return "never" if value == math.inf else f"{value:.1f}"


def measure(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.db import connection

    from civichub.core import services as core_services
    from civichub.testing.city import build_city

    migrate_database()
    print_machine(sqlite=connection.vendor == "sqlite")
    line("database", connection.vendor)
    city = build_city()
    core_services.organisation_create(
        actor=None,
        kind="department",
        name="医院",
        code="BH1",
        parent=city.city,
        function="hospital",
    )
    rng = random.Random(2026)
    note(f"inserting {args.donors} donors")
    began = time.perf_counter()
    insert_donors(args.donors, city.community_a1, rng, args.phenotyped)
    line("donors.donors", args.donors)
    line("donors.insert_seconds", f"{time.perf_counter() - began:.1f}")
    with connection.cursor() as cursor:
        # After a bulk load: statistics, and on PostgreSQL the visibility map that lets the
        # ranking read its covering index alone (autovacuum keeps both in service).
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    pools_pos = measure_ranking(args, negative=False, rng=rng)
    pools_neg = measure_ranking(args, negative=True, rng=rng)
    # Its own generator, so that adding it left the other figures' queries as they were.
    measure_ranking(args, negative=False, rng=random.Random(2027), antibodies=True)
    line("donors.pool_pos_median", sorted(pools_pos)[len(pools_pos) // 2])
    line("donors.pool_neg_median", sorted(pools_neg)[len(pools_neg) // 2])
    simulate(args, pools_pos, "pos", rng)
    simulate(args, pools_neg, "neg", rng)
    line("machine.load_average_end", load_average())


def main() -> None:
    args = arguments()
    if args.database == "sqlite" and args.postgres:
        # PostgreSQL in a child process of its own, after SQLite, with the same arguments.
        run_here(args)
        with postgres_database(args.postgres, BENCH_DATABASE) as url:
            env = {**os.environ, "DATABASE_URL": url}
            command = [sys.executable, __file__, "--database", "postgres"]
            command += ["--donors", str(args.donors), "--queries", str(args.queries)]
            command += ["--simulations", str(args.simulations)]
            command += ["--scan-queries", str(args.scan_queries)]
            command += ["--phenotyped", str(args.phenotyped)]
            subprocess.run(command, env=env, check=True)
        return
    run_here(args)


def run_here(args: argparse.Namespace) -> None:
    data_dir = tempfile.mkdtemp(prefix="civichub-bench-donors-")
    os.environ.update(
        CIVICHUB_DATA_DIR=data_dir, DJANGO_SETTINGS_MODULE="civichub.settings", CIVICHUB_TESTING=""
    )
    if args.database == "sqlite":
        os.environ.pop("DATABASE_URL", None)
    try:
        measure(args)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
