"""Benchmarks for core: seeding the demo city, request throughput and latency of a page and the
API against a real server, and the cost of one permission check.

    python benchmarks/foundation.py [--database sqlite|postgres|both] [--size city|small] [--quick]

Prints `name: value` lines on stdout (progress goes to stderr). Each database gets its own
temporary data directory; PostgreSQL gets a benchmark database that is dropped at the end.
The web server is uvicorn with two worker processes; the load comes from this machine (8
keep-alive clients in threads), so the figures are for client and server sharing the cores.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import timeit
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (  # noqa: E402
    answers,
    free_port,
    line,
    load_average,
    migrate_database,
    note,
    percentile,
    postgres_database,
    print_machine,
)

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432"
BENCH_DATABASE = "civichub_bench"
CLIENTS = 8
SERVER_WORKERS = 2
READY_TIMEOUT = 90.0


# The machine -----------------------------------------------------------------------------------


# PostgreSQL benchmark database ---------------------------------------------------------------


def run_database(database: str, args: argparse.Namespace) -> int:
    """Runs one database's measurements in a child process: Django reads its database from the
    environment once, at start-up."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"civichub-bench-{database}-"))
    env = os.environ.copy()
    env.update(
        CIVICHUB_DATA_DIR=str(data_dir),
        DJANGO_SETTINGS_MODULE="civichub.settings",
        CIVICHUB_LOGIN_THROTTLING="0",
        CIVICHUB_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    env.pop("DATABASE_URL", None)
    command = [sys.executable, __file__, "--measure", database, "--size", args.size]
    command += ["--requests", str(args.requests), "--seconds", str(args.seconds)]
    command += ["--quick"] if args.quick else []
    try:
        with contextlib.ExitStack() as stack:
            if database == "postgres":
                env["DATABASE_URL"] = stack.enter_context(
                    postgres_database(args.postgres, BENCH_DATABASE)
                )
            return subprocess.run(command, env=env, check=False).returncode
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


# Inside the child: seed, permission check, load ---------------------------------------------


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(database: str, args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.db import connection, connections

    from civichub.core import demo

    prefix = database
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            line(f"{prefix}.server_version", cursor.fetchone()[0])
    else:
        import sqlite3

        line(f"{prefix}.server_version", sqlite3.sqlite_version)
    migrate_database()

    note(f"[{database}] seeding the demo city ({args.size})...")
    cpu_before, started = cpu_seconds(), time.perf_counter()
    summary = demo.seed_city(size=args.size, progress=sys.stderr.isatty())
    elapsed = time.perf_counter() - started
    line(f"{prefix}.seed_{args.size}_seconds", f"{elapsed:.1f}")
    line(f"{prefix}.seed_{args.size}_cpu_seconds", f"{cpu_seconds() - cpu_before:.1f}")
    line(f"{prefix}.seed_residents", summary.residents)
    line(f"{prefix}.seed_residents_per_second", f"{summary.residents / elapsed:.0f}")
    line(f"{prefix}.seed_organisations", summary.organisations)
    line(f"{prefix}.seed_accounts", summary.users)
    for phase, seconds in summary.phase_seconds.items():
        line(f"{prefix}.seed_phase.{phase}_seconds", f"{seconds:.1f}")
    line(f"{prefix}.database_size_mib", f"{database_size_mib():.0f}")

    permission_check(prefix, calls=1_000 if args.quick else 100_000)
    tokens = client_tokens()
    connections.close_all()
    load(prefix, tokens, args)


def database_size_mib() -> float:
    from django.conf import settings
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_database_size(current_database())")
            return float(cursor.fetchone()[0]) / 2**20
    name = Path(str(settings.DATABASES["default"]["NAME"]))
    files = [name, Path(f"{name}-wal")]
    return sum(p.stat().st_size for p in files if p.exists()) / 2**20


def permission_check(prefix: str, calls: int) -> None:
    """`allowed` for a community worker on a resident of their community (in scope) and of
    another community (out of scope): warm = roles cached on the user object, as within a
    request; cold = the roles are read from the database first, as on a request's first check."""
    from civichub.core import demo
    from civichub.core.models import Resident, User
    from civichub.core.permissions import allowed, clear_cache

    worker_login = next(x for x in demo.demo_logins() if x.username == "worker")
    user = User.objects.get(username=worker_login.username)
    mine = Resident.objects.select_related("community").filter(
        community__code=worker_login.organisation_code
    )[0]
    other = Resident.objects.select_related("community").exclude(community=mine.community)[0]
    action = "core.resident.view"
    assert allowed(user, action, mine) and not allowed(user, action, other)

    def per_call_us(statement: Any, number: int) -> float:
        best = min(timeit.repeat(statement, number=number, repeat=5))
        return best / number * 1e6

    warm = per_call_us(lambda: allowed(user, action, mine), calls)
    denied = per_call_us(lambda: allowed(user, action, other), calls)

    def cold_check() -> None:
        clear_cache(user)
        allowed(user, action, mine)

    cold = per_call_us(cold_check, max(calls // 50, 10))
    line(f"{prefix}.permission_check_warm_us", f"{warm:.2f}")
    line(f"{prefix}.permission_check_denied_warm_us", f"{denied:.2f}")
    line(f"{prefix}.permission_check_cold_us", f"{cold:.1f}")


def client_tokens() -> list[str]:
    """One API token per client, each for a community worker of a different community: the API
    throttles per account, and a real load comes from many accounts."""
    from civichub.core import services
    from civichub.core.models import RoleAssignment

    assignments = (
        RoleAssignment.objects.filter(role="community_worker")
        .select_related("user", "organisation")
        .order_by("organisation__code", "user__username")
    )
    seen: set[int] = set()
    tokens: list[str] = []
    for assignment in assignments:
        if assignment.organisation_id in seen:
            continue
        seen.add(assignment.organisation_id)
        tokens.append(services.api_token_create(actor=assignment.user, name="benchmark")[1])
        if len(tokens) == CLIENTS:
            break
    return tokens


@contextlib.contextmanager
def server() -> Iterator[int]:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "civichub.asgi:application"]
    command += ["--workers", str(SERVER_WORKERS), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--no-access-log", "--log-level", "warning", "--lifespan", "off"]
    process = subprocess.Popen(command, start_new_session=True)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the web server did not start")
            time.sleep(0.2)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0


def run_load(
    port: int, path: str, headers: list[dict[str, str]], requests: int, seconds: float
) -> LoadResult:
    """CLIENTS threads, each with one keep-alive connection, share a budget of `requests` and
    stop at `seconds` at the latest."""
    result = LoadResult()
    lock = threading.Lock()
    budget = [requests]
    deadline = time.perf_counter() + seconds

    def client(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        errors = 0
        try:
            while time.perf_counter() < deadline:
                with lock:
                    if budget[0] <= 0:
                        break
                    budget[0] -= 1
                started = time.perf_counter()
                try:
                    connection.request("GET", path, headers=headers[number % len(headers)])
                    response = connection.getresponse()
                    response.read()
                    ok = response.status == 200
                except (OSError, http.client.HTTPException):
                    ok = False
                    connection.close()
                mine.append(time.perf_counter() - started)
                errors += not ok
        finally:
            connection.close()
            with lock:
                result.latencies.extend(mine)
                result.errors += errors

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result


class SessionCounter:
    """On PostgreSQL, how many database sessions the server opened: whether the web server's
    processes keep their connections between requests or open one per request."""

    def __init__(self) -> None:
        self.url = os.environ.get("DATABASE_URL", "")
        self.enabled = self.url.startswith("postgres")
        self.conn: Any = None

    def __enter__(self) -> SessionCounter:
        if self.enabled:
            import psycopg

            self.conn = psycopg.connect(self.url, autocommit=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.conn is not None:
            self.conn.close()

    def count(self) -> int:
        if self.conn is None:
            return 0
        time.sleep(1.5)  # backends publish their statistics about once a second
        self.conn.execute("SELECT pg_stat_clear_snapshot()")
        row = self.conn.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        return int(row[0])


def load(prefix: str, tokens: list[str], args: argparse.Namespace) -> None:
    bearer = [{"Authorization": f"Bearer {t}"} for t in tokens]
    anonymous: list[dict[str, str]] = [{}]
    endpoints = [
        ("healthz", "/healthz", anonymous),
        ("login_page", "/accounts/login/", anonymous),
        ("api_me", "/api/me", bearer),
        ("api_residents", "/api/residents?purpose=benchmark&limit=20", bearer),
    ]
    line(f"{prefix}.load.clients", CLIENTS)
    line(f"{prefix}.load.server_workers", SERVER_WORKERS)
    medians: dict[str, float] = {}
    with server() as port, SessionCounter() as sessions:
        for name, path, headers in endpoints:
            note(f"[{prefix}] load on {path}...")
            run_load(port, path, headers, requests=min(200, args.requests), seconds=5)  # warm-up
            opened = sessions.count()
            result = run_load(port, path, headers, args.requests, args.seconds)
            count = len(result.latencies)
            opened = sessions.count() - opened
            if sessions.enabled:
                line(f"{prefix}.{name}.db_connections_opened_per_request", f"{opened / count:.2f}")
            medians[name] = percentile(result.latencies, 0.50) * 1000
            line(f"{prefix}.{name}.requests", count)
            line(f"{prefix}.{name}.errors", result.errors)
            line(f"{prefix}.{name}.requests_per_second", f"{count / result.seconds:.0f}")
            line(f"{prefix}.{name}.p50_ms", f"{medians[name]:.2f}")
            line(f"{prefix}.{name}.p99_ms", f"{percentile(result.latencies, 0.99) * 1000:.2f}")
    # What the framework, authentication and the endpoint add over the trivial baseline.
    for name in ("login_page", "api_me", "api_residents"):
        line(f"{prefix}.{name}.p50_over_healthz_ms", f"{medians[name] - medians['healthz']:.2f}")


# Entry point -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--size", choices=["small", "city"], default="city")
    parser.add_argument(
        "--quick", action="store_true", help="small city and few requests: a smoke test"
    )
    parser.add_argument("--requests", type=int, default=None, help="per endpoint")
    parser.add_argument("--seconds", type=float, default=None, help="at most, per endpoint")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="server URL, no database")
    parser.add_argument("--measure", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.size = "small"
    if args.requests is None:
        args.requests = 30 if args.quick else 20_000
    if args.seconds is None:
        args.seconds = 1.0 if args.quick else 15.0

    if args.measure:
        measure(args.measure, args)
        return 0

    print_machine(sqlite=True)
    line("run.size", args.size)
    line("run.requests_per_endpoint_max", args.requests)
    line("run.seconds_per_endpoint_max", args.seconds)
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    failed = 0
    for database in databases:
        if run_database(database, args) != 0:
            note(f"[{database}] failed")
            failed += 1
    line("machine.load_average_end", load_average())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
