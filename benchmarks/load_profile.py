"""Where the server's CPU goes, page by page, for the mix of `load.py`: each page of
`load_locustfile.py` requested in this process through Django's handler (all middleware, no
network, no proxy), with the CPU time and the database queries of each request.

    python benchmarks/load_profile.py                  # 40 requests of each page
    python benchmarks/load_profile.py --profile 25     # and the 25 costliest functions
    python benchmarks/load_profile.py --quick          # 3 requests of each page: a smoke run

Prints `name: value` lines: per page the CPU milliseconds and queries per request (median and
mean), then the mix's mean CPU per request weighted as locust weighs the tasks, and what that
allows on two cores. The database `civichub_load_profile` (`--database`) is created, seeded
with the small demo city as `load.py` seeds it, and dropped; Redis database 6 (`--redis`) is the
cache and is emptied before and after. CPU time is this process's own: other work on the
machine slows the wall clock, hardly the CPU figures.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import line, load_average, note, postgres_database, print_machine  # noqa: E402
from benchmarks.load import civichub_command, deployment_env, flush_redis  # noqa: E402

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432"
DEFAULT_REDIS = "redis://127.0.0.1:6379/6"
DATABASE = "civichub_load_profile"
# Weights as in load_locustfile.py: Resident (weight 12) tasks, Staff (weight 2) tasks; each
# user's wait is alike (a few seconds), so a page's share is its user weight × task weight over
# the class's task total.
RESIDENT_WEIGHT, STAFF_WEIGHT = 12, 2


def pages(world: dict[str, Any]) -> list[tuple[str, float, Callable[[Any, int], Any]]]:
    """(name, share of the mix, request) for each page; `request(client, n)` makes one."""
    resident = {"HTTP_AUTHORIZATION": f"Bearer {world['resident_tokens'][0]}"}
    staff = {"HTTP_AUTHORIZATION": f"Bearer {world['staff_tokens'][0]}"}
    handles = world["handles"]
    tracking = world["tracking_numbers"]
    resident_tasks = {
        "page: message board": (4, lambda c, n: c.get("/messages/board/")),
        "api: message board": (3, lambda c, n: c.get("/api/casework/board?limit=20")),
        # Anonymous: the public posts page, which the micro-cache shares between visitors.
        "page: broadcast home": (4, lambda c, n: c.get("/broadcast/")),
        "feed: account (Atom)": (
            3,
            lambda c, n: c.get(f"/broadcast/@{handles[n % len(handles)]}/feed.atom"),
        ),
        "api: home feed": (3, lambda c, n: c.get("/api/broadcast/home", **resident)),
        "api: my messages": (2, lambda c, n: c.get("/api/casework/cases/mine", **resident)),
        "api: send a message": (
            1,
            lambda c, n: c.post(
                "/api/casework/cases",
                data=json.dumps(
                    {
                        "kind": "complaint",
                        "title": "路灯不亮",
                        "text": f"幸福路第 {n} 号门口的路灯连续三晚不亮，夜里行人看不清路。",
                        "is_public": n % 2 == 0,
                        "address": f"幸福路 {n} 号",
                    }
                ),
                content_type="application/json",
                **resident,
            ),
        ),
        "open311: send a request": (
            1,
            lambda c, n: c.post(
                "/open311/v2/requests.json",
                data={
                    "api_key": world["open311_key"],
                    "service_code": world["service_code"],
                    "lat": f"{world['lat'] + (n % 50) * 1e-4:.6f}",
                    "long": f"{world['long'] + (n % 37) * 1e-4:.6f}",
                    "description": f"第 {n} 号楼前的路面有坑，请尽快修补。",
                    "email": f"reporter{n}@example.org",
                },
            ),
        ),
    }
    staff_tasks = {
        "api: staff inbox": (4, lambda c, n: c.get("/api/casework/cases?limit=50", **staff)),
        "api: staff opens a case": (
            3,
            lambda c, n: c.get(
                f"/api/casework/cases/{tracking[n % len(tracking)]}?purpose=处理诉求", **staff
            ),
        ),
    }
    # Residents wait 1-5 s (mean 3), staff 2-6 s (mean 4): requests per user differ too.
    resident_rate, staff_rate = RESIDENT_WEIGHT / 3.0, STAFF_WEIGHT / 4.0
    total = resident_rate + staff_rate
    result = []
    for tasks, rate in ((resident_tasks, resident_rate), (staff_tasks, staff_rate)):
        weights = sum(w for w, _ in tasks.values())
        for name, (weight, request) in tasks.items():
            result.append((name, rate / total * weight / weights, request))
    return result


def measure(world_path: Path, count: int, profile_rows: int) -> None:
    """In a child with the deployment's environment: requests each page `count` times."""
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    world = json.loads(world_path.read_text())
    client = Client(
        SERVER_NAME="localhost", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="127.0.0.1"
    )
    profiler = cProfile.Profile() if profile_rows else None
    mix_cpu = 0.0
    mix_queries = 0.0
    number = random.randint(10_000, 10_000_000)
    for name, share, request in pages(world):
        for _ in range(3):  # warm: imports, template loading, the first cache fill
            number += 1
            request(client, number)
        cpu, queries, wall = [], [], []
        for _ in range(count):
            number += 1
            with CaptureQueriesContext(connection) as captured:
                started_cpu, started = time.process_time(), time.perf_counter()
                response = request(client, number)
                cpu.append((time.process_time() - started_cpu) * 1000)
                wall.append((time.perf_counter() - started) * 1000)
            queries.append(len(captured.captured_queries))
            # A case outside the member of staff's scope is a correct refusal, as in the run.
            if response.status_code >= 400 and response.status_code not in (403, 404):
                raise RuntimeError(f"{name}: {response.status_code} {response.content[:300]!r}")
        if profiler:  # apart from the timing: the profiler multiplies the CPU time
            for _ in range(count):
                number += 1
                profiler.enable()
                request(client, number)
                profiler.disable()
        key = name.replace(": ", ".").replace(" ", "_").replace("(", "").replace(")", "").lower()
        line(f"profile.{key}.share_of_mix", f"{share:.3f}")
        line(f"profile.{key}.cpu_ms_median", f"{statistics.median(cpu):.2f}")
        line(f"profile.{key}.cpu_ms_mean", f"{statistics.fmean(cpu):.2f}")
        line(f"profile.{key}.wall_ms_median", f"{statistics.median(wall):.2f}")
        line(f"profile.{key}.queries_median", f"{statistics.median(queries):.0f}")
        mix_cpu += share * statistics.fmean(cpu)
        mix_queries += share * statistics.fmean(queries)
    line("profile.mix.cpu_ms_per_request", f"{mix_cpu:.2f}")
    line("profile.mix.queries_per_request", f"{mix_queries:.2f}")
    line("profile.mix.requests_per_second_on_2_cores", f"{2000 / mix_cpu:.0f}")
    if profiler:
        note("[profile] costliest functions (cumulative, over all measured requests):")
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(profile_rows)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(profile_rows)


@contextlib.contextmanager
def kept_database(args: argparse.Namespace) -> Iterator[str]:
    """The run's database, dropped at the end unless --keep."""
    if not args.keep:
        with postgres_database(args.postgres, args.database) as url:
            yield url
        return
    import psycopg

    with psycopg.connect(f"{args.postgres}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {args.database}")
    yield f"{args.postgres}/{args.database}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 requests per page: a smoke run")
    parser.add_argument("--requests", type=int, default=40, help="measured requests per page")
    parser.add_argument("--profile", type=int, default=0, help="print the N costliest functions")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="server URL, no database")
    parser.add_argument("--database", default=DATABASE, help="name of the run's own database")
    parser.add_argument("--redis", default=DEFAULT_REDIS, help="a Redis database of the run's own")
    parser.add_argument("--keep", action="store_true", help="keep the database and directory")
    parser.add_argument("--reuse", type=Path, help="measure again in a directory --keep kept")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    count = 3 if args.quick else args.requests
    if args.measure:
        measure(args.measure, count, args.profile)
        return 0
    print_machine()
    if args.reuse:
        env = json.loads((args.reuse / "env.json").read_text())
        flush_redis(env["REDIS_URL"])
        command = [sys.executable, __file__, "--measure", str(args.reuse / "world.json")]
        command += ["--requests", str(count), "--profile", str(args.profile)]
        subprocess.run(command, env=env, check=True)
        line("machine.load_average_end", load_average())
        return 0
    directory = Path(tempfile.mkdtemp(prefix="civichub-load-profile-"))
    (directory / "data").mkdir()
    try:
        with kept_database(args) as database_url:
            flush_redis(args.redis)
            env = deployment_env(directory, database_url, args.redis)
            line("profile.database", "PostgreSQL")
            line("profile.cache", "Redis")
            note("[profile] migrating and seeding the small demo city...")
            subprocess.run(civichub_command("migrate", "--verbosity", "0"), env=env, check=True)
            subprocess.run(
                civichub_command("collectstatic", "--noinput", "--verbosity", "0"),
                env=env,
                check=True,
            )
            load = str(Path(__file__).resolve().parent / "load.py")
            setup = subprocess.run(
                [sys.executable, load, "--setup"], env=env, capture_output=True, text=True
            )
            if setup.returncode != 0:
                raise RuntimeError(f"seeding failed:\n{setup.stderr[-3000:]}")
            world = directory / "world.json"
            world.write_text(setup.stdout.split("WORLD ", 1)[1])
            (directory / "env.json").write_text(json.dumps(env))
            command = [sys.executable, __file__, "--measure", str(world)]
            command += ["--requests", str(count), "--profile", str(args.profile)]
            subprocess.run(command, env=env, check=True)
    finally:
        flush_redis(args.redis)
        if args.keep:
            note(f"[profile] kept {directory} and the database (--reuse {directory})")
        else:
            shutil.rmtree(directory, ignore_errors=True)
    line("machine.load_average_end", load_average())
    return 0


if __name__ == "__main__":
    sys.exit(main())
