"""/healthz says the process lives; /readyz says whether it can serve, naming what cannot."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.db import OperationalError, connection
from django.test import Client, override_settings

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def test_readyz_is_ok_when_database_cache_and_queue_answer(db: Any) -> None:
    response = Client().get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "failed": [],
        "checks": {"database": "ok", "cache": "ok", "task_queue": "ok"},
    }


def test_readyz_names_an_unreachable_cache(db: Any) -> None:
    unreachable = {
        "default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": UNREACHABLE_REDIS}
    }
    # The task queue shares the cache's Redis connection when Redis is configured; here it gets
    # a connection of its own, so only the cache is unreachable.
    own_queue = (
        {"RQ_QUEUES": {"default": {"URL": settings.REDIS_URL, "DEFAULT_TIMEOUT": 600}}}
        if settings.REDIS_URL
        else {}
    )
    with override_settings(CACHES=unreachable, **own_queue):
        response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["cache"]
    assert body["checks"]["database"] == "ok" and body["checks"]["task_queue"] == "ok"
    assert "Traceback" not in body["checks"]["cache"]


def test_readyz_names_an_unreachable_task_queue(db: Any) -> None:
    with override_settings(
        TASKS={"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}},
        RQ_QUEUES={"default": {"URL": UNREACHABLE_REDIS, "DEFAULT_TIMEOUT": 600}},
    ):
        response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["task_queue"]


def test_readyz_names_a_failing_database(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("connection refused")

    # The session and auth middleware touch no table for an anonymous request without a cookie,
    # so only the checks meet the failing database.
    with monkeypatch.context() as patched:
        patched.setattr(connection, "cursor", refuse)
        response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert "database" in body["failed"]
    assert body["checks"]["database"] == "OperationalError: connection refused"
    assert body["checks"]["cache"] == "ok"
