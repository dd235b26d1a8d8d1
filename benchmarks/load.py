"""Load test of the whole platform as a city deploys it: several `civichub serve` processes and a
worker behind nginx (TLS with a certificate made for the run), on PostgreSQL and Redis, driven by
locust (headless) with a mix of residents, staff and one publisher (`load_locustfile.py`).

    python benchmarks/load.py                 # 50, 200 and 500 concurrent users, 60 s each
    python benchmarks/load.py --quick         # 20 users for 20 s: the smoke run CI does
    python benchmarks/load.py --users 100 --seconds 30 --servers 2 --workers 2

Prints `name: value` lines on stdout (progress on stderr): the machine, the database, then for
each number of users the requests per second, errors, p50 and p99 overall and per page, and the
messages acknowledged against those stored. The target is p99 <= 500 ms and no error at 500
users. nginx forwards the client's address and scheme; civichub believes them from 127.0.0.1
only (CIVICHUB_TRUSTED_PROXIES). The database `civichub_load` (`--database`) is created and
dropped; Redis database 5 (`--redis`) is emptied before and after. Load generator, proxy,
servers and databases share this machine's cores: compare runs from the same machine only.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import pwd
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (  # noqa: E402
    answers,
    free_port,
    line,
    load_average,
    note,
    postgres_database,
    print_machine,
)

ROOT = Path(__file__).resolve().parent.parent
NGINX_SITE = ROOT / "docs" / "nginx.conf"
LOCUSTFILE = Path(__file__).resolve().parent / "load_locustfile.py"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432"
DEFAULT_REDIS = "redis://127.0.0.1:6379/5"
DATABASE = "civichub_load"
READY_TIMEOUT = 120.0
RESIDENT_ACCOUNTS = 100
TARGET_P99_MS = 500.0
TARGET_USERS = 500


# The world the users act in ------------------------------------------------------------------


def setup_world() -> None:
    """Run in a child with the deployment's environment: seeds the small demo city and prints
    what the users need (tokens, the Open311 key, handles, the district) as JSON."""
    import django

    django.setup()
    from civichub.broadcast.models import BroadcastAccount
    from civichub.casework.models import Case, Category
    from civichub.casework.open311.keys import open311_key_create
    from civichub.core import demo, services
    from civichub.core.context import acting
    from civichub.core.models import Organisation, RoleAssignment, User

    with acting(channel="cli"):
        demo.seed_city(size="small", progress=False)
        residents = []
        for number in range(RESIDENT_ACCOUNTS):
            user = services.user_create(
                actor=None,
                username=f"load-resident-{number}",
                password=None,
                phone=f"139{number:08d}",
                validate=False,
            )
            residents.append(services.api_token_create(actor=user, name="load test")[1])
        staff_roles = ("case_dispatcher", "department_handler", "department_head")
        staff_ids = sorted(
            set(
                RoleAssignment.objects.filter(role__in=staff_roles).values_list(
                    "user_id", flat=True
                )
            )
        )[:20]
        staff = [
            services.api_token_create(actor=User.objects.get(pk=pk), name="load test")[1]
            for pk in staff_ids
        ]
        publisher = User.objects.get(username="publisher")
        district_account = BroadcastAccount.objects.filter(organisation__kind="district").order_by(
            "pk"
        )[0]
        district = Organisation.objects.get(pk=district_account.organisation_id)
        category = (
            Category.objects.exclude(attributes__required=True).order_by("order", "pk").first()
        )
        assert category is not None, "the demo city has a category without required questions"
        _key, open311_key = open311_key_create(actor=None, name="load test")
        tracking = list(Case.objects.order_by("pk").values_list("tracking_number", flat=True)[:200])
        world = {
            "resident_tokens": residents,
            "staff_tokens": staff,
            "publisher_token": services.api_token_create(actor=publisher, name="load test")[1],
            "handles": list(BroadcastAccount.objects.values_list("handle", flat=True)),
            "district_handle": district_account.handle,
            "district_id": district.pk,
            "open311_key": open311_key,
            "service_code": category.key,
            "lat": 30.0,
            "long": 120.0,
            "tracking_numbers": tracking,
        }
    print("WORLD " + json.dumps(world))


# Processes -------------------------------------------------------------------------------------


def civichub_command(*args: str) -> list[str]:
    return [sys.executable, "-c", "from civichub.cli import main; main()", *args]


@contextlib.contextmanager
def started(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A child in its own process group, its output in `log`; stopped with SIGTERM (SIGKILL
    after 30 s) at the end."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_until(check: Any, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while not check():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.3)


def test_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost, made for this run."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return cert, key


def nginx_config(directory: Path, ports: list[int], https: int, http: int) -> Path:
    """docs/nginx.conf with this run's ports, certificate and name, inside a main configuration
    that keeps nginx's files in `directory`."""
    cert, key = test_certificate(directory)
    site = NGINX_SITE.read_text()
    upstreams = "".join(f"    server 127.0.0.1:{p} max_fails=3 fail_timeout=10s;\n" for p in ports)
    site = re.sub(r"(    server 127\.0\.0\.1:\d+ [^\n]*\n)+", lambda _m: upstreams, site)
    site = re.sub(r"\n\s*listen \[::\]:\d+[^\n]*;", "", site)
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http};")
    site = site.replace("listen 443 ssl", f"listen 127.0.0.1:{https} ssl")
    site = site.replace("server_name gov.example.cn;", "server_name localhost;")
    site = site.replace("/etc/ssl/civichub/fullchain.pem", str(cert))
    site = site.replace("/etc/ssl/civichub/privkey.pem", str(key))
    site = site.replace("/var/cache/nginx/civichub", str(directory / "cache"))
    temp = "\n".join(
        f"    {kind}_temp_path {directory / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    config = directory / "nginx.conf"
    config.write_text(
        f"user {pwd.getpwuid(os.geteuid()).pw_name};\n"
        "worker_processes 1;\n"
        "worker_rlimit_nofile 16384;\n"
        f"pid {directory / 'nginx.pid'};\n"
        f"error_log {directory / 'nginx-error.log'} warn;\n"
        "events { worker_connections 8192; }\n"
        "http {\n"
        "    access_log off;\n"
        f"{temp}\n"
        f"{site}\n"
        "}\n"
    )
    return config


def nginx_answers(port: int) -> bool:
    context = __import__("ssl").create_default_context()
    context.check_hostname = False
    context.verify_mode = 0
    try:
        with urllib.request.urlopen(
            f"https://localhost:{port}/healthz", timeout=2, context=context
        ):
            return True
    except OSError:
        return False


def _cache_status(port: int, path: str, headers: dict[str, str]) -> str:
    """nginx's X-Cache-Status for a GET through the proxy (HIT, MISS, BYPASS, ...)."""
    context = __import__("ssl").create_default_context()
    context.check_hostname = False
    context.verify_mode = 0
    request = urllib.request.Request(f"https://localhost:{port}{path}", headers=headers)
    with urllib.request.urlopen(request, timeout=10, context=context) as response:
        response.read()
        return str(response.headers.get("X-Cache-Status", "none"))


def check_micro_cache(port: int, world: dict[str, Any]) -> bool:
    """The micro-cache through the run's nginx: a visitor's second read of a public page comes
    from the cache; a request with a bearer token or a session cookie, and a page that did not
    ask to be shared, never do. Prints each second read's status; True when one is wrong."""
    bearer = {"Authorization": f"Bearer {world['resident_tokens'][0]}"}
    cases = [
        ("visitor_board_page", "/messages/board/", {}, True),
        ("visitor_board_api", "/api/casework/board?limit=20", {}, True),
        ("visitor_broadcast_home", "/broadcast/", {}, True),
        ("bearer_board_api", "/api/casework/board?limit=20", bearer, False),
        ("bearer_own_messages", "/api/casework/cases/mine", bearer, False),
        ("session_board_page", "/messages/board/", {"Cookie": "sessionid=anything"}, False),
        ("visitor_login_page", "/accounts/login/", {}, False),
    ]
    wrong = False
    for name, path, headers, shared in cases:
        _cache_status(port, path, headers)
        status = _cache_status(port, path, headers)
        line(f"load.micro_cache.{name}", status)
        wrong |= (status == "HIT") != shared
    return wrong


# Measuring ------------------------------------------------------------------------------------


def case_counts(database_url: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT channel, count(*) FROM casework_case GROUP BY channel")
        return {str(channel): int(count) for channel, count in rows.fetchall()}


def _cpu_of(stat: Path) -> tuple[int, int, float]:
    """(pid, process group, CPU seconds: user + system) from /proc/<pid>/stat."""
    fields = stat.read_text().rsplit(")", 1)[1].split()  # after the name: state, ppid, pgrp, ...
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return int(stat.parent.name), int(fields[2]), ticks / os.sysconf("SC_CLK_TCK")


def group_cpu_seconds(groups: list[int]) -> float:
    """CPU time (user + system) of the live processes in the given process groups: the web
    servers' masters and workers. With other work on the machine, CPU per request is the figure
    that does not depend on how much of the cores the servers got."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            _pid, group, seconds = _cpu_of(stat)
            if group in groups:
                total += seconds
    return total


def pids_cpu_seconds(pids: list[int]) -> dict[int, float]:
    """CPU time of each of the given processes that is still alive."""
    result = {}
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            result[pid] = _cpu_of(Path(f"/proc/{pid}/stat"))[2]
    return result


def database_backends(database_url: str) -> list[int]:
    """The PostgreSQL server processes serving the run's database (the servers' pools and
    the worker's connections); on this machine, so their CPU can be read."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(row[0]) for row in rows]


class CpuMeter:
    """CPU seconds spent during a round by each part of the deployment on this machine: the
    web servers, the task worker, nginx, the database's server processes for the run's database
    (those alive at the end of the round) and locust itself. Each part's idle use, measured
    before the first round, is subtracted from the servers' figure, so that what is left is the
    cost of the requests."""

    IDLE_SECONDS = 3.0
    IDLE_WINDOWS = 4

    def __init__(self, groups: dict[str, list[int]], database_url: str) -> None:
        self.groups = groups
        self.database_url = database_url
        self.idle: dict[str, float] = {}

    def read(self) -> dict[str, Any]:
        reading: dict[str, Any] = {
            part: group_cpu_seconds(groups) for part, groups in self.groups.items()
        }
        reading["database"] = pids_cpu_seconds(database_backends(self.database_url))
        reading["at"] = time.monotonic()
        return reading

    def measure_idle(self) -> None:
        """Each part's least use over a few windows: the processes just started (a server's
        second worker still importing, the task worker finishing the seeding's tasks) settle
        in the first ones."""
        windows = []
        for _ in range(self.IDLE_WINDOWS):
            before = self.read()
            time.sleep(self.IDLE_SECONDS)
            windows.append(self.rates(before, self.read()))
        self.idle = {part: min(w[part] for w in windows) for part in windows[0]}

    @staticmethod
    def used(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
        result = {
            part: after[part] - before[part] for part in before if part not in ("at", "database")
        }
        result["database"] = sum(
            seconds - before["database"].get(pid, 0.0) for pid, seconds in after["database"].items()
        )
        return result

    def rates(self, before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
        seconds = max(after["at"] - before["at"], 1e-6)
        return {part: used / seconds for part, used in self.used(before, after).items()}


def report_cpu(
    prefix: str, used: dict[str, float], idle: dict[str, float], seconds: float, requests: int
) -> None:
    """CPU milliseconds per request of each part, net of its idle use; and the requests per
    second two quiet cores would carry at these costs, for the web servers alone and for the
    whole deployment on one machine (servers, worker, nginx, database, not locust)."""
    count = max(requests, 1)
    net = {part: max(used[part] - idle.get(part, 0.0) * seconds, 0.0) for part in used}
    line(f"{prefix}.server_cpu_ms_per_request", f"{used['servers'] * 1000 / count:.1f}")
    for part in ("servers", "worker", "nginx", "database"):
        line(f"{prefix}.cpu_ms_per_request_net_of_idle.{part}", f"{net[part] * 1000 / count:.2f}")
    # locust's whole run, its start (imports, spawning the users) included.
    line(f"{prefix}.locust_cpu_seconds", f"{used['locust']:.1f}")
    stack = sum(net[part] for part in ("servers", "worker", "nginx", "database"))
    if net["servers"] > 0:
        line(
            f"{prefix}.capacity_on_2_quiet_cores.servers_alone", f"{2 * count / net['servers']:.0f}"
        )
    if stack > 0:
        line(f"{prefix}.capacity_on_2_quiet_cores.deployment", f"{2 * count / stack:.0f}")


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def run_locust(
    users: int, seconds: int, https: int, world: Path, directory: Path, processes: int = 1
) -> Path:
    prefix = directory / f"locust-{users}"
    env = os.environ.copy()
    env.update(CIVICHUB_LOAD_WORLD=str(world), CIVICHUB_LOAD_SECONDS=str(seconds))
    spawn_rate = max(1, users // 10)
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"]
    command += ["--users", str(users), "--spawn-rate", str(spawn_rate), "--run-time", f"{seconds}s"]
    command += ["--host", f"https://localhost:{https}", "--csv", str(prefix), "--only-summary"]
    command += ["--stop-timeout", "10", "--exit-code-on-error", "0", "--loglevel", "WARNING"]
    if processes > 1:  # locust forks workers: one process is one core at most
        command += ["--processes", str(processes)]
    with (directory / f"locust-{users}.log").open("wb") as out:
        subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, check=True)
    return Path(f"{prefix}_stats.csv")


def report(users: int, stats: Path, seconds: int) -> tuple[int, float]:
    """Prints one round's lines; returns its errors and overall p99 (ms)."""
    rows = list(csv.DictReader(stats.open(encoding="utf-8")))
    prefix = f"load.users_{users}"
    errors, p99 = 0, 0.0
    for row in rows:
        name = "all" if row["Name"] == "Aggregated" else f"page.{slug(row['Name'])}"
        line(f"{prefix}.{name}.requests", row["Request Count"])
        line(f"{prefix}.{name}.errors", row["Failure Count"])
        line(f"{prefix}.{name}.requests_per_second", f"{float(row['Requests/s']):.1f}")
        line(f"{prefix}.{name}.p50_ms", row["50%"])
        line(f"{prefix}.{name}.p99_ms", row["99%"])
        if row["Name"] == "Aggregated":
            errors, p99 = int(row["Failure Count"]), float(row["99%"] or 0)
    line(f"{prefix}.seconds", seconds)
    return errors, p99


def failures(directory: Path, users: int) -> None:
    """The first failures of a round, on stderr, so that an error can be told apart."""
    path = directory / f"locust-{users}_failures.csv"
    if path.exists():
        for row in list(csv.DictReader(path.open(encoding="utf-8")))[:10]:
            note(
                f"  failure: {row.get('Method')} {row.get('Name')}: {row.get('Error')}"
                f" ×{row.get('Occurrences')}"
            )


# The run ---------------------------------------------------------------------------------------


def deployment_env(directory: Path, database_url: str, redis_url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CIVICHUB_TEST_DATABASE_URL", "CIVICHUB_TASK_BACKEND", "CIVICHUB_TESTING")
    }
    env.update(
        CIVICHUB_DATA_DIR=str(directory / "data"),
        DJANGO_SETTINGS_MODULE="civichub.settings",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CIVICHUB_PRODUCTION="1",
        CIVICHUB_SECRET_KEY=secrets.token_urlsafe(48),
        CIVICHUB_ALLOWED_HOSTS="localhost,127.0.0.1",
        CIVICHUB_TRUSTED_PROXIES="127.0.0.1",
        CIVICHUB_HSTS_SECONDS="0",
        CIVICHUB_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    )
    return env


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def run(args: argparse.Namespace) -> int:
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        note("nginx is not installed (Debian: apt-get install nginx)")
        return 2
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    directory = Path(tempfile.mkdtemp(prefix="civichub-load-"))
    (directory / "data").mkdir()
    failed = False
    try:
        with postgres_database(args.postgres, args.database) as database_url:
            flush_redis(args.redis)
            env = deployment_env(directory, database_url, args.redis)
            import psycopg

            with psycopg.connect(database_url) as conn:
                version = conn.execute("SHOW server_version").fetchone()
            line("load.database", f"PostgreSQL {version[0] if version else 'unknown'}")
            line("load.cache_and_queue", "Redis (django-redis, RQ)")
            line(
                "load.proxy",
                subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip(),
            )
            line("load.servers", f"{args.servers} × civichub serve --workers {args.workers}")
            line("load.task_workers", 1)
            line("load.locust_processes", args.locust_processes)
            note("[load] migrating and seeding the small demo city...")
            subprocess.run(civichub_command("migrate", "--verbosity", "0"), env=env, check=True)
            subprocess.run(
                civichub_command("collectstatic", "--noinput", "--verbosity", "0"),
                env=env,
                check=True,
            )
            setup = subprocess.run(
                [sys.executable, __file__, "--setup"], env=env, capture_output=True, text=True
            )
            if setup.returncode != 0:
                raise RuntimeError(f"seeding failed:\n{setup.stderr[-3000:]}")
            world = directory / "world.json"
            world.write_text(setup.stdout.split("WORLD ", 1)[1])
            failed = drive(args, env, directory, world, database_url, nginx)
    finally:
        with contextlib.suppress(Exception):
            flush_redis(args.redis)
        if args.keep:
            note(f"[load] kept {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)
    line("machine.load_average_end", load_average())
    return 1 if failed else 0


def drive(
    args: argparse.Namespace,
    env: dict[str, str],
    directory: Path,
    world: Path,
    database_url: str,
    nginx: str,
) -> bool:
    if args.first_port:  # consecutive ports from the one given: servers, then https and http
        numbers = list(range(args.first_port, args.first_port + args.servers + 2))
    else:
        numbers = [free_port() for _ in range(args.servers + 2)]
    ports, (https, http) = numbers[: args.servers], numbers[args.servers :]
    failed = False
    groups: list[int] = []
    with contextlib.ExitStack() as stack:
        for number, port in enumerate(ports):
            command = civichub_command(
                "serve", "--port", str(port), "--workers", str(args.workers), "--no-collectstatic"
            )
            process = stack.enter_context(started(command, env, directory / f"serve-{number}.log"))
            wait_until(lambda port=port: answers(port), process, f"civichub serve on {port}")
            groups.append(process.pid)
        worker = stack.enter_context(
            started(civichub_command("worker"), env, directory / "worker.log")
        )
        config = nginx_config(directory, ports, https, http)
        proxy = stack.enter_context(
            started([nginx, "-c", str(config), "-g", "daemon off;"], env, directory / "nginx.log")
        )
        wait_until(lambda: nginx_answers(https), proxy, "nginx")
        failed |= check_micro_cache(https, json.loads(world.read_text()))
        meter = CpuMeter(
            {"servers": groups, "worker": [worker.pid], "nginx": [proxy.pid]}, database_url
        )
        meter.measure_idle()
        for part in ("servers", "worker", "nginx", "database"):
            line(f"load.idle_cpu_ms_per_second.{part}", f"{meter.idle[part] * 1000:.1f}")
        for users in args.users:
            note(f"[load] {users} users for {args.seconds} s...")
            before = case_counts(database_url)
            line(f"load.users_{users}.load_average_before", load_average())
            cpu_before = meter.read()
            locust_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            stats = run_locust(users, args.seconds, https, world, directory, args.locust_processes)
            locust_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu_after = meter.read()
            line(f"load.users_{users}.load_average_after", load_average())
            errors, p99 = report(users, stats, args.seconds)
            requests = sum(
                int(r["Request Count"])
                for r in csv.DictReader(stats.open(encoding="utf-8"))
                if r["Name"] == "Aggregated"
            )
            used = meter.used(cpu_before, cpu_after)
            used["locust"] = (locust_after.ru_utime + locust_after.ru_stime) - (
                locust_before.ru_utime + locust_before.ru_stime
            )
            report_cpu(
                f"load.users_{users}",
                used,
                meter.idle,
                cpu_after["at"] - cpu_before["at"],
                requests,
            )
            time.sleep(2)  # the last intakes commit
            after = case_counts(database_url)
            rows = {r["Name"]: r for r in csv.DictReader(stats.open(encoding="utf-8"))}
            for channel, page in (
                ("api", "api: send a message"),
                ("open311", "open311: send a request"),
            ):
                row = rows.get(page)
                acknowledged = int(row["Request Count"]) - int(row["Failure Count"]) if row else 0
                stored = after.get(channel, 0) - before.get(channel, 0)
                line(f"load.users_{users}.messages.{channel}.acknowledged", acknowledged)
                line(f"load.users_{users}.messages.{channel}.stored", stored)
                failed |= stored < acknowledged
            if errors:
                failures(directory, users)
                failed = True
            if users == TARGET_USERS:
                met = errors == 0 and p99 <= TARGET_P99_MS
                line(
                    "load.target", f"{TARGET_USERS} users: p99 <= {TARGET_P99_MS:.0f} ms, 0 errors"
                )
                line("load.target_met", "yes" if met else "no")
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 users for 20 s: a smoke run")
    parser.add_argument("--users", type=int, nargs="+", default=None, help="rounds of N users")
    parser.add_argument("--seconds", type=int, default=None, help="length of each round")
    parser.add_argument("--servers", type=int, default=None, help="civichub serve processes")
    parser.add_argument("--workers", type=int, default=None, help="worker processes per server")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="server URL, no database")
    parser.add_argument("--database", default=DATABASE, help="name of the run's own database")
    parser.add_argument("--redis", default=DEFAULT_REDIS, help="a Redis database of the run's own")
    parser.add_argument("--keep", action="store_true", help="keep the run's directory and logs")
    parser.add_argument(
        "--locust-processes", type=int, default=1, help="locust processes (default: 1)"
    )
    parser.add_argument(
        "--first-port", type=int, default=None, help="listen on ports from this one (default: free)"
    )
    parser.add_argument("--setup", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup:
        setup_world()
        return 0
    args.users = args.users or ([20] if args.quick else [50, 200, 500])
    args.seconds = args.seconds or (20 if args.quick else 60)
    args.servers = args.servers or (2 if args.quick else 3)
    args.workers = args.workers or (1 if args.quick else 2)
    print_machine()
    line("run.users", " ".join(str(u) for u in args.users))
    line("run.seconds_per_round", args.seconds)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
