"""Prometheus metrics for operators (`/metrics`, protected).

Two kinds of figure:

- **Counted in the processes** with `prometheus_client` (the Prometheus project's own client,
  maintained with the exposition format and the only one with a tested multi-process mode):
  requests by route and status with their latency, tasks run by the workers with their wait and
  run time, and actions per module (audit rows written). Several `civichub serve` processes
  and workers run at once, each with its own counters; with `PROMETHEUS_MULTIPROC_DIR` set (the
  same directory for every process on the machine, emptied at boot) each writes its counters to
  files there and a scrape of any one process sums them all. Without it, a scrape sees only the
  process that answers (fine for one process).
- **Read from the shared state** when scraped, the same whichever process answers: the task
  queue's depth and the age of its oldest waiting task, and each module's own figures, declared
  in its manifest (`ModuleManifest.metrics`, a function returning `Reading`s: the notification
  outbox's backlog, wellbeing's ingestion lag, ...). They are cached for a few seconds in the
  shared cache, so that many scrapers do not multiply the queries.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import django_rq
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count
from django.http import HttpRequest
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks.signals import task_finished
from django_tasks_db.models import DBTaskResult
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from civichub.core.counters import TASK_RUN, TASK_WAIT
from civichub.core.health import task_backend_kind
from civichub.core.permissions import allowed
from civichub.core.registry import modules

logger = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
READINGS_CACHE_KEY = "metrics:readings"
READINGS_CACHE_SECONDS = 10
RUNNING_HELP = "Tasks being run now"
FAILED_HELP = "Failed tasks kept by RQ"


@dataclass(frozen=True)
class Reading:
    """One figure read from the shared state: `name` without the `civichub_` prefix."""

    name: str
    help: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)


# Counting in the processes --------------------------------------------------------------------
def task_observed(sender: Any, task_result: Any, **kwargs: Any) -> None:
    name = str(getattr(task_result.task, "module_path", "unknown"))
    enqueued, started, finished = (
        task_result.enqueued_at,
        task_result.started_at,
        task_result.finished_at,
    )
    if enqueued and started:
        TASK_WAIT.labels(task=name).observe(max(0.0, (started - enqueued).total_seconds()))
    if started and finished:
        seconds = max(0.0, (finished - started).total_seconds())
        TASK_RUN.labels(task=name, status=str(task_result.status).lower()).observe(seconds)


def connect_task_signals() -> None:
    """The worker observes every task it finishes."""
    task_finished.connect(task_observed, weak=False, dispatch_uid="civichub.metrics.task")


# Reading the shared state ---------------------------------------------------------------------
def task_queue_readings() -> list[Reading]:
    kind = task_backend_kind()
    readings: list[Reading] = []
    depth_help = "Tasks waiting in the queue"
    if kind == "database":
        waiting = DBTaskResult.objects.ready()
        by_queue = dict(
            waiting.order_by()
            .values_list("queue_name")
            .annotate(n=Count("pk"))
            .values_list("queue_name", "n")
        )
        for queue in settings.TASKS["default"].get("QUEUES", ["default"]):
            readings.append(
                Reading("task_queue_depth", depth_help, by_queue.get(queue, 0), {"queue": queue})
            )
        oldest = waiting.order_by("enqueued_at").values_list("enqueued_at", flat=True).first()
        age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
        readings.append(
            Reading("task_queue_oldest_age_seconds", "Age of the oldest waiting task", age)
        )
        running = DBTaskResult.objects.running().count()
        readings.append(Reading("task_running", RUNNING_HELP, running))
    elif kind == "rq":
        for queue_name in settings.RQ_QUEUES:
            rq_queue = django_rq.get_queue(queue_name)
            labels = {"queue": queue_name}
            readings += [
                Reading("task_queue_depth", depth_help, float(rq_queue.count), labels),
                Reading("task_running", RUNNING_HELP, rq_queue.started_job_registry.count, labels),
                Reading("task_failed", FAILED_HELP, rq_queue.failed_job_registry.count, labels),
            ]
    return readings


def _providers() -> Iterator[tuple[str, Callable[[], Iterable[Reading]]]]:
    yield "core", task_queue_readings
    for config, manifest in modules():
        if manifest.metrics:
            yield config.label, import_string(manifest.metrics.replace(":", "."))


def collect_readings() -> list[Reading]:
    """Every provider's readings; one that fails is reported down, the others still count."""
    readings: list[Reading] = []
    for name, provider in _providers():
        try:
            readings.extend(provider())
        except Exception:  # a broken provider must not hide the others' figures
            logger.exception("metrics provider %s failed", name)
            up = 0.0
        else:
            up = 1.0
        readings.append(
            Reading(
                "metrics_provider_up",
                "Whether a module's figures could be read",
                up,
                {"provider": name},
            )
        )
    return readings


def cached_readings() -> list[Reading]:
    readings = cache.get(READINGS_CACHE_KEY)
    if readings is None:
        readings = collect_readings()
        cache.set(READINGS_CACHE_KEY, readings, READINGS_CACHE_SECONDS)
    return list(readings)


class SharedStateCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        families: dict[str, GaugeMetricFamily] = {}
        for reading in cached_readings():
            name = f"civichub_{reading.name}"
            family = families.get(name)
            if family is None:
                family = GaugeMetricFamily(name, reading.help, labels=sorted(reading.labels))
                families[name] = family
            family.add_metric([reading.labels[k] for k in sorted(reading.labels)], reading.value)
        yield from families.values()


class _ThisProcess(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def exposition() -> bytes:
    """The text exposition format: every process's counters (or this one's) and the shared
    state's readings."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(SharedStateCollector())
    return generate_latest(registry)


# Access ----------------------------------------------------------------------------------------
def scrape_allowed(request: HttpRequest) -> bool:
    """A scraper with the bearer token of CIVICHUB_METRICS_TOKEN, or a signed-in operator."""
    token: str = settings.CIVICHUB_METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header.removeprefix("Bearer ").strip().encode(), token.encode())
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and allowed(user, "core.metrics.view"))
