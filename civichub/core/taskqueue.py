"""The RQ queue civichub enqueues tasks on (with Redis, `RQ["QUEUE_CLASS"]` in settings).

RQ writes a job in two round trips to Redis: one adds the queue to the set of queues, the next
saves the job and pushes its id. Both go in one pipeline here (MULTI/EXEC, so the job is still
written whole or not at all): every task enqueued after a commit, one per message received
among them, costs one round trip instead of two. Jobs with dependencies, a rate limit or a
uniqueness check, and synchronous queues, take RQ's own path unchanged."""

from __future__ import annotations

from typing import Any

from django_rq.queues import DjangoRQ
from rq.job import Job


class Queue(DjangoRQ):
    def enqueue_job(
        self, job: Job, pipeline: Any = None, at_front: bool = False, unique: bool = False
    ) -> Job:
        if (
            pipeline is not None
            or unique
            or job._dependency_ids
            or job.has_rate_limit
            or not self._is_async
        ):
            return super().enqueue_job(job, pipeline=pipeline, at_front=at_front, unique=unique)
        with self.connection.pipeline() as pipe:
            enqueued = super().enqueue_job(job, pipeline=pipe, at_front=at_front)
            pipe.execute()
        return enqueued
