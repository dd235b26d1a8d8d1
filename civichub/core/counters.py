"""The metrics every process counts itself (prometheus_client), in a module of their own that
imports nothing of civichub, so that the audit log and the request middleware can count without
depending on the exposition (`core.metrics`)."""

from __future__ import annotations

from functools import lru_cache

from django.apps import apps
from django.http import HttpRequest
from prometheus_client import Counter, Histogram

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
TASK_BUCKETS = (0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

HTTP_REQUESTS = Counter(
    "civichub_http_requests", "HTTP requests answered", ["route", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "civichub_http_request_duration_seconds",
    "Time to produce a response (to its first byte for streams)",
    ["route", "status"],
    buckets=LATENCY_BUCKETS,
)
TASK_RUN = Histogram(
    "civichub_task_duration_seconds",
    "Tasks run by the workers: time from start to finish",
    ["task", "status"],
    buckets=TASK_BUCKETS,
)
TASK_WAIT = Histogram(
    "civichub_task_wait_seconds",
    "Tasks run by the workers: time from enqueueing to start",
    ["task"],
    buckets=TASK_BUCKETS,
)
MODULE_ACTIONS = Counter(
    "civichub_module_actions",
    "Audited actions written, by module and action",
    ["module", "action"],
)


# Actions named after a protocol or a shared noun rather than their app's label.
_ACTION_MODULES = {"mastodon": "broadcast", "notification": "notify"}


@lru_cache(maxsize=1024)  # a fixed set of actions, named in the code
def _module_of(action: str) -> str:
    """The app an action belongs to: its first word when that is an app's label (`casework.`),
    else core's (core's own actions are `resident.view`, `user.create`, ...)."""
    first = action.split(".", 1)[0]
    first = _ACTION_MODULES.get(first, first)
    return first if first != "core" and apps.is_installed(f"civichub.{first}") else "core"


def action_written(action: str) -> None:
    """Counts an audited action as its row is written. Not deferred to the commit: an
    on-commit callback per audit row would cost every transaction, and a row rolled back is
    rare (an error after the audit); the audit log itself stays the exact record."""
    MODULE_ACTIONS.labels(module=_module_of(action), action=action).inc()


def request_observed(request: HttpRequest, status: int, seconds: float) -> None:
    """One answered request. The route is the URL pattern (`api/casework/cases/<int:case_id>`),
    never the path itself, so that ids do not multiply the series."""
    match = getattr(request, "resolver_match", None)
    route = (match.route if match is not None else "") or "unmatched"
    method = request.method if request.method in _METHODS else "other"
    HTTP_REQUESTS.labels(route=route, method=method, status=str(status)).inc()
    HTTP_LATENCY.labels(route=route, status=str(status)).observe(seconds)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
