"""Benchmarks for casework, one section per concern.

    python benchmarks/casework.py [--only SECTION] [--requests N] [--seconds S] [--quick]

Prints `name: value` lines on stdout (progress goes to stderr). Each section is a function in
`SECTIONS`; `--only` runs one of them, the default runs them all.

- `open311`: Open311 POST /open311/v2/requests.json per second and its latency against
  `civichub serve` (uvicorn, two worker processes) on PostgreSQL, with 8 concurrent keep-alive
  clients on this machine (target: at least 300 requests per second, p99 at most 100 ms). Every
  request is a full intake through casework's `case_submit` (tracking number, history, audit row,
  routing and acknowledgement tasks queued after commit), so the figure is end to end. The
  section creates its own database and data directory and removes both afterwards; clients and
  server share the machine's cores. Besides throughput and latency it prints the CPU time per
  request of the server's processes and of the PostgreSQL backends serving them, and the
  transactions committed per request: on a busy machine these are the figures to compare.
- `routing-quality`: macro-F1 of the message router (`civichub.casework.router`) by nested
  cross-validation: on each of 5 outer stratified folds the router chooses its model by 3-fold
  cross-validation inside the training part only (as `train-router` does on a deployment's
  data) and is scored on the held-out fold, beside the baseline it must beat (character
  1-3-gram TF-IDF + LinearSVC) and the previous fixed router (char NBSVM) trained on the same
  folds; mean and spread over the folds, near-duplicates dropped before splitting, on every
  labelled set there is: the Teddy Cup 2020 problem C messages (`titles`, and the bodies we
  have, `details`; target: macro-F1 at least 0.93 on titles) and the Konstanz Mängelmelder
  reports (`konstanz`: German, 19 categories, committed under `benchmarks/data/` with its
  licence); also the chosen models, the calibration (ECE) and the share of messages routed
  without triage. `--corpus`, `--folds`, `--selection-folds` and `--every` narrow a run.
- `routing-speed`: messages classified per second on one core (BLAS/OpenMP pinned to one thread),
  router and baseline, in batches and one at a time (target: at least 5,000 per second).

`--quick` is a smoke test of the script, not a timing: 100 Open311 requests for at most 3
seconds, and the routing sections on every sixth message with 2 folds.

The routing sections read the Teddy Cup messages in place, from
`$CIVICHUB_SHARED_DATA/messages/teddycup2020c/full/` or else `shared/data/...` beside the
repository, and skip them with a message when they are absent. That data has no licence: nothing
derived from it is written anywhere. The Konstanz reports (CC BY 4.0, see
`benchmarks/data/README.md`) are in the repository, so every run evaluates at least them.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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
    postgres_database,
    print_machine,
)

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432"
OPEN311_DATABASE = "civichub_bench_open311"
CLIENTS = 8
SERVER_WORKERS = 2
READY_TIMEOUT = 90.0
# The scale-out configuration (docs/architecture.md) queues tasks in Redis; this database number
# is the section's own (the test suite uses 15, the scale-out test 13) and is emptied afterwards.
OPEN311_REDIS = "redis://127.0.0.1:6379/11"
OPEN311_TARGET_RPS = 300
OPEN311_TARGET_P99_MS = 100.0


# Open311 POST throughput ---------------------------------------------------------------------


def civichub_command(*args: str) -> list[str]:
    return [sys.executable, "-c", "from civichub.cli import main; main()", *args]


def group_cpu_seconds(group: int) -> float:
    """CPU time (user + system) of the live processes in process group `group`: the server's
    master and workers. With other work on the machine, CPU per request is the figure that does
    not depend on how much of the cores the server got."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group:  # fields after the name: state, ppid, pgrp, ...
                total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def civichub_serve(env: dict[str, str]) -> Iterator[tuple[int, int]]:
    """`civichub serve` on a free port, stopped (SIGTERM to its own process group) at the end.
    Yields the port; the process group id is the server's pid (a new session)."""
    port = free_port()
    command = civichub_command(
        "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(SERVER_WORKERS)
    )
    process = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("civichub serve did not start")
            time.sleep(0.2)
        yield port, process.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    created: int = 0
    seconds: float = 0.0


def post_load(port: int, key: str, requests: int, seconds: float, first: int = 0) -> LoadResult:
    """CLIENTS threads, each with one keep-alive connection, POST form-encoded requests (as an
    Open311 client does) from a shared budget of `requests`, stopping at `seconds` at the
    latest."""
    result = LoadResult()
    lock = threading.Lock()
    budget = [requests]
    counter = [first]
    deadline = time.perf_counter() + seconds
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        errors = created = 0
        try:
            while time.perf_counter() < deadline:
                with lock:
                    if budget[0] <= 0:
                        break
                    budget[0] -= 1
                    counter[0] += 1
                    number = counter[0]
                body = urllib.parse.urlencode(
                    {
                        "api_key": key,
                        "service_code": "pothole",
                        "lat": f"{30.0 + (number % 100) * 1e-4:.6f}",
                        "long": f"{120.0 + (number % 37) * 1e-4:.6f}",
                        "description": f"桃源路第 {number} 号路灯旁的路面有坑，请尽快修补。",
                        "attribute[size]": "small" if number % 2 else "large",
                        "email": f"reporter{number}@example.org",
                    }
                )
                started = time.perf_counter()
                try:
                    connection.request("POST", "/open311/v2/requests.json", body, headers)
                    response = connection.getresponse()
                    payload = response.read()
                    ok = response.status == 200 and b"service_request_id" in payload
                except (OSError, http.client.HTTPException):
                    ok = False
                    connection.close()
                mine.append(time.perf_counter() - started)
                errors += not ok
                created += ok
        finally:
            connection.close()
            with lock:
                result.latencies.extend(mine)
                result.errors += errors
                result.created += created

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result


OPEN311_SETUP = """
import json
import django
django.setup()
from civichub.testing.open311 import build_open311_world
from civichub.core.context import acting
with acting(channel="cli"):
    world = build_open311_world()
print(json.dumps({"key": world.key}))
"""


def database_backends(database_url: str) -> list[int]:
    """Process ids of the PostgreSQL backends serving the database (the server's pooled
    connections), when the database server runs on this machine."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(row[0]) for row in rows]


def process_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of one process so far; 0 once it is gone or unreadable (a
    backend of another user's server on another machine)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def database_cpu_seconds(pids: list[int]) -> dict[int, float]:
    return {pid: process_cpu_seconds(pid) for pid in pids}


def database_transactions(database_url: str) -> int:
    """Transactions committed in the database so far (statistics lag about a second)."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        return int(row[0]) if row else 0


def db_sessions(database_url: str) -> int:
    """Sessions the PostgreSQL server has opened on the database so far (statistics lag about a
    second behind)."""
    import psycopg

    time.sleep(1.5)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        return int(row[0]) if row else 0


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def open311_cases(database_url: str) -> int:
    import psycopg

    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM casework_case WHERE channel = 'open311'")
        return int(row.fetchone()[0])  # type: ignore[index]


def open311(args: argparse.Namespace) -> int:
    """Open311 POST requests per second and p99 latency against `civichub serve` on PostgreSQL."""
    import psycopg

    data_dir = Path(tempfile.mkdtemp(prefix="civichub-bench-open311-"))
    env = os.environ.copy()
    for name in ("REDIS_URL", "CIVICHUB_TEST_DATABASE_URL", "CIVICHUB_TASK_BACKEND"):
        env.pop(name, None)
    env.update(
        CIVICHUB_DATA_DIR=str(data_dir),
        DJANGO_SETTINGS_MODULE="civichub.settings",
        CIVICHUB_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    try:
        with postgres_database(args.postgres, OPEN311_DATABASE) as database_url:
            env["DATABASE_URL"] = database_url
            with psycopg.connect(database_url) as conn:
                version = conn.execute("SHOW server_version").fetchone()
            line("open311.database", f"PostgreSQL {version[0] if version else 'unknown'}")
            line("open311.server", f"civichub serve (uvicorn), {SERVER_WORKERS} worker processes")
            if args.tasks == "redis":
                env["REDIS_URL"] = args.redis
                flush_redis(args.redis)
                line("open311.task_backend", "rq on redis (the scale-out configuration)")
            else:
                line(
                    "open311.task_backend", "database (django-tasks-db, the embedded configuration)"
                )
            line("open311.clients", CLIENTS)
            note("[open311] migrating and setting up services and a key...")
            subprocess.run(
                civichub_command("migrate", "--verbosity", "0"), env=env, check=True, timeout=600
            )
            setup = subprocess.run(
                [sys.executable, "-c", OPEN311_SETUP],
                env=env,
                check=True,
                timeout=600,
                capture_output=True,
                text=True,
            )
            key = json.loads(setup.stdout.strip().splitlines()[-1])["key"]
            with civichub_serve(env) as (port, group):
                note("[open311] warming up...")
                post_load(port, key, requests=min(300, args.requests), seconds=10, first=10**6)
                stored_before = open311_cases(database_url)
                sessions_before = db_sessions(database_url)
                commits_before = database_transactions(database_url)
                note(f"[open311] {args.requests} POSTs, at most {args.seconds:.0f} s...")
                backends = database_cpu_seconds(database_backends(database_url))
                cpu_before = group_cpu_seconds(group)
                result = post_load(port, key, args.requests, args.seconds)
                server_cpu = group_cpu_seconds(group) - cpu_before
                # Backends opened during the run count from zero; the pool keeps them open.
                after = database_cpu_seconds(database_backends(database_url))
                database_cpu = sum(t - backends.get(pid, 0.0) for pid, t in after.items())
                sessions = db_sessions(database_url) - sessions_before - 1
                # The statistics' own few reads count too: noise over thousands of requests.
                commits = database_transactions(database_url) - commits_before
                stored = open311_cases(database_url) - stored_before
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        if args.tasks == "redis":
            flush_redis(args.redis)
    count = len(result.latencies)
    rps = count / result.seconds
    p50 = percentile(result.latencies, 0.50) * 1000
    p99 = percentile(result.latencies, 0.99) * 1000
    line("open311.post.requests", count)
    line("open311.post.errors", result.errors)
    line("open311.post.cases_stored", stored)
    line("open311.post.seconds", f"{result.seconds:.1f}")
    line("open311.post.requests_per_second", f"{rps:.0f}")
    line("open311.post.p50_ms", f"{p50:.1f}")
    line("open311.post.p99_ms", f"{p99:.1f}")
    line("open311.post.max_ms", f"{max(result.latencies) * 1000:.1f}")
    line("open311.post.server_cpu_ms_per_request", f"{server_cpu * 1000 / max(count, 1):.1f}")
    line("open311.post.database_cpu_ms_per_request", f"{database_cpu * 1000 / max(count, 1):.1f}")
    line("open311.post.db_sessions_opened_per_request", f"{sessions / max(count, 1):.2f}")
    line("open311.post.db_transactions_per_request", f"{commits / max(count, 1):.2f}")
    line("open311.post.load_average", load_average())
    line("open311.post.target", f">= {OPEN311_TARGET_RPS}/s, p99 <= {OPEN311_TARGET_P99_MS:.0f} ms")
    met = rps >= OPEN311_TARGET_RPS and p99 <= OPEN311_TARGET_P99_MS and not result.errors
    line("open311.post.target_met", "yes" if met else "no")
    return 0 if stored == result.created else 1


# Routing quality and speed -------------------------------------------------------------------

# The Teddy Cup 2020 problem C messages (7 first-level categories) have no licence: they are read
# in place for this offline evaluation, never copied into the repository, and no model trained on
# them is kept.
MESSAGES_DIR = Path("messages") / "teddycup2020c" / "full"
TITLES_FILE = "fj2_titles_labelled.csv"
DETAILS_FILE = "fj2_details_labelled_partial.csv"
# Citizens' reports to the city of Konstanz (German), CC BY 4.0: see benchmarks/data/README.md.
KONSTANZ_FILE = Path(__file__).resolve().parent / "data" / "konstanz_maengelmelder.csv.gz"
KONSTANZ_SOURCE = (
    "Stadt Konstanz, Mängelmelder 2020-01 to 2022-10 (offenedaten-konstanz.de, CC BY 4.0)"
)
# As `train-router` does (`router.DEFAULT_MIN_PER_CATEGORY`): rarer categories are left out.
MIN_PER_CATEGORY = 10
CORPORA = ("titles", "details", "konstanz")
ROUTER_TARGET_F1_TITLES = 0.93
ROUTER_TARGET_RATE = 5000
ROUTING_FOLDS = 5
SELECTION_FOLDS = 3
QUICK_FOLDS = 2
QUICK_MESSAGES_STEP = 6
ROUTING_SEED = 0
TRIAGE_THRESHOLD = 0.5  # casework's default `triage_threshold`
BASELINE_MAX_CHARS = 1000
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def pin_one_thread() -> None:
    """One BLAS/OpenMP thread; effective only before numpy is first imported (it is not, before
    the routing sections), and `threadpool_limits` holds it during the timed calls as well."""
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"


def messages_dir() -> Path:
    """`$CIVICHUB_SHARED_DATA/messages/...`, else `shared/data/messages/...` beside the
    repository."""
    root = os.environ.get("CIVICHUB_SHARED_DATA")
    base = Path(root) if root else Path(__file__).resolve().parents[2] / "shared" / "data"
    return base / MESSAGES_DIR


def near_duplicate_key(text: str) -> str:
    """What two texts that differ only in punctuation, white space, width or case share: the
    rule `train-router` applies too (`civichub.casework.router.near_duplicate_key`)."""
    from civichub.casework.router import near_duplicate_key as key

    return key(text)


def read_labelled(
    path: Path, text_column: str, label_column: str = "label"
) -> tuple[list[str], list[str], int]:
    """(texts, labels, near-duplicates dropped): each text once, with its first label; texts
    that differ only in punctuation, white space, width or case count as one. A `.gz` file is
    read decompressed."""
    import csv
    import gzip

    seen: dict[str, tuple[str, str]] = {}
    rows = 0
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            rows += 1
            text = (row[text_column] or "").strip()
            if text and row[label_column]:
                seen.setdefault(near_duplicate_key(text), (text, row[label_column]))
    return [t for t, _ in seen.values()], [y for _, y in seen.values()], rows - len(seen)


def common_categories(
    texts: list[str], labels: list[str], minimum: int = MIN_PER_CATEGORY
) -> tuple[list[str], list[str]]:
    """The messages of categories with at least `minimum` of them, as training keeps them."""
    from collections import Counter

    counts = Counter(labels)
    kept = [i for i, label in enumerate(labels) if counts[label] >= minimum]
    return [texts[i] for i in kept], [labels[i] for i in kept]


def routing_corpora(args: argparse.Namespace) -> dict[str, tuple[list[str], list[str], int]]:
    """The labelled sets asked for (all by default): the Teddy Cup titles and bodies when the
    shared data is there, and the committed Konstanz reports; with `--quick`, every
    `QUICK_MESSAGES_STEP`th message only."""
    wanted = [name for name in CORPORA if args.corpus in (None, name)]
    corpora: dict[str, tuple[list[str], list[str], int]] = {}
    folder = messages_dir()
    titles, details = folder / TITLES_FILE, folder / DETAILS_FILE
    if {"titles", "details"} & set(wanted):
        if titles.is_file() and details.is_file():
            corpora["titles"] = read_labelled(titles, "title")
            corpora["details"] = read_labelled(details, "detail")
        else:
            line("routing.skipped", f"Teddy Cup messages not found in {folder}")
            note(f"[routing] set CIVICHUB_SHARED_DATA to the folder holding {MESSAGES_DIR}")
    if "konstanz" in wanted:
        texts, labels, duplicates = read_labelled(KONSTANZ_FILE, "text", "category")
        corpora["konstanz"] = (*common_categories(texts, labels), duplicates)
        line("routing.konstanz.source", KONSTANZ_SOURCE)
    step = QUICK_MESSAGES_STEP if args.quick else args.every
    return {
        name: (t[::step], y[::step], d) for name, (t, y, d) in corpora.items() if name in wanted
    }


def baseline_model() -> Any:
    """The baseline to beat: character 1-3-gram TF-IDF (char_wb, min_df 2, sublinear tf) and a
    LinearSVC (C 0.5), on at most the first 1,000 characters."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    return make_pipeline(
        TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=(1, 3),
            min_df=2,
            sublinear_tf=True,
            preprocessor=lambda text: text[:BASELINE_MAX_CHARS].lower(),
        ),
        LinearSVC(C=0.5),
    )


def expected_calibration_error(confidence: Any, correct: Any, bins: int = 10) -> float:
    """Mean |accuracy - confidence| over 10 equal-width confidence bins, weighted by size."""
    import numpy as np

    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(total)


def print_routing_machine() -> None:
    import numpy
    import scipy
    import sklearn
    from threadpoolctl import threadpool_info

    line("machine.sklearn", sklearn.__version__)
    line("machine.numpy", numpy.__version__)
    line("machine.scipy", scipy.__version__)
    pools = ", ".join(f"{p['internal_api']}={p['num_threads']}" for p in threadpool_info())
    line("routing.thread_pools", pools or "none")


def routing_quality(args: argparse.Namespace) -> int:
    """Nested cross-validation: on each of 5 outer stratified folds, the router chooses its
    model by 3-fold cross-validation inside the training folds only (`router.fit_selected`, as
    `train-router` does on a deployment's data), and is scored on the held-out fold beside the
    baseline and the previous fixed router (char NBSVM) trained on the same folds. Near-
    duplicates are dropped before splitting."""
    pin_one_thread()
    corpora = routing_corpora(args)
    if not corpora:
        return 0
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    from civichub.casework.router import DEFAULT_SETTINGS, CategoryRouter, fit_selected

    print_routing_machine()
    fold_count = QUICK_FOLDS if args.quick else args.folds
    inner = QUICK_FOLDS if args.quick else args.selection_folds
    line(
        "routing.cross_validation",
        f"{fold_count}-fold stratified outer, {inner}-fold selection inside each training "
        f"part, seed {ROUTING_SEED}",
    )
    for name, (texts, labels, duplicates) in corpora.items():
        x = np.asarray(texts, dtype=object)
        y = np.asarray(labels)
        line(f"routing.{name}.messages", len(texts))
        line(f"routing.{name}.near_duplicates_dropped", duplicates)
        line(f"routing.{name}.categories", len(set(labels)))
        scores: dict[str, list[float]] = {"router": [], "baseline": [], "router_fixed": []}
        router_pred = np.empty(len(y), dtype=object)
        confidence = np.zeros(len(y))
        baseline_pred = np.empty(len(y), dtype=object)
        chosen: list[str] = []
        folds = StratifiedKFold(fold_count, shuffle=True, random_state=ROUTING_SEED)
        started = time.perf_counter()
        with threadpool_limits(limits=1):
            for number, (train, test) in enumerate(folds.split(x, y), 1):
                note(f"[routing] {name}: fold {number}/{fold_count}")
                router, selection = fit_selected(list(x[train]), list(y[train]), folds=inner)
                chosen.append(selection.chosen.name)
                predicted = router.predict(list(x[test]))
                router_pred[test] = [label for label, _ in predicted]
                confidence[test] = [p for _, p in predicted]
                fixed = CategoryRouter(settings=DEFAULT_SETTINGS, calibrate=False)
                fixed_pred = [
                    p for p, _ in fixed.fit(list(x[train]), list(y[train])).predict(list(x[test]))
                ]
                baseline = baseline_model().fit(list(x[train]), y[train])
                baseline_pred[test] = baseline.predict(list(x[test]))
                scores["router"].append(f1_score(y[test], router_pred[test], average="macro"))
                scores["router_fixed"].append(f1_score(y[test], fixed_pred, average="macro"))
                scores["baseline"].append(f1_score(y[test], baseline_pred[test], average="macro"))
        for model, values in scores.items():
            line(f"{model}_macro_f1_{name}", f"{np.mean(values):.4f}")
            line(f"{model}_macro_f1_{name}_fold_std", f"{np.std(values):.4f}")
        wins = sum(r >= b for r, b in zip(scores["router"], scores["baseline"], strict=True))
        line(f"router_folds_not_below_baseline_{name}", f"{wins}/{fold_count}")
        line(f"router_chosen_models_{name}", ",".join(chosen))
        line(f"router_accuracy_{name}", f"{accuracy_score(y, router_pred):.4f}")
        line(f"baseline_accuracy_{name}", f"{accuracy_score(y, baseline_pred):.4f}")
        correct = (router_pred == y).astype(float)
        line(
            f"router_confidence_ece_{name}",
            f"{expected_calibration_error(confidence, correct):.4f}",
        )
        confident = confidence >= TRIAGE_THRESHOLD
        line(f"router_auto_routed_share_{name}_at_{TRIAGE_THRESHOLD}", f"{confident.mean():.4f}")
        line(
            f"router_auto_routed_accuracy_{name}_at_{TRIAGE_THRESHOLD}",
            f"{correct[confident].mean():.4f}" if confident.any() else "n/a",
        )
        line(f"routing.{name}.seconds", f"{time.perf_counter() - started:.1f}")
        line(f"routing.{name}.load_average", load_average())
        if name == "titles":
            met = np.mean(scores["router"]) >= ROUTER_TARGET_F1_TITLES
            line("router_macro_f1_titles_target", f">= {ROUTER_TARGET_F1_TITLES}")
            line("router_macro_f1_titles_target_met", "yes" if met else "no")
    return 0


def messages_per_second(predict: Callable[[list[str]], object], texts: list[str]) -> float:
    """Best of three timed batch predictions of all `texts` (after one warm-up)."""
    predict(texts[:100])
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        predict(texts)
        best = min(best, time.perf_counter() - started)
    return len(texts) / best


def routing_speed(args: argparse.Namespace) -> int:
    """Prediction throughput on one core: batch prediction of every message after training on
    80 % of them, for the router and the baseline; and the latency of one message at a time,
    as routing calls it."""
    pin_one_thread()
    corpora = routing_corpora(args)
    if not corpora:
        return 0
    import numpy as np
    from sklearn.model_selection import train_test_split
    from threadpoolctl import threadpool_limits

    from civichub.casework.router import fit_selected

    if args.only == "routing-speed":
        print_routing_machine()
    with threadpool_limits(limits=1):
        for name, (texts, labels, _duplicates) in corpora.items():
            suffix = "" if name == "titles" else f"_{name}"
            train_x, _test_x, train_y, _test_y = train_test_split(
                texts, labels, test_size=0.2, stratify=labels, random_state=ROUTING_SEED
            )
            router, selection = fit_selected(train_x, train_y)
            line(f"router_speed_model{suffix}", selection.chosen.name)
            baseline = baseline_model().fit(train_x, train_y)
            rate = messages_per_second(router.predict, texts)
            line(f"router_messages_per_second_one_core{suffix}", f"{rate:.0f}")
            line(
                f"baseline_messages_per_second_one_core{suffix}",
                f"{messages_per_second(baseline.predict, texts):.0f}",
            )
            one = texts[:500]
            started = time.perf_counter()
            for text in one:
                router.predict([text])
            single_ms = (time.perf_counter() - started) / len(one) * 1000
            line(f"router_ms_per_single_message{suffix}", f"{single_ms:.3f}")
            mean_chars = np.mean([len(t) for t in texts])
            line(f"routing.{name}.mean_characters", f"{mean_chars:.0f}")
            if name == "titles":
                line("router_messages_per_second_target", f">= {ROUTER_TARGET_RATE}")
                line(
                    "router_messages_per_second_target_met",
                    "yes" if rate >= ROUTER_TARGET_RATE else "no",
                )
    return 0


SECTIONS: dict[str, Callable[[argparse.Namespace], int]] = {
    "open311": open311,
    "routing-quality": routing_quality,
    "routing-speed": routing_speed,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(SECTIONS), help="run one section")
    parser.add_argument("--requests", type=int, default=6000, help="per load run, at most")
    parser.add_argument("--seconds", type=float, default=30.0, help="per load run, at most")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="server URL, no database")
    parser.add_argument(
        "--tasks",
        choices=["redis", "database"],
        default="redis",
        help="open311: where intake queues its tasks (default: redis, the scale-out setup)",
    )
    parser.add_argument(
        "--redis",
        default=OPEN311_REDIS,
        help="open311: the Redis database it queues in and empties",
    )
    parser.add_argument("--corpus", choices=list(CORPORA), help="routing: one labelled set only")
    parser.add_argument(
        "--folds", type=int, default=ROUTING_FOLDS, help="routing-quality: outer folds"
    )
    parser.add_argument(
        "--every", type=int, default=1, help="routing: every Nth message only (a shorter run)"
    )
    parser.add_argument(
        "--selection-folds",
        type=int,
        default=SELECTION_FOLDS,
        help="routing-quality: folds of the model selection inside each training part",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke test of the script")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.seconds = min(args.requests, 100), min(args.seconds, 3.0)
    print_machine()
    failed = 0
    for name, section in SECTIONS.items():
        if args.only in (None, name):
            failed += section(args) != 0
    line("machine.load_average_end", load_average())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
