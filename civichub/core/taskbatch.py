"""Enqueueing many calls of one task at once.

With the task queue in the database (the embedded install, `django_tasks_db`), `enqueue` writes
one row per call in a statement of its own: a city-wide alert's 2,000 delivery tasks were 2,000
round trips, and converting each call's arguments (`normalize_json`, one Python call per list
element) cost more than the database did. `enqueue_many` writes the same rows, field for field as
the backend's `enqueue` writes them, with one INSERT per thousand calls, and sends the same
`task_enqueued` signal for each. Any other backend (RQ with Redis, the immediate backend of the
tests) gets one `enqueue` per call, as before.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from django_tasks.base import Task
from django_tasks.signals import task_enqueued
from django_tasks_db.backend import DatabaseBackend

ROWS_PER_STATEMENT = 1000


def _json_arguments(args: Sequence[Any]) -> list[Any]:
    """The arguments as JSON gives them back (tuples become lists), which is what the backend's
    own `normalize_json` makes of the plain values tasks take; anything JSON cannot hold is a
    TypeError, as there."""
    normal: list[Any] = json.loads(json.dumps(list(args)))
    return normal


def enqueue_many(task: Task[Any, Any], calls: Iterable[Sequence[Any]]) -> int:
    """Enqueues `task(*args)` for each `args` of `calls`; returns how many were enqueued."""
    backend = task.get_backend()
    if not isinstance(backend, DatabaseBackend):
        count = 0
        for args in calls:
            task.enqueue(*args)
            count += 1
        return count

    from django_tasks_db.models import DBTaskResult, get_date_max

    backend.validate_task(task)
    # What `DatabaseBackend.enqueue` writes, and what its pre_save handler adds (a task with no
    # `run_after` runs as soon as a worker is free); bulk_create sends no pre_save.
    run_after = task.run_after if task.run_after is not None else get_date_max()
    rows: list[DBTaskResult[Any, Any]] = [
        DBTaskResult(
            id=backend._get_id(),
            args_kwargs={"args": _json_arguments(args), "kwargs": {}},
            priority=task.priority,
            task_path=task.module_path,
            queue_name=task.queue_name,
            run_after=run_after,
            backend_name=backend.alias,
        )
        for args in calls
    ]
    DBTaskResult.objects.bulk_create(rows, batch_size=ROWS_PER_STATEMENT)
    if task_enqueued.has_listeners(type(backend)):
        for row in rows:
            task_enqueued.send(type(backend), task_result=row.task_result)
    return len(rows)
