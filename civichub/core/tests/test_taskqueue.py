"""The RQ queue tasks go to with Redis (`core.taskqueue`): a job is written in one round trip,
whole, and a worker finds it where RQ's own path puts it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from rq.job import JobStatus

from civichub.core.taskqueue import Queue

# Without REDIS_URL (the SQLite run, beside CI's PostgreSQL + Redis run on database 15) a
# Redis database number of its own, so that the two runs never share these keys.
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/12"


@pytest.fixture
def queue() -> Iterator[Queue]:
    import redis

    connection = redis.Redis.from_url(REDIS_URL)
    try:
        connection.ping()
    except redis.RedisError as exc:
        from conftest import require_service

        require_service("Redis", f"{REDIS_URL}: {exc}")
    queue = Queue(f"test-{uuid.uuid4().hex}", connection=connection, commit_mode="auto")
    yield queue
    queue.delete(delete_jobs=True)
    connection.srem(queue.redis_queues_keys, queue.key)


def test_a_job_is_enqueued_in_one_round_trip(queue: Queue, monkeypatch: Any) -> None:
    trips: list[str] = []
    connection_class = queue.connection.connection_pool.connection_class
    queue.get_redis_server_version()  # asked once per connection, before the first job
    send = connection_class.send_packed_command

    def counted(self: Any, command: Any, check_health: bool = True) -> None:
        trips.append("trip")
        send(self, command, check_health)

    job = queue.create_job("builtins.print", args=("reply",))
    monkeypatch.setattr(connection_class, "send_packed_command", counted)
    queue.enqueue_job(job)
    monkeypatch.undo()
    assert len(trips) == 1
    assert queue.job_ids == [job.id]
    assert queue.key.encode() in queue.connection.smembers(queue.redis_queues_keys)
    assert queue.fetch_job(job.id).get_status() == JobStatus.QUEUED  # type: ignore[union-attr]


def test_redis_deployments_enqueue_on_this_queue() -> None:
    if settings.REDIS_URL:
        assert settings.RQ["QUEUE_CLASS"] == "civichub.core.taskqueue.Queue"
