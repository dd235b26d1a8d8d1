"""Broadcast's live updates for a whole city: N open streams, one post, the time until every
stream has it.

`civichub serve` (uvicorn, one worker process) runs on a scratch SQLite data directory; N
clients open a stream and wait for its first line (the stream is subscribed from then on):
`--stream public`, Mastodon's public stream (`/broadcast/mastodon/api/v1/streaming/public`, no
token); `user`, Mastodon's user stream of `--people` residents (default: as many as streams, at
most 1,000) who follow the publishing account, each with an API token, the streams shared out
among them; `page`, the home feed's live stream (`/broadcast/stream/`) of the same residents,
signed in by a session cookie. The clients are asyncio
protocols on raw sockets in this process (a few hundred bytes each), opened a few hundred at a
time. Then one post is published through the API and each stream's `update` event is timed from
just before the request (the `update` event; `post` on the page stream):
`streams.<part>.latency_p50_ms`, `_p99_ms`, `_max_ms`, the streams that
got it and those dropped (closed, or without the event within the timeout). Memory per stream is
the server's resident set (the process and its children) after the streams opened minus before,
divided by N; the server's CPU seconds spent delivering (in all and per delivery) are printed
beside the wall-clock time, and the clients' own (they share the machine's cores).

Parts: `one_process` (one web process; events within it, no Redis), then `two_processes_redis`
(two web processes on two ports, half of the streams each, Redis pub/sub between them, the post
published through the second). The soft limit of open files is raised to the hard limit for
this process and the servers it starts.

    python benchmarks/broadcast_streams.py [--streams 10000] [--stream public|user|page]
        [--people N] [--port P] [--redis URL] [--only one|two] [--quick]

`--quick` (200 streams) is a smoke test, run by `benchmarks/broadcast.py --quick`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import threading
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
    percentile,
)

PUBLIC_PATH = "/broadcast/mastodon/api/v1/streaming/public"
USER_PATH = "/broadcast/mastodon/api/v1/streaming/user"
PAGE_PATH = "/broadcast/stream/"
OPENING_AT_ONCE = 200
OPEN_TIMEOUT = 120.0
DELIVERY_TIMEOUT = 60.0
DEFAULT_REDIS = os.environ.get("CIVICHUB_BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")

SETUP = """
import json
from civichub.broadcast import services as broadcast
from civichub.core import services
city = services.organisation_create(actor=None, kind="city", name="青山市", name_en="Qingshan",
                                    code="S1")
publisher = services.user_create(actor=None, username="publisher", password=None,
                                 phone="13800138001", validate=False)
services.role_grant(actor=None, user=publisher, role="broadcast_publisher", organisation=city)
broadcast.account_create(actor=None, organisation=city, handle="safe-qingshan", name="平安青山")
_, token = services.api_token_create(actor=publisher, name="publisher")
print("SETUP " + json.dumps({"token": token}))
"""
# Residents who follow the account, each with a token and a session (`--stream user` / `page`).
PEOPLE_SETUP = """
import json
from django.conf import settings
from django.test import Client
from civichub.broadcast import services as broadcast
from civichub.broadcast.models import BroadcastAccount
from civichub.core import services
account = BroadcastAccount.objects.get(handle="safe-qingshan")
people = []
for n in range(PEOPLE):
    person = services.user_create(actor=None, username=f"reader{n}", password=None,
                                  validate=False)
    broadcast.follow_create(actor=person, account_id=account.pk)
    _, secret = services.api_token_create(actor=person, name="reader")
    session = ""
    if SESSIONS:
        browser = Client()
        browser.force_login(person)
        session = browser.cookies[settings.SESSION_COOKIE_NAME].value
    people.append({"token": secret, "session": session})
print("SETUP " + json.dumps({"people": people, "cookie": settings.SESSION_COOKIE_NAME}))
"""


def raise_open_files_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return int(resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def civichub(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "civichub.cli", *arguments]


def _tree(pid: int) -> list[int]:
    """The process and its descendants (uvicorn's reloader-free worker is the process itself)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                pending.extend(int(c) for c in children)
    return found


def rss_bytes(pid: int) -> int:
    total = 0
    for member in _tree(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int(Path(f"/proc/{member}/statm").read_text().split()[1])
    return total * os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    total = 0
    for member in _tree(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def threads(pid: int) -> int:
    total = 0
    for member in _tree(pid):
        with contextlib.suppress(OSError):
            total += len(list(Path(f"/proc/{member}/task").iterdir()))
    return total


class StreamClient(asyncio.Protocol):
    """One open stream: notes when its first line came and when the post's `update` did."""

    def __init__(self, request: bytes, opened: asyncio.Future[bool], marker: bytes) -> None:
        self.request = request
        self.marker = marker
        self.opened = opened
        self.tail = b""
        self.status_ok: bool | None = None
        self.update_at: float | None = None
        self.lost = False
        self.transport: asyncio.Transport | None = None
        self.on_update: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if self.status_ok is None:
            self.status_ok = data.startswith(b"HTTP/1.1 200")
        self.tail = self.tail[-32:] + data
        if not self.opened.done() and b":)" in self.tail:
            self.opened.set_result(True)
        if self.update_at is None and self.marker in self.tail:
            self.update_at = time.perf_counter()
            if self.on_update is not None:
                self.on_update()
        self.tail = self.tail[-32:]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.opened.done():
            self.opened.set_result(False)


class Readers:
    """What the streams open: which stream, and as whom."""

    def __init__(self, stream: str, people: list[dict[str, str]], cookie: str) -> None:
        self.stream = stream
        self.people = people
        self.cookie = cookie
        self.marker = b"event: post" if stream == "page" else b"event: update"

    def request(self, n: int, port: int) -> bytes:
        headers = f"Host: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n"
        path = PUBLIC_PATH
        if self.stream == "user":
            path = f"{USER_PATH}?access_token={self.people[n % len(self.people)]['token']}"
        elif self.stream == "page":
            path = PAGE_PATH
            headers += f"Cookie: {self.cookie}={self.people[n % len(self.people)]['session']}\r\n"
        return f"GET {path} HTTP/1.1\r\n{headers}\r\n".encode()


async def open_streams(ports: list[int], count: int, readers: Readers) -> list[StreamClient]:
    loop = asyncio.get_running_loop()
    limit = asyncio.Semaphore(OPENING_AT_ONCE)
    clients: list[StreamClient] = []

    async def open_one(n: int) -> None:
        port = ports[n % len(ports)]
        request = readers.request(n, port)
        async with limit:
            opened: asyncio.Future[bool] = loop.create_future()
            client = StreamClient(request, opened, readers.marker)
            clients.append(client)
            try:
                await loop.create_connection(lambda: client, "127.0.0.1", port)
                await asyncio.wait_for(opened, OPEN_TIMEOUT)
            except (OSError, TimeoutError) as exc:
                client.lost = True
                note(f"stream {n} did not open: {exc!r}")

    await asyncio.gather(*(open_one(n) for n in range(count)))
    return clients


def publish(port: int, token: str) -> None:
    body = json.dumps({"text": "全市通知：明日起地铁延长运营", "category": "notice"}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/broadcast/accounts/safe-qingshan/posts",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 (local server)
        if answer.status != 201:
            raise RuntimeError(f"publishing answered {answer.status}")


async def measure_streams(
    part: str, ports: list[int], pids: list[int], count: int, token: str, readers: Readers
) -> bool:
    rss_before = sum(rss_bytes(pid) for pid in pids)
    threads_before = sum(threads(pid) for pid in pids)
    started = time.perf_counter()
    clients = await open_streams(ports, count, readers)
    opened = [c for c in clients if c.status_ok and not c.lost]
    line(f"streams.{part}.streams_open", f"{len(opened)} of {count}")
    line(f"streams.{part}.open_seconds", f"{time.perf_counter() - started:.1f}")
    await asyncio.sleep(1.0)  # the last subscriptions settle (Redis confirms them)
    rss_after = sum(rss_bytes(pid) for pid in pids)
    line(f"streams.{part}.server_rss_mib_before", f"{rss_before / 2**20:.1f}")
    line(f"streams.{part}.server_rss_mib_open", f"{rss_after / 2**20:.1f}")
    line(f"streams.{part}.memory_per_stream_kib", f"{(rss_after - rss_before) / count / 1024:.1f}")
    # Threads the server started for the open streams (none when no stream keeps one).
    line(f"streams.{part}.server_threads_before", threads_before)
    line(f"streams.{part}.server_threads_open", sum(threads(pid) for pid in pids))

    loop = asyncio.get_running_loop()
    everyone = asyncio.Event()
    received = 0

    def on_update() -> None:
        nonlocal received
        received += 1
        if received >= len(opened):
            everyone.set()

    for client in clients:
        client.on_update = on_update
    line(f"streams.{part}.load_average_before_publish", load_average())
    cpu_before = sum(cpu_seconds(pid) for pid in pids)
    client_cpu_before = time.process_time()
    sent = time.perf_counter()
    await loop.run_in_executor(None, publish, ports[-1], token)
    published = time.perf_counter()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(everyone.wait(), DELIVERY_TIMEOUT)
    await asyncio.sleep(0.5)
    cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
    client_cpu = time.process_time() - client_cpu_before
    latencies = [c.update_at - sent for c in clients if c.update_at is not None]
    dropped = count - len(latencies)
    line(f"streams.{part}.publish_request_ms", f"{(published - sent) * 1000:.0f}")
    line(f"streams.{part}.received", f"{len(latencies)} of {count}")
    line(f"streams.{part}.dropped", dropped)
    if latencies:
        line(f"streams.{part}.latency_p50_ms", f"{percentile(latencies, 0.50) * 1000:.0f}")
        line(f"streams.{part}.latency_p99_ms", f"{percentile(latencies, 0.99) * 1000:.0f}")
        line(f"streams.{part}.latency_max_ms", f"{max(latencies) * 1000:.0f}")
    line(f"streams.{part}.server_cpu_seconds_publish_and_deliver", f"{cpu:.2f}")
    if cpu > 0:
        line(f"streams.{part}.deliveries_per_server_cpu_second", f"{len(latencies) / cpu:.0f}")
    if latencies:
        per_delivery = cpu / len(latencies) * 1e6
        line(f"streams.{part}.server_cpu_us_per_delivery", f"{per_delivery:.0f}")
    # The clients share the machine's cores with the server: what reading the events cost them.
    line(f"streams.{part}.client_cpu_seconds", f"{client_cpu:.2f}")
    line(f"streams.{part}.load_average_after", load_average())
    for client in clients:
        if client.transport is not None:
            client.transport.close()
    return dropped == 0


class _Output(threading.Thread):
    """Collects a server's output, so its pipe never fills."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        super().__init__(daemon=True)
        self.process = process
        self.text: list[str] = []
        self.start()

    def run(self) -> None:
        assert self.process.stdout is not None
        for row in self.process.stdout:
            self.text.append(row)


@contextlib.contextmanager
def servers(env: dict[str, str], ports: list[int]) -> Iterator[list[int]]:
    started: list[tuple[subprocess.Popen[str], _Output]] = []
    try:
        for port in ports:
            process = subprocess.Popen(
                civichub("serve", "--port", str(port), "--workers", "1", "--graceful-timeout", "1"),
                env={**env, "CIVICHUB_LOG_LEVEL": "WARNING"},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            started.append((process, _Output(process)))
        deadline = time.monotonic() + 120
        for port in ports:
            while not answers(port):
                if time.monotonic() > deadline or any(p.poll() is not None for p, _ in started):
                    raise RuntimeError("the server did not start: " + "".join(started[0][1].text))
                time.sleep(0.2)
        yield [process.pid for process, _ in started]
    finally:
        for process, _ in started:
            process.terminate()
        for process, output in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            errors = [row for row in output.text if "Traceback" in row or "ERROR" in row]
            if errors:
                note("server errors:\n" + "".join(output.text[-40:]))


def _shell(env: dict[str, str], command: str) -> dict[str, Any]:
    setup = subprocess.run(
        civichub("shell", "--command", command),
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    found: dict[str, Any] = json.loads(setup.stdout.split("SETUP ", 1)[1])
    return found


def prepared(env: dict[str, str], stream: str, people: int) -> tuple[str, Readers]:
    # A fresh SQLite database as a copy of the migrated template (`database_migrate`), not every
    # migration run again: most of a minute of CPU each time.
    _shell(
        env,
        "import json\nfrom civichub.core.demo.template import database_migrate\n"
        "print('SETUP ' + json.dumps({'database': database_migrate()}))",
    )
    token: str = _shell(env, SETUP)["token"]
    if stream == "public":
        return token, Readers(stream, [], "")
    started = time.perf_counter()
    command = PEOPLE_SETUP.replace("PEOPLE", str(people)).replace("SESSIONS", str(stream == "page"))
    found = _shell(env, command)
    note(f"{people} residents set up in {time.perf_counter() - started:.0f} s")
    return token, Readers(stream, found["people"], found["cookie"])


def run_part(
    part: str, count: int, ports: list[int], redis_url: str, stream: str, people: int
) -> bool:
    with tempfile.TemporaryDirectory(prefix="civichub-bench-streams-") as data_dir:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDIS_URL", "CIVICHUB_TEST_DATABASE_URL")
        }
        env.update(
            CIVICHUB_DATA_DIR=data_dir,
            CIVICHUB_SECRET_KEY=secrets.token_urlsafe(48),
            DJANGO_SETTINGS_MODULE="civichub.settings",
            PYTHONUNBUFFERED="1",
            PYTHONPATH=os.pathsep.join(
                [str(Path(__file__).resolve().parent.parent), env.get("PYTHONPATH", "")]
            ).rstrip(os.pathsep),
        )
        if redis_url:
            env["REDIS_URL"] = redis_url
        token, readers = prepared(env, stream, people)
        line(f"streams.{part}.web_processes", len(ports))
        line(f"streams.{part}.bus", "redis" if redis_url else "in-process")
        with servers(env, ports) as pids:
            return asyncio.run(measure_streams(part, ports, pids, count, token, readers))


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--port", type=int, default=0, help="first server port (default: any)")
    parser.add_argument("--redis", default=DEFAULT_REDIS, help="for the two-process part")
    parser.add_argument("--only", choices=["one", "two"], help="run one part only")
    parser.add_argument("--quick", action="store_true", help="200 streams: a smoke test")
    parser.add_argument("--stream", choices=["public", "user", "page"], default="public")
    parser.add_argument("--people", type=int, default=0, help="residents reading (user, page)")
    args = parser.parse_args()
    if args.quick:
        args.streams = min(args.streams, 200)
    people = args.people or min(args.streams, 1000)
    limit = raise_open_files_limit()
    line("streams.open_files_limit", limit)
    line("streams.database", "sqlite")
    line("streams.stream", args.stream)
    if args.stream != "public":
        line("streams.people", people)
    line("streams.count", args.streams)
    if args.streams + 100 > limit:
        note(f"{args.streams} streams need more open files than the limit {limit}")
    ok = True
    first = args.port or free_port()
    if args.only in (None, "one"):
        ok &= run_part("one_process", args.streams, [first], "", args.stream, people)
    if args.only in (None, "two"):
        second = args.port + 1 if args.port else free_port()
        ok &= run_part(
            "two_processes_redis", args.streams, [first, second], args.redis, args.stream, people
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
