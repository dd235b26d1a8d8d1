"""The repost part of benchmarks/broadcast.py, run inside its measuring child: concurrent
reposts of one post from `CLIENTS` processes (`measure_reposts`), then the kill -9 check
(`measure_reposts_killed`). Printed as `name: value` lines by the caller's prefix."""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import tempfile
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.common import backend_cpu_seconds, line, note

CLIENTS = 8


_START: Any = None  # the barrier all clients pass together once set up


def client_setup(start: Any) -> None:
    import django

    global _START
    _START = start
    django.setup()


def repost_share(
    post_id: int, share: list[int]
) -> tuple[int, int, list[str], float, float, float, float | None]:
    """One client: reposts by each resident of its share, then one repeated repost. Returns
    (reposts made, repeats refused, errors, start, end, CPU seconds, the CPU seconds of its
    database server process or None); the clock is the machine's monotonic one, the same in
    every process, and starts when all clients are ready."""
    import django.db
    from django.db import connections

    from civichub.broadcast import services
    from civichub.core.errors import Conflict
    from civichub.core.models import User

    made, refused, errors = 0, 0, []
    if _START is not None:
        _START.wait()
    server = backend_cpu_seconds()
    began, cpu = time.monotonic(), time.process_time()
    try:
        for start in range(0, len(share), 500):
            # The client knows its users (a signed-in session would): loaded 500 at a time.
            users = User.objects.in_bulk(share[start : start + 500])
            for pk in share[start : start + 500]:
                for attempt in range(50):
                    try:
                        services.repost_create(actor=users[pk], post_id=post_id)
                        made += 1
                        break
                    except django.db.utils.OperationalError:  # SQLite: database is locked
                        time.sleep(0.001 * (attempt + 1))
                else:
                    errors.append(f"gave up on {pk}")
        ended, cpu = time.monotonic(), time.process_time() - cpu
        server_end = backend_cpu_seconds()
        if server is not None and server_end is not None:
            server = server_end - server
        if share:
            try:
                services.repost_create(actor=User.objects.get(pk=share[0]), post_id=post_id)
                errors.append(f"a repeated repost by {share[0]} was accepted")
            except Conflict:
                refused += 1
    finally:
        connections.close_all()
    return made, refused, errors, began, ended, cpu, server


def measure_reposts(p: str, args: argparse.Namespace, data: dict[str, Any]) -> None:

    from civichub.broadcast import services
    from civichub.broadcast.models import PostCounterShard, Repost

    target = services.post_publish(
        actor=data["publisher"], account=data["big"], text="转发测试", category="news"
    )
    reposts = min(args.reposts, args.followers)
    ids = list(range(data["first_user"], data["first_user"] + reposts))
    shares = [ids[i::CLIENTS] for i in range(CLIENTS)]
    pool: Executor
    if args.repost_clients == "processes":
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(
            CLIENTS,
            mp_context=context,
            initializer=client_setup,
            initargs=(context.Barrier(CLIENTS),),
        )
    else:
        global _START
        _START = threading.Barrier(CLIENTS)
        pool = ThreadPoolExecutor(CLIENTS)
    with pool:
        results = list(pool.map(repost_share, [target.pk] * CLIENTS, shares))
    elapsed = max(r[4] for r in results) - min(r[3] for r in results)
    made = sum(r[0] for r in results)
    refused = sum(r[1] for r in results)
    errors = [e for r in results for e in r[2]]
    for error in errors[:5]:
        note(error)
    slots = PostCounterShard.objects.filter(post=target).count()
    counter = services.post_counters_fold(post_id=target.pk).reposts_count
    rows = Repost.objects.filter(post=target).count()
    line(f"{p}.reposts", reposts)
    line(f"{p}.repost_clients", f"{CLIENTS} {args.repost_clients}")
    line(f"{p}.reposts_seconds", f"{elapsed:.1f}")
    line(f"{p}.reposts_per_second", f"{made / elapsed:.0f}")
    if args.repost_clients == "processes":
        # The clients' own CPU per repost (Python, Django, the driver; not the database's):
        # with the wall time it shows how much of the machine the clients got.
        cpu = sum(r[5] for r in results)
        line(f"{p}.reposts_client_cpu_ms_per_repost", f"{cpu / max(made, 1) * 1000:.2f}")
        line(f"{p}.reposts_client_cpu_share_of_one_core", f"{cpu / elapsed:.2f}")
        servers = [r[6] for r in results]
        if all(server is not None for server in servers):
            # The database server's own CPU for them (its processes serving the clients).
            server_ms = sum(s or 0.0 for s in servers) / max(made, 1) * 1000
            line(f"{p}.reposts_server_cpu_ms_per_repost", f"{server_ms:.2f}")
    line(f"{p}.reposts_counter_slots_left_to_fold", slots)
    line(f"{p}.reposts_counter", counter)
    line(f"{p}.reposts_rows", rows)
    line(f"{p}.reposts_repeats_refused", refused)
    line(f"{p}.reposts_exact", counter == rows == made == reposts and not errors)
    # A quarter of them, and at least 400 (50 a client: the victim cannot finish between polls).
    measure_reposts_killed(p, data, ids[: max(len(ids) // 4, 400)])


def repost_logging(post_id: int, share: list[int], log: str, start: Any) -> None:
    """A client of the kill -9 check, in a process of its own: reposts by each resident of its
    share, appending the resident's id to `log` as each repost is acknowledged (the service
    returned). Each line is one `write` to the kernel, so a SIGKILL loses none written."""
    import django

    django.setup()
    from django.db.utils import OperationalError

    from civichub.broadcast import services
    from civichub.core.models import User

    users = User.objects.in_bulk(share)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    start.wait()
    for pk in share:
        for attempt in range(50):
            try:
                services.repost_create(actor=users[pk], post_id=post_id)
                break
            except OperationalError:  # SQLite: database is locked
                time.sleep(0.001 * (attempt + 1))
        else:
            continue
        os.write(fd, f"{pk}\n".encode())


def measure_reposts_killed(p: str, data: dict[str, Any], ids: list[int]) -> None:
    """Durability under kill -9: `CLIENTS` processes repost a fresh post; one is killed with
    SIGKILL a third of the way through its share. Every repost acknowledged to any client
    must be stored, with its audit row, and the counter must equal the rows stored; at most
    one repost per killed client may be stored unacknowledged (committed, the process killed
    before it heard)."""
    import signal

    from civichub.broadcast import services
    from civichub.broadcast.models import Repost
    from civichub.core.models import AuditEvent

    target = services.post_publish(
        actor=data["publisher"], account=data["big"], text="转发中断测试", category="news"
    )
    shares = [ids[i::CLIENTS] for i in range(CLIENTS)]
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(CLIENTS + 1)
    with tempfile.TemporaryDirectory(prefix="civichub-bench-kill9-") as logs:
        paths = [os.path.join(logs, f"client{i}.log") for i in range(CLIENTS)]
        clients = [
            context.Process(target=repost_logging, args=(target.pk, share, path, start))
            for share, path in zip(shares, paths, strict=True)
        ]
        for client in clients:
            client.start()
        start.wait()
        victim, victim_log, killed = clients[0], paths[0], 0
        while victim.is_alive():
            with contextlib.suppress(FileNotFoundError):
                if Path(victim_log).read_bytes().count(b"\n") >= len(shares[0]) // 3:
                    os.kill(victim.pid or 0, signal.SIGKILL)
                    killed = 1
                    break
            time.sleep(0.002)
        for client in clients:
            client.join()
        acknowledged = {int(pk) for path in paths for pk in Path(path).read_text().split()}
    stored = dict(Repost.objects.filter(post=target).values_list("user_id", "pk"))
    audited = AuditEvent.objects.filter(
        action="broadcast.repost.create", object_id__in=[str(pk) for pk in stored.values()]
    ).count()
    counter = services.post_counters_fold(post_id=target.pk).reposts_count
    lost = len(acknowledged - stored.keys())
    unacknowledged = len(stored.keys() - acknowledged)
    line(f"{p}.reposts_kill9_clients", f"{CLIENTS} processes, {killed} killed with SIGKILL")
    line(f"{p}.reposts_kill9_victim_exit_code", victim.exitcode)
    line(f"{p}.reposts_kill9_acknowledged", len(acknowledged))
    line(f"{p}.reposts_kill9_stored", len(stored))
    line(f"{p}.reposts_kill9_acknowledged_lost", lost)
    line(f"{p}.reposts_kill9_stored_unacknowledged", unacknowledged)
    line(f"{p}.reposts_kill9_audit_rows", audited)
    line(f"{p}.reposts_kill9_counter", counter)
    exact = counter == len(stored) == audited
    line(f"{p}.reposts_kill9_exact", killed == 1 and not lost and unacknowledged <= 1 and exact)
