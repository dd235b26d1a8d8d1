"""Readiness: can this process serve? The database, the cache and the task queue's backend each
answer a trivial request; `/readyz` reports which did not (a load balancer takes the process out
of rotation until they do), while `/healthz` only says the process is alive."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

import django_rq
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django_tasks_db.models import DBTaskResult

logger = logging.getLogger(__name__)


def task_backend_kind() -> str:
    """`rq`, `database` or `immediate`, from the default task backend."""
    backend = str(settings.TASKS["default"]["BACKEND"])
    if backend.startswith("django_tasks_rq."):
        return "rq"
    if backend.startswith("django_tasks_db."):
        return "database"
    return "immediate"


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        if cursor.fetchone() != (1,):
            raise RuntimeError("SELECT 1 answered something else")


def check_cache() -> None:
    # A key of its own per call: two processes checking at once must not see each other's value.
    key, value = f"readyz:{secrets.token_hex(8)}", secrets.token_hex(8)
    cache.set(key, value, timeout=10)
    try:
        if cache.get(key) != value:
            raise RuntimeError("the cache did not keep a value")
    finally:
        cache.delete(key)


def check_task_queue() -> None:
    kind = task_backend_kind()
    if kind == "rq":
        django_rq.get_connection("default").ping()
    elif kind == "database":
        DBTaskResult.objects.only("pk").first()


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "cache": check_cache,
    "task_queue": check_task_queue,
}


def readiness() -> dict[str, str]:
    """Each check's outcome: `ok`, or the error's class and message (no stack trace)."""
    outcomes: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:  # a readiness probe reports every failure, whatever it is
            logger.warning("readiness check %s failed: %r", name, exc)
            outcomes[name] = f"{type(exc).__name__}: {exc}"[:300]
        else:
            outcomes[name] = "ok"
    return outcomes
