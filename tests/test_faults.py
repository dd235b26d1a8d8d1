"""Faults, on PostgreSQL and Redis with real processes: a web process killed (SIGKILL) during
Open311 POSTs loses no acknowledged message and stores none twice; the readings stream consumer
killed mid-batch loses and doubles no reading; the task worker killed mid-notification leaves
no message unsent and repeats at most the one in flight, under its own Message-ID; the database
dropping the platform's connections (pg_terminate_backend) and Redis stopping for a while are
answered with 503 problems, and the platform recovers by itself once the service is back.

Each test has its own database on the run's PostgreSQL server (CIVICHUB_TEST_DATABASE_URL) and
its own Redis: a database number of its own on the run's server (REDIS_URL), or a redis-server of
its own on a free port where the test stops Redis. The machine's PostgreSQL server is never
stopped: dropping the connections is what a restart does to the application."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
import redis
from aiosmtpd.controller import Controller

from civichub.core.tests.test_commands import Output, civichub, civichub_env, free_port, start
from conftest import require_service
from tests.services import redis_database, scratch_postgres, with_path

pytestmark = [pytest.mark.postgres, pytest.mark.system]

# Not the test run's own Redis database (CI: 15), nor the scale-out (13) or load (5) tests'.
FAULTS_REDIS_DB = 4


@pytest.fixture
def database_url() -> Iterator[str]:
    with scratch_postgres("civichub_t_fault") as url:
        yield url


@pytest.fixture
def redis_url() -> Iterator[str]:
    with redis_database(FAULTS_REDIS_DB) as url:
        yield url


class Processes:
    """The test's children, each in its own process group; killed at the end whatever happens."""

    def __init__(self) -> None:
        self.started: list[tuple[subprocess.Popen[str], Output]] = []

    def start(
        self, command: list[str], env: dict[str, str]
    ) -> tuple[subprocess.Popen[str], Output]:
        process, output = start(command, env)
        self.started.append((process, output))
        return process, output

    def logs(self) -> str:
        return "\n".join(f"--- {p.args!r} ---\n{o.text[-3000:]}" for p, o in self.started)

    def stop_all(self) -> None:
        for process, _ in self.started:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture
def processes() -> Iterator[Processes]:
    started = Processes()
    try:
        yield started
    finally:
        started.stop_all()


def deployment_env(tmp_path: Path, database_url: str, redis_url: str) -> dict[str, str]:
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True)
    env = civichub_env(
        data_dir,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CIVICHUB_SECRET_KEY=secrets.token_urlsafe(48),
    )
    return env  # the database is migrated already (scratch_postgres)


def shell(env: dict[str, str], code: str) -> Any:
    """Runs `code` in `civichub shell`; it prints `RESULT <json>` last."""
    done = subprocess.run(
        civichub("shell", "--command", code),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.split("RESULT ", 1)[1])


def serve(processes: Processes, env: dict[str, str], port: int, workers: int = 1) -> None:
    process, output = processes.start(
        civichub("serve", "--port", str(port), "--workers", str(workers)), env
    )
    output.wait_for("Uvicorn running on", process, 90)
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                return
        assert time.monotonic() < deadline, processes.logs()
        time.sleep(0.3)


def kill_group(process: subprocess.Popen[str]) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


# The web process killed during writes ---------------------------------------------------------

OPEN311_SETUP = """
import json
from civichub.core.context import acting
from civichub.testing.open311 import build_open311_world
with acting(channel="cli"):
    world = build_open311_world()
print("RESULT " + json.dumps({"key": world.key}))
"""
MARK = "故障测试第{}条"  # the number of each message, found again in the database


def post_until(
    port: int, key: str, stop: threading.Event, acknowledged: dict[int, str], first: int
) -> None:
    """One Open311 client: POSTs numbered messages one after another, never retrying, and
    keeps the ids of those the server acknowledged."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        number = first
        while not stop.is_set():
            number += 1
            try:
                response = client.post(
                    "/open311/v2/requests.json",
                    data={
                        "api_key": key,
                        "service_code": "pothole",
                        "lat": "30.0001",
                        "long": "120.0001",
                        "description": f"{MARK.format(number)}：路面有坑。",
                        "attribute[size]": "small",
                    },
                )
            except httpx.HTTPError:
                time.sleep(0.05)
                continue
            if response.status_code == 200:
                acknowledged[number] = response.json()[0]["service_request_id"]


def test_a_web_process_killed_during_open311_posts_loses_and_doubles_nothing(
    tmp_path: Path, database_url: str, redis_url: str, processes: Processes
) -> None:
    env = deployment_env(tmp_path, database_url, redis_url)
    key = shell(env, OPEN311_SETUP)["key"]
    port = free_port()
    serve(processes, env, port, workers=2)
    stop = threading.Event()
    acknowledged: dict[int, str] = {}
    clients = [
        threading.Thread(target=post_until, args=(port, key, stop, acknowledged, n * 100_000))
        for n in range(4)
    ]
    for client in clients:
        client.start()
    try:
        for _round in range(2):
            time.sleep(3)
            kill_group(processes.started[-1][0])  # master and workers, mid-request
            time.sleep(0.5)
            serve(processes, env, port, workers=2)
        time.sleep(2)
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=30)

    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT text, tracking_number FROM casework_case WHERE text LIKE %s", ["故障测试第%"]
        ).fetchall()
    stored: dict[int, list[str]] = {}
    for text, tracking in rows:
        number = int(str(text).split("第", 1)[1].split("条", 1)[0])
        stored.setdefault(number, []).append(str(tracking))
    assert len(acknowledged) > 20, processes.logs()
    doubled = {n: t for n, t in stored.items() if len(t) > 1}
    assert not doubled
    lost = {n: t for n, t in acknowledged.items() if stored.get(n) != [t]}
    assert not lost, f"{len(lost)} acknowledged messages lost or stored under another id"


# The readings stream consumer killed mid-batch --------------------------------------------------

STREAM_SETUP = """
import json
from civichub.core import services as core
from civichub.core.context import acting
from civichub.testing.city import build_city, staff_user
from civichub.wellbeing import services
from civichub.wellbeing.services import MeterSpec
with acting(channel="cli"):
    city = build_city()
    worker = staff_user("community_worker", city.community_a1)
    meters = []
    for n in range(20):
        resident = core.resident_create(actor=None, name=f"住户{n}", community=city.community_a1)
        services.household_enrol(
            actor=None, resident=resident, worker=worker, consent_by="resident",
            meters=[MeterSpec("electricity", f"E-{n}")],
        )
        meters.append(f"E-{n}")
print("RESULT " + json.dumps(meters))
"""


def readings_count(database_url: str) -> tuple[int, int]:
    """(readings stored, distinct meter and time pairs among them)."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT (meter_id, at)) FROM wellbeing_reading"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_the_stream_consumer_killed_mid_batch_loses_and_doubles_no_reading(
    tmp_path: Path, database_url: str, redis_url: str, processes: Processes
) -> None:
    env = deployment_env(tmp_path, database_url, redis_url)
    meters = shell(env, STREAM_SETUP)
    stream = "faults:wellbeing:readings"
    client = redis.Redis.from_url(redis_url)
    start_at = time.time() - 7 * 86400
    total = 0
    pipe = client.pipeline()
    for step in range(300):
        at = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(start_at + step * 1800))
        for meter in meters:
            pipe.xadd(stream, {"meter_id": meter, "at": at, "value": f"{step * 0.1:.1f}"})
            total += 1
    pipe.execute()
    consume = civichub(
        "wellbeing",
        "consume",
        "--stream",
        stream,
        "--consumer",
        "c1",
        "--batch",
        "200",
        "--block-ms",
        "200",
    )

    for _kill in range(3):
        process, _ = processes.start(consume, env)
        deadline = time.monotonic() + 120
        before = readings_count(database_url)[0]
        while readings_count(database_url)[0] <= before and time.monotonic() < deadline:
            assert process.poll() is None, processes.logs()
            time.sleep(0.05)
        kill_group(process)  # mid-run: some batches committed, one probably half done
    processes.start(consume, env)
    deadline = time.monotonic() + 180
    while readings_count(database_url)[0] < total and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(1)
    stored, distinct = readings_count(database_url)
    assert (stored, distinct) == (total, total), processes.logs()
    assert int(client.xpending(stream, "civichub-wellbeing")["pending"]) == 0
    assert client.xlen(f"{stream}:dead") == 0


# The worker killed mid-notification ------------------------------------------------------------

NOTIFY_SETUP = """
import json
from django.contrib.auth.hashers import make_password
from civichub.core.context import acting
from civichub.core.models import User
from civichub.notify import services
from civichub.notify.models import NotificationPreference
password = make_password(None)
User.objects.bulk_create([
    User(username=f"fault{n:03d}", password=password, email=f"f{n}@example.org")
    for n in range(200)
])
ids = list(User.objects.filter(username__startswith="fault").values_list("pk", flat=True))
NotificationPreference.objects.bulk_create(
    [NotificationPreference(user_id=pk, quiet_hours_enabled=False) for pk in ids]
)
with acting(channel="cli"):
    services.notification_send(
        recipients=ids, kind="notify.test", context={"sender": "运维"}, channels=["email"]
    )
print("RESULT " + json.dumps(len(ids)))
"""


@contextlib.contextmanager
def slow_mail_server(seconds_per_message: float) -> Iterator[tuple[int, list[Any]]]:
    """A real SMTP server (aiosmtpd) on a free port that takes its time over each message, so
    that a kill lands mid-batch; the messages it accepted, parsed."""
    received: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            await asyncio.sleep(seconds_per_message)
            received.append(message_from_bytes(envelope.content, policy=policy.default))
            return "250 Message accepted"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()


def test_a_worker_killed_mid_notification_leaves_no_message_unsent_and_repeats_none_unmarked(
    tmp_path: Path, database_url: str, redis_url: str, processes: Processes
) -> None:
    with slow_mail_server(0.03) as (port, received):
        env = deployment_env(tmp_path, database_url, redis_url)
        env.update(CIVICHUB_SMTP_HOST="127.0.0.1", CIVICHUB_SMTP_PORT=str(port))
        env["CIVICHUB_NOTIFY_LEASE"] = "5"
        total = shell(env, NOTIFY_SETUP)
        worker, _ = processes.start(civichub("worker"), env)
        deadline = time.monotonic() + 120
        while len(received) < 40:
            assert worker.poll() is None and time.monotonic() < deadline, processes.logs()
            time.sleep(0.01)
        kill_group(worker)  # mid-batch: the one task holds all 200 deliveries
        at_kill = len(received)
        assert at_kill < total
        processes.start(civichub("worker"), env)
        # Nothing re-runs the dead worker's task: its lease runs out (5 s) and the minute's
        # sweep hands the rest to the new worker.
        deadline = time.monotonic() + 150
        while len({m["X-Civichub-Delivery"] for m in received}) < total:
            assert time.monotonic() < deadline, processes.logs()
            time.sleep(0.2)
        time.sleep(1)
        with psycopg.connect(database_url) as conn:
            states = dict(
                conn.execute(
                    "SELECT state, count(*) FROM notify_delivery GROUP BY state"
                ).fetchall()
            )
    assert states == {"sent": total}
    copies: dict[str, list[str]] = {}
    for message in received:
        copies.setdefault(message["X-Civichub-Delivery"], []).append(message["Message-ID"])
    assert len(copies) == total
    repeated = {delivery: ids for delivery, ids in copies.items() if len(ids) > 1}
    # At most the one message in flight at the kill (accepted, not yet marked sent) goes again,
    # and then as the same message: one Message-ID, which receiving systems deduplicate.
    assert len(repeated) <= 1, repeated
    assert all(len(set(ids)) == 1 for ids in repeated.values())
    assert len({ids[0] for ids in copies.values()}) == total


# The database drops the platform's connections; Redis stops ------------------------------------


def terminate_connections(database_url: str) -> int:
    """What a PostgreSQL restart does to the platform: every connection to its database ends."""
    name = urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(with_path(database_url, "/postgres"), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        ).fetchall()
    return len(rows)


def hammer(port: int, token: str, seconds: float) -> list[httpx.Response]:
    """Requests an account's own page of the API for `seconds`: the answers, in order."""
    answers = []
    deadline = time.monotonic() + seconds
    with httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=15,
    ) as client:
        while time.monotonic() < deadline:
            answers.append(client.get("/api/notifications/"))
    return answers


ACCOUNT_SETUP = """
import json
from civichub.core import services
from civichub.core.context import acting
with acting(channel="cli"):
    user = services.user_create(actor=None, username="fault", password=None,
                                phone="13800138000", validate=False)
    _token, secret = services.api_token_create(actor=user, name="faults")
print("RESULT " + json.dumps({"token": secret}))
"""


def assert_unavailable_or_ok(answers: list[httpx.Response]) -> None:
    """During the fault every answer is a success or a clear 503 problem; never a 500."""
    for answer in answers:
        assert answer.status_code in (200, 503), answer.text
        if answer.status_code == 503:
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["status"] == 503
            assert answer.headers["retry-after"]


def test_dropped_database_connections_give_503s_and_the_platform_recovers_by_itself(
    tmp_path: Path, database_url: str, redis_url: str, processes: Processes
) -> None:
    env = deployment_env(tmp_path, database_url, redis_url)
    token = shell(env, ACCOUNT_SETUP)["token"]
    port = free_port()
    serve(processes, env, port, workers=2)
    assert all(a.status_code == 200 for a in hammer(port, token, 1))

    during: list[httpx.Response] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            during.extend(hammer(port, token, 0.5))

    loader = threading.Thread(target=load)
    loader.start()
    try:
        for _ in range(5):
            terminate_connections(database_url)
            time.sleep(0.3)
    finally:
        stop.set()
        loader.join()
    assert_unavailable_or_ok(during)

    # Recovered without a restart: every request succeeds again.
    time.sleep(1)
    after = hammer(port, token, 2)
    assert after and all(a.status_code == 200 for a in after), [a.text for a in after[:3]]


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A redis-server of the test's own on a free port, which the test may stop and start."""
    server = shutil.which("redis-server") or ""
    if not server:
        require_service("redis-server", "not installed")
    port = free_port()
    directory = tmp_path / "redis"
    directory.mkdir()
    command = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    command += ["no", "--dir", str(directory)]
    state: dict[str, Any] = {"url": f"redis://127.0.0.1:{port}/0", "command": command}

    def begin() -> None:
        state["process"] = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        client = redis.Redis.from_url(state["url"])
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(redis.RedisError):
                if client.ping():
                    return
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.1)

    def end() -> None:
        process = state.get("process")
        if process is not None and process.poll() is None:
            process.terminate()
            process.wait(timeout=20)

    state["start"], state["stop"] = begin, end
    begin()
    try:
        yield state
    finally:
        end()


def test_redis_stopped_gives_503s_and_the_platform_recovers_when_it_is_back(
    tmp_path: Path, database_url: str, own_redis: dict[str, Any], processes: Processes
) -> None:
    env = deployment_env(tmp_path, database_url, own_redis["url"])
    token = shell(env, ACCOUNT_SETUP)["token"]
    port = free_port()
    serve(processes, env, port, workers=1)
    assert all(a.status_code == 200 for a in hammer(port, token, 1))

    own_redis["stop"]()
    down = hammer(port, token, 2)
    assert down
    assert_unavailable_or_ok(down)
    assert any(a.status_code == 503 for a in down), "the cache is down: no request can pass"

    own_redis["start"]()
    deadline = time.monotonic() + 30
    while True:
        after = hammer(port, token, 1)
        if after and all(a.status_code == 200 for a in after):
            break
        assert time.monotonic() < deadline, [a.text for a in after[:3]]
        time.sleep(0.5)
