"""The operator commands: the periodic scheduler, `civichub worker`, `civichub demo`, and the
deployment check of the production settings. The command tests run real `civichub` processes
against a fresh data directory (SQLite, database task backend)."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.test import override_settings
from django_tasks import task
from prometheus_client.parser import text_string_to_metric_families

from civichub.core.models import PeriodicTaskRun
from civichub.core.registry import PeriodicTask
from civichub.core.scheduler import Scheduler, slot_of
from civichub.testing.servers import free_port

pytestmark = pytest.mark.once  # the same on any database: the SQLite run runs it

SLOT_START = 1_800_000_000 - 1_800_000_000 % 60  # a minute boundary
SWEEP = PeriodicTask(name="test.sweep", task="unused.by.these.tests", every_seconds=60)


@task()
def heartbeat() -> None:
    """A periodic task for the scheduler tests."""


@task()
def leave_mark(path: str) -> None:
    """Run by the worker in its own process: the file shows that the task ran."""
    with Path(path).open("a", encoding="utf-8") as marks:
        marks.write("ran\n")


# The periodic scheduler -----------------------------------------------------------------------


def test_two_schedulers_enqueue_each_slot_once(db: Any) -> None:
    enqueued: list[tuple[str, int]] = []
    now = {"t": 0.0}

    def recorder(name: str) -> Callable[[PeriodicTask], None]:
        return lambda periodic: enqueued.append((name, slot_of(now["t"], periodic.every_seconds)))

    first = Scheduler([SWEEP], enqueue=recorder("first"))
    second = Scheduler([SWEEP], enqueue=recorder("second"))
    moments = [0, 1, 30, 59, 60, 61, 119, 125, 300]
    for i, offset in enumerate(moments):
        now["t"] = SLOT_START + offset
        # Alternate who asks first, as two workers would.
        pair = (first, second) if i % 2 == 0 else (second, first)
        for scheduler in pair:
            scheduler.tick(now["t"])

    slots = [slot for _, slot in enqueued]
    base = SLOT_START // 60
    assert slots == [base, base + 1, base + 2, base + 5]
    assert {name for name, _ in enqueued} == {"first", "second"}
    assert PeriodicTaskRun.objects.filter(name="test.sweep").count() == 4


def test_a_scheduler_asks_the_database_once_per_slot(
    db: Any, django_assert_num_queries: Any
) -> None:
    scheduler = Scheduler([SWEEP], enqueue=lambda periodic: None)
    scheduler.tick(SLOT_START)
    with django_assert_num_queries(0):
        assert scheduler.tick(SLOT_START + 10) == []


def test_failed_enqueue_leaves_the_slot_to_another_scheduler(db: Any) -> None:
    def queue_unreachable(periodic: PeriodicTask) -> None:
        raise ConnectionError("queue unreachable")

    broken = Scheduler([SWEEP], enqueue=queue_unreachable)
    healthy = Scheduler([SWEEP], enqueue=lambda periodic: None)

    assert broken.tick(SLOT_START) == []
    assert not PeriodicTaskRun.objects.exists()
    assert healthy.tick(SLOT_START + 1) == ["test.sweep"]
    assert broken.tick(SLOT_START + 2) == []


@override_settings(TASKS={"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}})
def test_scheduler_enqueues_the_named_task(db: Any) -> None:
    from django_tasks import default_task_backend

    periodic = PeriodicTask(name="test.heartbeat", task=f"{__name__}.heartbeat", every_seconds=300)
    first, second = Scheduler([periodic]), Scheduler([periodic])

    assert first.tick(SLOT_START) == ["test.heartbeat"]
    assert second.tick(SLOT_START) == []

    results = default_task_backend.results  # type: ignore[attr-defined]
    assert [r.task.module_path for r in results] == [f"{__name__}.heartbeat"]


def test_old_claims_are_pruned(db: Any) -> None:
    scheduler = Scheduler([SWEEP], enqueue=lambda periodic: None)
    scheduler.tick(SLOT_START)
    assert scheduler.prune(SLOT_START + 3600) == 0
    assert scheduler.prune(SLOT_START + 8 * 24 * 3600) == 1


# Running the commands as processes ------------------------------------------------------------

# Variables of the test run that a child process must not inherit: they would point it at the
# run's services instead of its own fresh SQLite data directory, or relax its checks.
_TEST_RUN_VARIABLES = (
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "DATABASE_URL",
    "REDIS_URL",
    "CIVICHUB_TEST_DATABASE_URL",
    "CIVICHUB_PRODUCTION",
    "CIVICHUB_TASK_BACKEND",
    "CIVICHUB_ALLOWED_HOSTS",
    "CIVICHUB_SECRET_KEY",
    "CIVICHUB_TESTING",
)


def civichub_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _TEST_RUN_VARIABLES}
    env.update(
        CIVICHUB_DATA_DIR=str(data_dir),
        DJANGO_SETTINGS_MODULE="civichub.settings",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join(
            [str(Path(__file__).resolve().parents[3]), *filter(None, [env.get("PYTHONPATH")])]
        ),
    )
    env.update(extra)
    return env


def civichub(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "civichub.cli", *arguments]


class Output:
    """Collects a child's combined output in the background, so its pipe never fills."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stdout is not None
        self._stream = process.stdout
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stream:
            self.lines.append(line.rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, needle: str, process: subprocess.Popen[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text:
            if process.poll() is not None:
                time.sleep(0.2)  # let the reader catch the last lines
                pytest.fail(f"exited with {process.returncode} before {needle!r}:\n{self.text}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {needle!r} within {timeout} s:\n{self.text}")
            time.sleep(0.1)


def start(command: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], Output]:
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    return process, Output(process)


def stop_group(process: subprocess.Popen[str]) -> None:
    """Clean-up after a failed test: nothing of it may outlive the test."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # The command name, in parentheses, may itself contain spaces or parentheses.
            fields = stat[stat.rindex(")") + 2 :].split()
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent]
        found.update(children)
        frontier.extend(children)
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def migrated_data_dir(data_dir: Path, migrated_template: Path) -> Path:
    """A data directory with a migrated SQLite database: a copy of one migrated once per run
    (every migration costs most of a minute of CPU)."""
    shutil.copytree(migrated_template, data_dir, dirs_exist_ok=True)
    return data_dir


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    template = tmp_path_factory.mktemp("migrated")
    subprocess.run(
        civichub("migrate", "--verbosity", "0"),
        env=civichub_env(template),
        check=True,
        timeout=300,
    )
    return template


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        stop_group(process)


def test_worker_runs_tasks_and_stops_on_sigterm(
    migrated_data_dir: Path, tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    env = civichub_env(migrated_data_dir)
    worker, output = start(civichub("worker", "--interval", "0.2"), env)
    processes.append(worker)
    output.wait_for("civichub worker: database backend, queues default, scheduler on", worker, 60)

    marks = tmp_path / "marks.txt"
    subprocess.run(
        civichub(
            "shell",
            "--command",
            f"from {__name__} import leave_mark; leave_mark.enqueue({str(marks)!r})",
        ),
        env=env,
        check=True,
        timeout=120,
    )
    deadline = time.monotonic() + 60
    while not (marks.exists() and marks.read_text() == "ran\n"):
        assert time.monotonic() < deadline, f"the task did not run:\n{output.text}"
        time.sleep(0.2)

    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    output.wait_for("civichub worker: stopped", worker, 5)
    assert "scheduler stopped" in output.text


# `civichub demo` with its background seeding held until a file appears, so that a test sees for
# certain what happens while the seeding is still running.
GATED_DEMO = """
import sys, time
from pathlib import Path
import django
django.setup()
from civichub.core.management.commands import demo

gate = Path(sys.argv.pop(1))
seed = demo._seed_in_background

def gated(size, status_file, migrate_first=False):
    while not gate.exists():
        time.sleep(0.1)
    seed(size, status_file, migrate_first)

demo._seed_in_background = gated
from civichub.cli import main
main()
"""


def test_demo_serves_the_city_and_stops_cleanly_on_ctrl_c(
    data_dir: Path, tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    if not Path("/proc/self/stat").exists():
        pytest.fail("this test reads the process tree from /proc (Linux)")
    port = free_port()
    gate = tmp_path / "seed-now"
    cache = tmp_path / "cache"
    command = [sys.executable, "-c", GATED_DEMO, str(gate), "demo", "--port", str(port)]
    demo, output = start(command, civichub_env(data_dir, CIVICHUB_CACHE_DIR=str(cache)))
    processes.append(demo)

    # The first run of this code version (no migrated template in the cache): the server
    # answers and the logins are printed while even the migrations have not begun.
    output.wait_for("Press Ctrl-C to stop.", demo, 240)
    assert "first run of this version" in output.text
    assert f"http://127.0.0.1:{port}/" in output.text
    first_printed_login(output.text)
    assert "The demo data is ready" not in output.text
    base = f"http://127.0.0.1:{port}"
    waiting = httpx.get(f"{base}/", timeout=30)
    assert waiting.status_code == 200
    assert "演示数据正在生成…" in waiting.text
    assert "<progress" in waiting.text
    assert "正在准备数据库" in waiting.text
    assert not list(cache.glob("migrated-*.sqlite3"))

    gate.touch()
    output.wait_for("The demo data is ready", demo, 240)
    assert "migrating the database..." in output.text
    assert list(cache.glob("migrated-*.sqlite3")), "the migrated template was not kept"
    progress = re.search(r"demo data \d+/\d+: \w+", output.text)
    assert progress is not None, output.text
    assert output.text.index("Press Ctrl-C to stop.") < progress.start()
    role, username, password = first_printed_login(output.text)
    with httpx.Client(base_url=base, timeout=30) as client:
        page = client.get("/accounts/login/")
        assert page.status_code == 200
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token is not None, page.text
        signed_in = client.post(
            "/accounts/login/",
            data={
                "csrfmiddlewaretoken": token.group(1),
                "username": username,
                "password": password,
                "next": "",
            },
        )
        assert signed_in.status_code == 302, f"login as {role} failed:\n{signed_in.text}"
        me = client.get("/api/me")
        assert me.status_code == 200
        assert me.json()["username"] == username

    children = descendants(demo.pid)
    assert len(children) >= 2, f"expected a web server and a worker, found {children}"

    demo.send_signal(signal.SIGINT)
    assert demo.wait(timeout=60) == 0, output.text
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in children if alive(pid)] == []
    assert "Stopped." in output.text
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/healthz", timeout=5)


def first_printed_login(text: str) -> tuple[str, str, str]:
    """The first row of the demo's login table: `role | username | password | description`."""
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if re.match(r"\s*role\s+\| username", line))
    row = [cell.strip() for cell in lines[header + 2].split(" | ")]
    assert len(row) == 4 and all(row[:3]), lines[header + 2]
    return row[0], row[1], row[2]


def test_production_settings_pass_the_deployment_check(data_dir: Path) -> None:
    env = civichub_env(
        data_dir,
        CIVICHUB_PRODUCTION="1",
        CIVICHUB_SECRET_KEY=secrets.token_urlsafe(64),
        CIVICHUB_ALLOWED_HOSTS="civichub.example.org",
    )
    check = subprocess.run(
        civichub("check", "--deploy", "--fail-level", "WARNING"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "System check identified no issues" in check.stdout


# Metrics across processes ------------------------------------------------------------------
METRICS_TOKEN = "scrape-token-for-the-process-test"


def _metric_samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def test_one_scrape_sums_every_web_process_and_the_worker(
    migrated_data_dir: Path,
    processes: list[subprocess.Popen[str]],
    tmp_path: Path,
) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = civichub_env(
        migrated_data_dir,
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        CIVICHUB_METRICS_TOKEN=METRICS_TOKEN,
    )
    port = free_port()
    web, web_output = start(civichub("serve", "--port", str(port), "--workers", "2"), env)
    processes.append(web)
    worker, worker_output = start(civichub("worker", "--interval", "0.2"), env)
    processes.append(worker)
    worker_output.wait_for("civichub worker: database backend", worker, 60)

    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{base}/healthz", timeout=5)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, web_output.text
            time.sleep(0.3)
    # The wait above may leave requests a starting process answers later (a client that timed
    # out and retried), so the count is of another route, one nothing else here asks for.
    healthz = (("method", "GET"), ("route", "healthz"), ("status", "200"))
    readyz = (("method", "GET"), ("route", "readyz"), ("status", "200"))
    # Generous timeouts: on a machine busy with other test runs a first request to a freshly
    # started process can take seconds; the figures below do not depend on how long.
    first = httpx.get(
        f"{base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=60
    )
    assert first.status_code == 200, first.text
    assert _metric_samples(first.text, "civichub_http_requests_total")[healthz] >= 1
    for _ in range(20):  # new connections: the two processes share them
        assert httpx.get(f"{base}/readyz", timeout=60).status_code == 200

    marks = tmp_path / "marks.txt"
    enqueue = f"from {__name__} import leave_mark; leave_mark.enqueue({str(marks)!r})"
    subprocess.run(civichub("shell", "--command", enqueue), env=env, check=True, timeout=120)
    deadline = time.monotonic() + 60
    while not marks.exists():
        assert time.monotonic() < deadline, worker_output.text
        time.sleep(0.2)
    time.sleep(0.5)  # the finished signal follows the task's return

    scrape = httpx.get(
        f"{base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=60
    )
    assert scrape.status_code == 200, scrape.text
    requests = _metric_samples(scrape.text, "civichub_http_requests_total")
    assert requests[readyz] == 20
    ran = _metric_samples(scrape.text, "civichub_task_duration_seconds_count")
    task = f"{__name__}.leave_mark"
    assert ran[(("status", "successful"), ("task", task))] == 1
    assert len(list(metrics_dir.glob("counter_*.db"))) >= 2  # more than one process counted
