"""Every benchmark script run in its quick mode, as CI runs it: a smoke test of the script, not a
timing. Each run must exit 0, print only `name: value` lines on stdout (and `#` notes), no
traceback on stderr, and the lines that show each of its parts ran to the end (a child process
per database that crashed would otherwise go unnoticed), with its correctness checks passed.

The runs need PostgreSQL (the server of CIVICHUB_TEST_DATABASE_URL, or postgres@127.0.0.1:5432)
and Redis (127.0.0.1:6379; the Open311 section queues in and empties the database of
CIVICHUB_BENCH_REDIS_URL, else its own, 11). Their scratch PostgreSQL databases get a suffix of
their own, so a full benchmark run at the same time keeps its database. Sections that read the
shared data (the NAB corpus, the labelled messages) look it up where the scripts do; without it
they are skipped, except under CI=true, where it must be there.

NAB's `nab-check` must also fail when a published score and the computed one disagree: it is run
on a copy of the corpus (links to the files, one file rewritten) with one score tampered with."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from benchmarks.casework import messages_dir
from benchmarks.wellbeing import nab_root
from conftest import require_service

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO / "benchmarks"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432"
DEFAULT_REDIS = "redis://127.0.0.1:6379/11"
RUN_TIMEOUT = 1500  # the broadcast run on a busy two-core machine has taken 15 minutes
NAME_VALUE = re.compile(r"^[A-Za-z_][\w.:/-]*: \S")


def _nab() -> Path | None:
    return nab_root()


def _messages() -> Path | None:
    folder = messages_dir()
    return folder if folder.is_dir() else None


@dataclass(frozen=True)
class QuickRun:
    """One quick run: the script and its arguments (besides --quick), the lines it must print
    (a name, or `name: value` for an exact value) and the shared data it reads, if any."""

    script: str
    args: tuple[str, ...] = ()
    expect: tuple[str, ...] = ()
    data: tuple[str, Callable[[], Path | None]] | None = None
    services: tuple[str, ...] = field(default=("postgres",))

    @property
    def id(self) -> str:
        return " ".join((self.script, *self.args))


BOTH = ("sqlite", "postgres")
QUICK_RUNS = [
    QuickRun(
        "load_profile.py",
        expect=(
            "profile.api.staff_inbox.cpu_ms_median",
            "profile.mix.cpu_ms_per_request",
            "profile.mix.requests_per_second_on_2_cores",
        ),
        services=("postgres", "redis"),
    ),
    QuickRun(
        "foundation.py",
        expect=tuple(f"{db}.{name}.p99_ms" for db in BOTH for name in ("healthz", "api_residents"))
        + tuple(f"{db}.permission_check_cold_us" for db in BOTH)
        + ("sqlite.api_residents.errors: 0", "postgres.api_residents.errors: 0"),
    ),
    QuickRun(
        "broadcast.py",
        expect=tuple(f"{db}.reposts_exact: True" for db in BOTH)
        + tuple(f"{db}.reposts_kill9_exact: True" for db in BOTH)
        + tuple(f"{db}.alert_deliveries_queued_per_second" for db in BOTH)
        + ("video.transcode_seconds_per_minute", "video.outputs: 360p 640x360, 720p 1280x720")
        + tuple(f"federation.{db}.delivered: 50 of 50" for db in BOTH)
        + tuple(f"federation.{db}.activities_per_second" for db in BOTH)
        + tuple(
            f"streams.{part}.{name}"
            for part in ("one_process", "two_processes_redis")
            for name in ("received: 200 of 200", "dropped: 0", "latency_p99_ms")
        ),
        services=("postgres", "redis"),
    ),
    QuickRun(
        "casework.py",
        ("--only", "open311"),
        expect=("open311.post.requests_per_second", "open311.post.errors: 0"),
        services=("postgres", "redis"),
    ),
    QuickRun(
        "casework.py",
        ("--only", "routing-quality"),
        expect=(
            "router_macro_f1_titles",
            "baseline_macro_f1_details",
            "router_fixed_macro_f1_titles",
            "router_chosen_models_details",
        ),
        data=("the labelled messages", _messages),
        services=(),
    ),
    QuickRun(
        "casework.py",
        ("--only", "routing-quality", "--corpus", "konstanz"),
        expect=(
            "router_macro_f1_konstanz",
            "baseline_macro_f1_konstanz",
            "router_chosen_models_konstanz",
        ),
        services=(),
    ),
    QuickRun(
        "casework.py",
        ("--only", "routing-speed"),
        expect=("router_messages_per_second_one_core", "router_ms_per_single_message_details"),
        data=("the labelled messages", _messages),
        services=(),
    ),
    QuickRun(
        "wellbeing.py",
        ("--only", "nab-check"),
        expect=("nab_check: agrees with NAB", "nab_windowed_gaussian_standard: 39.65"),
        data=("the NAB corpus", _nab),
        services=(),
    ),
    QuickRun(
        "wellbeing.py",
        ("--only", "nab"),
        expect=("nab_standard", "nab_detector_readings_per_second_per_core"),
        data=("the NAB corpus", _nab),
        services=(),
    ),
    QuickRun(
        "wellbeing.py",
        ("--only", "nab-heldout"),
        expect=("nab_heldout_standard_pooled", "nab_heldout_settings_tried: 3"),
        data=("the NAB corpus", _nab),
        services=(),
    ),
    QuickRun(
        "wellbeing.py",
        ("--only", "throughput"),
        expect=("throughput_detection_readings_per_second_per_core",),
        services=(),
    ),
    QuickRun(
        "wellbeing.py",
        ("--only", "households"),
        expect=("households_fall_caught",),
        services=(),
    ),
    QuickRun(
        "wellbeing.py",
        ("--only", "ingest"),
        expect=tuple(f"ingest_{db}_stream_readings_per_second" for db in BOTH)
        + tuple(f"ingest_{db}_resent_duplicates" for db in BOTH),
        services=("postgres", "redis"),
    ),
    QuickRun(
        "wellbeing.py",
        ("--only", "pipeline"),
        expect=tuple(f"pipeline_{db}_same_alerts_both_paths: True" for db in BOTH),
    ),
    QuickRun("wellbeing_households.py", expect=("households_leak_caught",), services=()),
    QuickRun(
        "statistics_rollup.py",
        expect=("statistics.rollup_first_seconds", "statistics.evaluation_ms"),
        services=(),
    ),
    QuickRun(
        "traceability.py",
        expect=(
            "traceability.capture_events_per_second",
            "traceability.hash_agreement: 20/20",
            "traceability.trace_p99_ms",
            "traceability.scope_trace_same_as_one_by_one: yes",
            "traceability.shopper_page_p99_ms",
            "traceability.shopper_page_8_clients_p99_ms",
        ),
    ),
    QuickRun(
        "portal.py",
        ("--docs", "500"),
        expect=(
            "portal.residents.success_at_3",
            "portal.residents.baseline_success_at_3",
            "portal.scale.residents.search_p99_ms",
            "portal.home.requests_per_second",
            "portal.service_page.p99_ms",
        ),
    ),
    QuickRun(
        "datahub.py",
        ("--people", "300"),
        expect=(
            "datahub.linkage_f1",
            "datahub.baseline_f1",
            "linkage.febrl3_f1",
            "linkage.febrl4_f1",
            "linkage.febrl4_baseline_f1",
            "linkage.chinese_f1",
            "linkage.chinese_baseline_f1",
            "linkage.duckdb_scale_link_seconds",
        )
        # The Spark section needs a Java runtime: CI installs one; elsewhere, without it, the
        # script says so (`linkage.spark_skipped`) instead.
        + (
            ("linkage.spark_link_seconds", "linkage.spark_f1")
            if shutil.which("java") or os.environ.get("CI") == "true"
            else ("linkage.spark_skipped",)
        ),
    ),
    # Its section already ran on both databases above (`wellbeing.py --only pipeline`): here its
    # own entry point, on SQLite only.
    QuickRun(
        "donors.py",
        expect=(
            "donors.rank_pos_p99_ms",
            "donors.scan_pos_p99_ms",
            "donors.sim_neg_waves_met_p90_min",
        ),
        services=(),
    ),
    QuickRun(
        "wellbeing_pipeline.py",
        ("--databases", "sqlite"),
        expect=("pipeline_sqlite_batched_readings_per_second",),
        services=(),
    ),
]


# Scripts with no database to point at (they use SQLite of their own, or none).
SQLITE_ONLY = frozenset({"wellbeing_households.py", "statistics_rollup.py", "donors.py"})
# Scripts whose quick mode another test runs (behind nginx, with its own servers).
QUICK_ELSEWHERE = {
    "load.py": "tests/test_load.py",
    "broadcast_streams.py": "broadcast.py's quick run above",
    "broadcast_federation.py": "broadcast.py's quick run above",
}


def _postgres_server() -> str:
    url = os.environ.get("CIVICHUB_TEST_DATABASE_URL") or DEFAULT_POSTGRES
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def _redis_url() -> str:
    return os.environ.get("CIVICHUB_BENCH_REDIS_URL") or DEFAULT_REDIS


def _require_services(names: tuple[str, ...]) -> None:
    if "postgres" in names:
        import psycopg

        try:
            psycopg.connect(f"{_postgres_server()}/postgres", connect_timeout=5).close()
        except psycopg.OperationalError as exc:
            require_service("PostgreSQL", str(exc))
    if "redis" in names:
        import redis

        try:
            redis.Redis.from_url(_redis_url(), socket_connect_timeout=5).ping()
        except redis.RedisError as exc:
            require_service("Redis", str(exc))


def run_benchmark(
    script: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(BENCHMARKS / script), "--quick", *args]
    if script not in SQLITE_ONLY:
        command += ["--postgres", _postgres_server()]
    if script in ("casework.py", "load_profile.py"):
        command += ["--redis", _redis_url()]
    environment = dict(os.environ if env is None else env)
    # Scratch databases of their own: a full run at the same time keeps its database.
    suffix = f"_quick_{secrets.token_hex(4)}"
    environment["CIVICHUB_BENCH_DATABASE_SUFFIX"] = suffix
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        # The script, its children and their servers (in sessions of their own), then the
        # databases they could not drop.
        for pid in [process.pid, *_descendants(process.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        _drop_scratch_databases(suffix)
        pytest.fail(f"{script} took longer than {RUN_TIMEOUT} s: {stderr[-2000:]}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _drop_scratch_databases(suffix: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{_postgres_server()}/postgres", autocommit=True) as conn:
        names = conn.execute(
            "SELECT datname FROM pg_database WHERE right(datname, %s) = %s", [len(suffix), suffix]
        ).fetchall()
        for (name,) in names:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def printed(stdout: str) -> dict[str, str]:
    """The `name: value` lines, every line but `#` notes checked to be one."""
    values: dict[str, str] = {}
    for row in stdout.splitlines():
        if not row.strip() or row.startswith("#"):
            continue
        assert NAME_VALUE.match(row), f"not a `name: value` line: {row!r}"
        name, value = row.split(": ", 1)
        values[name] = value
    return values


@pytest.mark.postgres
@pytest.mark.system
@pytest.mark.parametrize(
    "run",
    [
        pytest.param(run, marks=[pytest.mark.shared_data] if run.data else [], id=run.id)
        for run in QUICK_RUNS
    ],
)
def test_benchmark_quick_mode_runs_to_the_end(run: QuickRun) -> None:
    if run.data is not None:
        what, locate = run.data
        if locate() is None:
            require_service(what, f"{run.id} reads it where the script looks it up")
    _require_services(run.services)
    result = run_benchmark(run.script, *run.args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    values = printed(result.stdout)
    assert values, "nothing printed"
    for expected in run.expect:
        name, _sep, value = expected.partition(": ")
        assert name in values, f"{name} not printed; stderr: {result.stderr[-2000:]}"
        if value:
            assert values[name] == value, f"{name}: {values[name]}, expected {value}"


def test_every_benchmark_script_has_a_quick_run() -> None:
    scripts = {
        path.name
        for path in BENCHMARKS.glob("*.py")
        if 'if __name__ == "__main__":' in path.read_text(encoding="utf-8")
    }
    assert scripts == {run.script for run in QUICK_RUNS} | set(QUICK_ELSEWHERE)
    for script in scripts:
        assert "--quick" in (BENCHMARKS / script).read_text(encoding="utf-8"), script


# nab-check against tampered published results -------------------------------------------------


def _nab_copy(tmp_path: Path) -> tuple[Path, Path]:
    """A NAB root under tmp_path of links to the real files, with the windowedGaussian results
    and final_results.json as directories of links and a file of its own, so that one file can
    be rewritten without touching the shared data. Returns (the CIVICHUB_SHARED_DATA to use,
    the real NAB root)."""
    real = nab_root()
    if real is None:
        require_service("the NAB corpus", "nab-check reads it where the script looks it up")
    assert real is not None
    root = tmp_path / "nab"
    results = root / "results" / "windowedGaussian"
    results.mkdir(parents=True)
    for name in ("data", "labels"):
        (root / name).symlink_to(real / name)
    (root / "results" / "final_results.json").write_text(
        (real / "results" / "final_results.json").read_text()
    )
    for entry in (real / "results" / "windowedGaussian").iterdir():
        if entry.is_dir():
            (results / entry.name).mkdir()
            for item in entry.iterdir():
                (results / entry.name / item.name).symlink_to(item)
        else:
            (results / entry.name).symlink_to(entry)
    return tmp_path, real


def _tamper_published_score(root: Path, real: Path) -> None:
    path = root / "results" / "final_results.json"
    published = json.loads(path.read_text())
    published["windowedGaussian"]["standard"] += 0.5
    path.write_text(json.dumps(published))


def _tamper_anomaly_score(root: Path, real: Path) -> None:
    """One row of one file's stored detector output, outside its windows and past probation,
    turned into a detection: a false positive that NAB's published scores do not have."""
    name = "realTweets/windowedGaussian_Twitter_volume_AAPL.csv"
    path = root / "results" / "windowedGaussian" / name
    rows = (real / "results" / "windowedGaussian" / name).read_text().splitlines()
    fields = rows[12000].split(",")
    assert fields[3] == "0" and float(fields[2]) < 1.0  # label 0: outside every window
    fields[2] = "1.0"
    rows[12000] = ",".join(fields)
    path.unlink()
    path.write_text("\n".join(rows) + "\n")


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "tamper", [_tamper_published_score, _tamper_anomaly_score], ids=["published", "computed"]
)
def test_nab_check_fails_when_a_score_disagrees_with_the_published_one(
    tmp_path: Path, tamper: Callable[[Path, Path], None]
) -> None:
    shared, real = _nab_copy(tmp_path)
    tamper(shared / "nab", real)
    env = dict(os.environ, CIVICHUB_SHARED_DATA=str(shared))
    result = run_benchmark("wellbeing.py", "--only", "nab-check", env=env)
    assert result.returncode != 0, result.stdout
    assert printed(result.stdout)["nab_check"] == "MISMATCH"
    assert "does not reproduce NAB's published results" in result.stderr
