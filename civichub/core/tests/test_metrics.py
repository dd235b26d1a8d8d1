"""/metrics: Prometheus's text format, for a scraper with the token or a signed-in operator only;
requests counted by route and status, tasks, audited actions per module, and each module's
backlogs read from the database."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import django_rq
import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from django_tasks import task
from prometheus_client.parser import text_string_to_metric_families

from civichub.core import metrics
from civichub.core.counters import MODULE_ACTIONS, TASK_RUN, TASK_WAIT
from civichub.core.health import task_backend_kind
from civichub.testing.city import SmallCity, build_city, staff_user

TOKEN = "scrape-token-for-tests-0123456789"
DASHBOARD = Path(__file__).resolve().parents[3] / "docs" / "grafana-dashboard.json"


@pytest.fixture
def token(settings: Any) -> str:
    settings.CIVICHUB_METRICS_TOKEN = TOKEN
    return TOKEN


def _scrape(client: Client | None = None, token: str | None = TOKEN) -> dict[str, list[Any]]:
    client = client or Client()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    families = text_string_to_metric_families(response.content.decode())
    return {family.name: family.samples for family in families}


def _value(samples: list[Any], name: str, **labels: str) -> float:
    matching = [
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    return sum(matching)


def test_metrics_refuse_anonymous_and_wrong_token(db: Any, token: str) -> None:
    anonymous = Client().get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"].startswith("Bearer")
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401


def test_metrics_refuse_a_signed_in_non_operator(city: SmallCity, make_user: Any) -> None:
    worker = make_user("community_worker", city.community_a1, username="worker")
    client = Client()
    client.force_login(worker)
    assert client.get("/metrics").status_code == 403


def test_metrics_without_a_configured_token_take_no_bearer(db: Any, settings: Any) -> None:
    settings.CIVICHUB_METRICS_TOKEN = ""
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401


def test_an_operator_reads_metrics_signed_in(city: SmallCity, make_user: Any) -> None:
    operator = make_user("operator", city.city, username="ops")
    client = Client()
    client.force_login(operator)
    assert "civichub_metrics_provider_up" in _scrape(client, token=None)


def test_requests_are_counted_by_route_and_status(db: Any, token: str) -> None:
    before = _scrape()
    Client().get("/healthz")
    Client().get("/no/such/page")
    after = _scrape()
    requests = "civichub_http_requests_total"

    def delta(**labels: str) -> float:
        return _value(after.get("civichub_http_requests", []), requests, **labels) - _value(
            before.get("civichub_http_requests", []), requests, **labels
        )

    assert delta(route="healthz", method="GET", status="200") == 1
    assert delta(route="unmatched", status="404") == 1
    latency = after["civichub_http_request_duration_seconds"]
    assert _value(latency, "civichub_http_request_duration_seconds_count", route="healthz") >= 1


def _actions(module: str) -> float:
    samples = _scrape().get("civichub_module_actions", [])
    return _value(samples, "civichub_module_actions_total", module=module, action="user.create")


@pytest.mark.django_db(transaction=True)
def test_audited_actions_are_counted_per_module(token: str) -> None:
    city = build_city()
    before = _actions("core")
    staff_user("community_worker", city.community_a1, username="counted")
    assert _actions("core") == before + 1


def _finished_task() -> Any:
    """What django-tasks hands the task_finished signal: a result with its three times."""
    enqueued = timezone.now() - dt.timedelta(seconds=7)
    return SimpleNamespace(
        task=SimpleNamespace(module_path="civichub.example.tasks.send"),
        status="SUCCESSFUL",
        enqueued_at=enqueued,
        started_at=enqueued + dt.timedelta(seconds=5),
        finished_at=enqueued + dt.timedelta(seconds=7),
    )


def test_tasks_are_observed_with_wait_and_run_time() -> None:
    name = "civichub.example.tasks.send"
    run_before = TASK_RUN.labels(task=name, status="successful")._sum.get()
    wait_before = TASK_WAIT.labels(task=name)._sum.get()
    metrics.task_observed(sender=None, task_result=_finished_task())
    assert TASK_RUN.labels(task=name, status="successful")._sum.get() - run_before == 2
    assert TASK_WAIT.labels(task=name)._sum.get() - wait_before == 5


def test_shared_state_readings_include_queue_and_every_module(db: Any, token: str) -> None:
    families = _scrape()
    providers = {s.labels["provider"]: s.value for s in families["civichub_metrics_provider_up"]}
    assert providers == {"core": 1, "notify": 1, "casework": 1, "wellbeing": 1}
    assert "default" in {s.labels["queue"] for s in families["civichub_task_queue_depth"]}
    assert "civichub_wellbeing_detection_backlog" in families
    assert "civichub_notify_deliveries_failed" in families


def test_a_failing_provider_is_reported_down_and_the_others_still_count(
    db: Any, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> list[metrics.Reading]:
        raise RuntimeError("table missing")

    monkeypatch.setattr(metrics, "task_queue_readings", broken)
    families = _scrape()
    up = {s.labels["provider"]: s.value for s in families["civichub_metrics_provider_up"]}
    assert up["core"] == 0 and up["notify"] == 1


MULTIPROCESS_CHILD = """
import os, sys
os.environ["PROMETHEUS_MULTIPROC_DIR"] = sys.argv[1]
from prometheus_client import Counter
Counter("civichub_http_requests", "x", ["route", "method", "status"]).labels(
    route="healthz", method="GET", status="200").inc(3)
"""


def test_counters_of_every_process_are_summed_with_a_multiprocess_directory(
    db: Any, token: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(2):  # two other processes, as two `civichub serve` workers would be
        subprocess.run(  # noqa: S603
            [sys.executable, "-c", MULTIPROCESS_CHILD, str(tmp_path)], check=True
        )
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    families = _scrape()
    total = _value(
        families["civichub_http_requests"], "civichub_http_requests_total", route="healthz"
    )
    assert total == 6


def test_every_metric_the_grafana_dashboard_queries_is_exposed(db: Any, token: str) -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"civichub_[a-z_]+", target["expr"])
    }
    Client().get("/healthz")  # a request, so that the request families have samples
    metrics.task_observed(sender=None, task_result=_finished_task())
    MODULE_ACTIONS.labels(module="core", action="user.create").inc(0)  # none written yet
    response = Client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    exposed = set(re.findall(r"^(civichub_[a-z_]+)", response.content.decode(), re.M))
    # Only present once a meter reading is stored (civichub/wellbeing/tests/test_metrics.py).
    needs_data = {"civichub_wellbeing_ingestion_lag_seconds"}
    assert queried - exposed == needs_data


@task()
def queued_for_the_depth_test() -> None:
    """Never run: it only waits in the queue."""


def test_the_queue_depth_counts_a_waiting_task(db: Any, token: str) -> None:
    def depth() -> float:
        cache.delete(metrics.READINGS_CACHE_KEY)  # read afresh, not the cached figures
        return _value(
            _scrape()["civichub_task_queue_depth"], "civichub_task_queue_depth", queue="default"
        )

    before = depth()
    result = queued_for_the_depth_test.enqueue()
    try:
        assert depth() == before + 1
    finally:
        if task_backend_kind() == "rq":  # Redis keeps it past the test's transaction
            django_rq.get_queue("default").remove(result.id)
