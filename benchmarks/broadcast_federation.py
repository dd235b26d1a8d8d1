"""Broadcast's remote delivery rate: one post delivered to 1,000 simulated remote servers.

A government account has 1,000 followers on other servers, each on a server of its own (its
own shared inbox); the inboxes are one local HTTP server in another process answering 202 at
/inbox/<n>. Publishing writes the post and enqueues one task (timed: it does not grow with the
followers); the fan-out writes 1,000 deliveries (timed); then the deliveries are made — each
signed (RSA-SHA256, draft-cavage with a digest) and POSTed through core's guarded HTTP client
— by a pool of worker threads, as delivery tasks would run them. Prints activities per second,
wall-clock and per CPU-second of the measuring process (neither the inbox server's CPU nor
PostgreSQL's is counted), with the load average. Each database runs in a child process of its
own with a scratch data directory (`--database sqlite|postgres|both`, default sqlite; PostgreSQL
in a scratch database on the `--postgres` server, through the connection pool as a task worker
has it); the figures are named `federation.sqlite.*` and `federation.postgres.*`. Run by
benchmarks/broadcast.py, or alone:

    python benchmarks/broadcast_federation.py [--inboxes 1000] [--workers 8] [--database both]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (  # noqa: E402
    free_port,
    line,
    load_average,
    migrate_database,
    note,
    print_machine,
    run_measuring_child,
)

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432"
DATABASE = "civichub_bench_federation"


class _Inbox(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()


def serve_inboxes(port: int) -> None:
    ThreadingHTTPServer(("127.0.0.1", port), _Inbox).serve_forever()


def measure(database: str, inboxes: int, workers: int, port: int) -> None:
    """In the child process of one database (DATABASE_URL set by the parent for PostgreSQL)."""
    import django

    django.setup()
    from django.db import connection, connections

    from civichub.broadcast import services
    from civichub.broadcast.models import Delivery, DeliveryState, RemoteActor, RemoteFollow
    from civichub.testing.city import build_city

    migrate_database()
    city = build_city()
    account = services.account_create(
        actor=None, organisation=city.police_city, handle="bench-police", name="平安青山"
    )
    services.account_key(account)
    origin = f"http://127.0.0.1:{port}"
    actors = RemoteActor.objects.bulk_create(
        RemoteActor(
            uri=f"{origin}/users/{n}",
            host=f"server{n}.example",
            inbox=f"{origin}/users/{n}/inbox",
            shared_inbox=f"{origin}/inbox/{n}",
            key_id=f"{origin}/users/{n}#main-key",
            public_key_pem="-",
        )
        for n in range(inboxes)
    )
    RemoteFollow.objects.bulk_create(
        RemoteFollow(account=account, actor=actor, activity_id=f"{actor.uri}/follow")
        for actor in actors
    )
    name = f"federation.{database}"
    line(f"{name}.database", connection.vendor)
    line(f"{name}.remote_servers", inboxes)
    line(f"{name}.workers", workers)
    line(f"{name}.load_average_start", load_average())

    started = time.perf_counter()
    post = services.post_publish(
        actor=None, account=account, text="道路封闭通知", category="traffic"
    )
    line(f"{name}.publish_ms", f"{(time.perf_counter() - started) * 1000:.1f}")
    started = time.perf_counter()
    # The fan-out task's work, called directly (its enqueued deliveries are counted below).
    written = services.post_federate(post_id=post.pk, kind="Create")
    line(f"{name}.fan_out_deliveries", written)
    line(f"{name}.fan_out_ms", f"{(time.perf_counter() - started) * 1000:.1f}")

    ids = list(
        Delivery.objects.filter(post=post, state=DeliveryState.PENDING).values_list("pk", flat=True)
    )

    def attempt(pk: int) -> bool:
        try:
            return services.delivery_attempt(delivery_id=pk)
        finally:
            connections.close_all()

    cpu, wall = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        delivered = sum(pool.map(attempt, ids))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    line(f"{name}.delivered", f"{delivered} of {len(ids)}")
    line(f"{name}.delivery_seconds", f"{wall:.2f}")
    line(f"{name}.delivery_cpu_seconds", f"{cpu:.2f}")
    line(f"{name}.activities_per_second", f"{delivered / wall:.0f}")
    line(f"{name}.activities_per_cpu_second", f"{delivered / cpu:.0f}")
    line(f"{name}.load_average_end", load_average())
    failed = Delivery.objects.filter(post=post).exclude(state=DeliveryState.DELIVERED).count()
    if failed:
        note(f"{failed} deliveries not delivered")


def run_child(database: str, args: argparse.Namespace, port: int) -> int:
    data_dir = tempfile.mkdtemp(prefix="civichub-bench-federation-")
    env = dict(
        os.environ,
        CIVICHUB_DATA_DIR=data_dir,
        DJANGO_SETTINGS_MODULE="civichub.settings",
        # The simulated servers are on this machine (loopback, plain http).
        CIVICHUB_OUTBOUND_ALLOW_LOOPBACK="1",
    )
    for variable in ("DATABASE_URL", "REDIS_URL", "CIVICHUB_TEST_DATABASE_URL"):
        env.pop(variable, None)
    command = [sys.executable, __file__, "--measure", database, "--port", str(port)]
    command += ["--inboxes", str(args.inboxes), "--workers", str(args.workers)]
    return run_measuring_child(
        command, env, database=database, postgres=args.postgres, name=DATABASE, data_dir=data_dir
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--inboxes", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="the PostgreSQL server")
    parser.add_argument("--port", type=int, default=0, help="the inbox server's (default: any)")
    parser.add_argument("--machine", action="store_true", help="print the machine first")
    parser.add_argument("--quick", action="store_true", help="50 inboxes: a smoke run")
    parser.add_argument("--measure", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.inboxes = min(args.inboxes, 50)
    if args.measure:
        measure(args.measure, args.inboxes, args.workers, args.port)
        return 0
    if args.machine:
        print_machine(sqlite=True)
    port = args.port or free_port()
    server = multiprocessing.Process(target=serve_inboxes, args=(port,), daemon=True)
    server.start()
    status = 0
    try:
        databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
        for database in databases:
            status |= run_child(database, args, port)
    finally:
        server.terminate()
    return status


if __name__ == "__main__":
    sys.exit(main())
