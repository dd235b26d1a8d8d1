"""Wellbeing's city-scale pipeline, end to end: ingestion plus detection through the real services.

    python benchmarks/wellbeing_pipeline.py [--quick] [--households N] [--days D]
    python benchmarks/wellbeing.py --only pipeline

Simulated households (`civichub.testing.wellbeing_simulation`) with three meters of different
intervals (water every 30 minutes as interval use, electricity every 30 minutes as a register,
gas every 15 minutes as interval use; readings lost in transit are not sent) are enrolled through
`household_enrol`; their readings are sent time-major in batches of 5,000 rows through
`readings_ingest`, and every `--cadence-hours` of readings the worker detects the households due:

- `batched`: the queued task (`detect_due`), which takes due households in batches and runs the
  detector once per group at the same half hour;
- `per_household`: the old path, one queued run (`run_detection`) per household, on a subset of
  the households (`--old-households`), which is slow.

Each path runs on SQLite and on PostgreSQL (a scratch database created and dropped on the server
given by `--postgres`), each in a child process with its own data directory. Printed: readings
per wall-clock second and per CPU second (this process's CPU plus, on PostgreSQL, its server
backend's, read from /proc: that is "per core"), the share spent detecting, and whether both
paths raised the same alerts for the households they share. Wall-clock figures depend on the
machine's load, which is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.common import line, load_average, migrate_database, note, postgres_database  # noqa: E402

DATABASE = "civichub_bench_pipeline"
BATCH_ROWS = 5000
# Readings per CPU second end to end that a city of 8 million households needs, with room.
TARGET = 50_000


def _cpu_ticks(pid: int) -> float:
    """A process's user + system CPU seconds, from /proc (0 where it cannot be read)."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


class Clock:
    """Wall-clock and CPU seconds of this process and of its database server backend."""

    def __init__(self, backend_pid: int | None) -> None:
        self.backend_pid = backend_pid
        self.wall = self.cpu = 0.0

    @contextlib.contextmanager
    def running(self) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        server = _cpu_ticks(self.backend_pid) if self.backend_pid else 0.0
        try:
            yield
        finally:
            self.wall += time.perf_counter() - wall
            self.cpu += time.process_time() - cpu
            if self.backend_pid:
                self.cpu += _cpu_ticks(self.backend_pid) - server


def feed_rows(sim: Any, prefix: str, start: Any, slots: range) -> list[dict[str, Any]]:
    """The readings of `slots`, time-major as a feed sends them: water and electricity at each
    half hour's end, gas at each quarter hour's end (the half hour's use split in two)."""
    from datetime import timedelta

    from civichub.wellbeing.detection import ELECTRICITY, GAS, WATER

    rows: list[dict[str, Any]] = []
    households = sim.readings.shape[0]
    registers = 1000.0 + np.nancumsum(sim.readings[:, :, ELECTRICITY], axis=1)
    for slot in slots:
        quarter = (start + timedelta(minutes=30 * slot + 15)).isoformat()
        end = (start + timedelta(minutes=30 * slot + 30)).isoformat()
        values = sim.readings[:, slot]
        for h in range(households):
            if sim.meters[h, GAS] and not np.isnan(values[h, GAS]):
                rows.append(
                    {"meter_id": f"{prefix}G{h}", "at": quarter, "value": values[h, GAS] / 2}
                )
        for h in range(households):
            if not np.isnan(values[h, WATER]):
                rows.append({"meter_id": f"{prefix}W{h}", "at": end, "value": values[h, WATER]})
            if not np.isnan(values[h, ELECTRICITY]):
                rows.append({"meter_id": f"{prefix}E{h}", "at": end, "value": registers[h, slot]})
            if sim.meters[h, GAS] and not np.isnan(values[h, GAS]):
                rows.append({"meter_id": f"{prefix}G{h}", "at": end, "value": values[h, GAS] / 2})
    return rows


def enrol(sim: Any, prefix: str, city: Any, worker: Any) -> list[int]:
    from civichub.core import services as core
    from civichub.wellbeing import services
    from civichub.wellbeing.detection import GAS
    from civichub.wellbeing.services import MeterSpec

    ids = []
    for h in range(sim.readings.shape[0]):
        resident = core.resident_create(
            actor=None, name=f"住户{prefix}{h}", community=city.community_a1
        )
        meters = [
            MeterSpec("water", f"{prefix}W{h}", cumulative=False),
            MeterSpec("electricity", f"{prefix}E{h}", cumulative=True),
        ]
        if sim.meters[h, GAS]:
            meters.append(MeterSpec("gas", f"{prefix}G{h}", cumulative=False))
        household = services.household_enrol(
            actor=None, resident=resident, worker=worker, consent_by="resident", meters=meters
        )
        ids.append(household.pk)
    return ids


def run_path(
    path: str, sim: Any, households: list[int], args: argparse.Namespace, clock: Clock
) -> tuple[int, Clock]:
    """Sends the simulated days and detects at every cadence; returns the readings accepted
    and the clock of detection alone (`clock` counts ingestion and detection)."""
    from datetime import datetime

    from django.utils import timezone

    from civichub.wellbeing import services, tasks

    start = timezone.make_aware(datetime(2026, 3, 2))  # noqa: DTZ001 - a Monday
    prefix = "B" if path == "batched" else "O"
    slots = sim.readings.shape[1]
    step = int(args.cadence_hours * 2)
    accepted = 0
    detecting = Clock(clock.backend_pid)
    for first in range(0, slots, step):
        rows = feed_rows(sim, prefix, start, range(first, min(first + step, slots)))
        with clock.running():
            for offset in range(0, len(rows), BATCH_ROWS):
                report = services.readings_ingest(
                    actor=None, rows=rows[offset : offset + BATCH_ROWS]
                )
                accepted += report.accepted
                if report.errors:
                    raise SystemExit(f"refused: {report.errors[:3]}")
            with detecting.running():
                if path == "batched":
                    tasks.detect_due.call()
                else:
                    for household_id in households:
                        tasks.run_detection.call(household_id)
    return accepted, detecting


def measure(database: str, args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.db import connection

    from civichub.testing.city import build_city, staff_user
    from civichub.testing.wellbeing_simulation import simulate
    from civichub.wellbeing.models import Alert

    migrate_database()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
            version = f"PostgreSQL {cursor.fetchone()[0]} (readings partitioned by month)"
            cursor.execute("SELECT pg_backend_pid()")
            backend: int | None = int(cursor.fetchone()[0])
        else:
            cursor.execute("SELECT sqlite_version()")
            version, backend = f"SQLite {cursor.fetchone()[0]} (WAL)", None
    line(f"pipeline_{database}_database", version)
    line(f"pipeline_{database}_load_average_start", load_average())
    sim = simulate(args.households, args.days, seed=args.seed)
    city = build_city()
    worker = staff_user("community_worker", city.community_a1)
    old = args.old_households
    results: dict[str, dict[str, Any]] = {}
    paths = (("batched", sim), ("per_household", _subset(sim, old)))
    for path, sub in (p for p in paths if p[0] in args.paths.split(",")):
        note(f"{database}: enrolling {sub.readings.shape[0]} households ({path})")
        ids = enrol(sub, "B" if path == "batched" else "O", city, worker)
        clock = Clock(backend)
        note(f"{database}: {path}: ingest + detection")
        accepted, detecting = run_path(path, sub, ids, args, clock)
        alerts = sorted(
            (ids.index(a.household_id), a.kind, a.at.isoformat())
            for a in Alert.objects.filter(household_id__in=ids)
        )
        results[path] = {"alerts": alerts}
        name = f"pipeline_{database}_{path}"
        line(f"{name}_households", len(ids))
        line(f"{name}_readings", accepted)
        line(f"{name}_alerts", len(alerts))
        line(f"{name}_seconds", f"{clock.wall:.1f}")
        line(f"{name}_detection_share", f"{detecting.wall / clock.wall:.2f}")
        line(f"{name}_ingest_cpu_seconds", f"{clock.cpu - detecting.cpu:.2f}")
        line(f"{name}_detection_cpu_seconds", f"{detecting.cpu:.2f}")
        line(f"{name}_readings_per_second", f"{accepted / clock.wall:,.0f}")
        line(f"{name}_readings_per_cpu_second", f"{accepted / clock.cpu:,.0f}")
        if path == "batched":
            target = "met" if accepted / clock.cpu >= TARGET else "NOT met"
            line(f"{name}_target_{TARGET}_per_cpu_second", target)
    if len(results) == 2:
        shared = [a for a in results["batched"]["alerts"] if a[0] < old]
        same = shared == results["per_household"]["alerts"]
        line(f"pipeline_{database}_same_alerts_both_paths", same)
    line(f"pipeline_{database}_load_average_end", load_average())


def _subset(sim: Any, households: int) -> Any:
    import dataclasses

    return dataclasses.replace(
        sim,
        readings=sim.readings[:households],
        away=sim.away[:households],
        meters=sim.meters[:households],
    )


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run, for CI")
    parser.add_argument("--households", type=int, default=1000)
    parser.add_argument("--old-households", type=int, default=100)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--cadence-hours", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument(
        "--paths", default="batched,per_household", help="batched, per_household or both"
    )
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument(
        "--postgres-database", default=DATABASE, help="the scratch database's name (dropped)"
    )
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.households, args.old_households, args.days = 60, 20, 2
    args.old_households = min(args.old_households, args.households)
    return args


def section(args: argparse.Namespace) -> None:
    """Each database in a child process with its own data directory (Django reads its database
    once, at start-up) and a scratch database."""
    for database in args.databases.split(","):
        data_dir = Path(tempfile.mkdtemp(prefix=f"wellbeing-pipeline-{database}-"))
        env = os.environ.copy()
        env.update(
            CIVICHUB_DATA_DIR=str(data_dir),
            DJANGO_SETTINGS_MODULE="civichub.settings",
            CIVICHUB_LOG_LEVEL="WARNING",
            CIVICHUB_DB_POOL="0",  # one connection: its server backend's CPU is read
        )
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)  # tasks queued in the database, as on one machine
        try:
            with contextlib.ExitStack() as stack:
                if database == "postgres":
                    try:
                        env["DATABASE_URL"] = stack.enter_context(
                            postgres_database(args.postgres, args.postgres_database)
                        )
                    except Exception as exc:
                        line("pipeline_postgres", f"skipped ({type(exc).__name__}: {exc})")
                        continue
                command = [
                    sys.executable,
                    __file__,
                    "--measure",
                    database,
                    "--households",
                    str(args.households),
                    "--old-households",
                    str(args.old_households),
                    "--days",
                    str(args.days),
                    "--cadence-hours",
                    str(args.cadence_hours),
                    "--seed",
                    str(args.seed),
                    "--paths",
                    args.paths,
                ]
                subprocess.run(command, env=env, check=False)
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    args = arguments()
    if args.measure:
        measure(args.measure, args)
        return
    from benchmarks.common import cpu_model

    line("machine.cpu_model", cpu_model())
    line("machine.cpu_cores", len(os.sched_getaffinity(0)))
    line(
        "pipeline_setup",
        f"{args.households} households x {args.days} days, detection every "
        f"{args.cadence_hours:g} h of readings; per-household path on {args.old_households}",
    )
    section(args)


if __name__ == "__main__":
    main()
