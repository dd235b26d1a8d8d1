"""What every benchmark script shares: `name: value` output, the machine it ran on, a scratch
PostgreSQL database, and the small helpers for driving a live server on localhost."""

from __future__ import annotations

import contextlib
import http.client
import os
import platform
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


def line(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                return row.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def memory_gib() -> str:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for row in Path("/proc/meminfo").read_text().splitlines():
            if row.startswith("MemTotal:"):
                return f"{int(row.split()[1]) / 1024**2:.1f}"
    return "unknown"


def load_average() -> str:
    with contextlib.suppress(OSError):
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    return "unknown"


def print_machine(*, sqlite: bool = False) -> None:
    """The machine lines every script starts with; the load average shows how busy it was."""
    import django

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    line("machine.cpu_model", cpu_model())
    line("machine.cpu_cores", cores)
    line("machine.memory_gib", memory_gib())
    line("machine.os", platform.platform())
    line("machine.python", platform.python_version())
    line("machine.django", django.get_version())
    if sqlite:
        import sqlite3

        line("machine.sqlite_version", sqlite3.sqlite_version)
    line("machine.load_average_start", load_average())


@contextlib.contextmanager
def postgres_database(server_url: str, name: str) -> Iterator[str]:
    """A fresh, migrated database for the run, dropped afterwards.
    `CIVICHUB_BENCH_DATABASE_SUFFIX` is appended to its name, so that two runs at once (the
    quick runs of the test suite beside a full run) do not drop each other's database."""
    import psycopg

    from civichub.testing.migrated import create_migrated_postgres

    suffix = os.environ.get("CIVICHUB_BENCH_DATABASE_SUFFIX", "")
    if suffix and not suffix.replace("_", "").isalnum():
        raise ValueError(f"CIVICHUB_BENCH_DATABASE_SUFFIX: letters, digits and _ only: {suffix!r}")
    name += suffix.lower()

    # Migrated already: a copy of the migrated template of this code (civichub.testing.migrated),
    # so the run's own `migrate` finds nothing to do instead of spending a minute of CPU.
    create_migrated_postgres(server_url, name)
    try:
        yield f"{server_url}/{name}"
    finally:
        with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def run_measuring_child(
    command: list[str],
    env: dict[str, str],
    *,
    database: str,
    postgres: str,
    name: str,
    data_dir: str | Path,
) -> int:
    """Runs a benchmark's measuring child on `database` ("sqlite" or "postgres") and returns its
    exit status: on PostgreSQL with DATABASE_URL naming a fresh database `name` on the server
    `postgres` (dropped afterwards); the child's data directory is removed afterwards."""
    try:
        with contextlib.ExitStack() as stack:
            if database == "postgres":
                env["DATABASE_URL"] = stack.enter_context(postgres_database(postgres, name))
            return subprocess.run(command, env=env, check=False).returncode
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def free_port() -> int:
    """A free local port: the first free one in `CIVICHUB_BENCH_PORTS` ("first-last") when set
    (a machine that gives each run its own range), else any the system picks."""
    first, _, last = os.environ.get("CIVICHUB_BENCH_PORTS", "").partition("-")
    candidates = range(int(first), int(last or first) + 1) if first else range(0, 1)
    for candidate in candidates:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise RuntimeError(f"no free port in CIVICHUB_BENCH_PORTS={first}-{last}")


def answers(port: int) -> bool:
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        client.request("GET", "/healthz")
        return client.getresponse().status == 200
    except OSError:
        return False
    finally:
        client.close()


def backend_cpu_seconds() -> float | None:
    """CPU seconds so far of this process's PostgreSQL backend (the server runs on this
    machine and /proc shows its process); None on SQLite, which works inside this process, or
    when /proc does not show the server."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def migrate_database() -> str:
    """Brings the run's database (Django set up) up to date, and says how: a fresh SQLite file
    becomes a copy of the migrated template (`civichub.core.demo.template`), a database with
    nothing left to apply (PostgreSQL's, made by `postgres_database` from the migrated template)
    is left as it is, anything else is migrated."""
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor

    from civichub.core.demo.template import database_migrate

    if connections["default"].vendor == "sqlite":
        return database_migrate()
    executor = MigrationExecutor(connections["default"])
    if not executor.migration_plan(executor.loader.graph.leaf_nodes()):
        return "up to date"
    return database_migrate()
