"""Many calls of one task at once (`core.taskbatch.enqueue_many`): with the queue in the
database, the rows `enqueue` would write, in a few statements, that a worker runs; with any
other backend, one `enqueue` per call."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from django_tasks import task
from django_tasks.signals import task_enqueued
from django_tasks_db.models import DBTaskResult

from civichub.core.taskbatch import enqueue_many

DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
IMMEDIATE_TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
RAN: list[list[int]] = []


@task()
def remember(ids: list[int]) -> int:
    RAN.append(ids)
    return len(ids)


@pytest.fixture
def db_tasks() -> Iterator[None]:
    with override_settings(TASKS=DB_TASKS):
        yield


@pytest.mark.django_db
def test_the_rows_are_those_enqueue_writes(
    db_tasks: None, django_assert_max_num_queries: Any
) -> None:
    urgent = remember.using(priority=20)
    one = urgent.enqueue([1, 2])
    calls = [([3, 4],), ((5,),)] + [([n],) for n in range(1500)]
    # One INSERT per thousand tasks (SQLite's limit on parameters makes it one per 90), not one
    # per task.
    with django_assert_max_num_queries(3 if connection.vendor == "postgresql" else 25):
        assert enqueue_many(urgent, calls) == 1502
    rows = list(DBTaskResult.objects.order_by("enqueued_at", "args_kwargs"))
    single = DBTaskResult.objects.get(pk=one.id)
    fields = ("status", "priority", "task_path", "queue_name", "backend_name", "run_after")
    for row in rows:
        assert [getattr(row, f) for f in fields] == [getattr(single, f) for f in fields]
        assert row.enqueued_at is not None
    assert single.priority == 20
    args = [row.args_kwargs for row in rows if row.pk != single.pk]
    assert {"args": [[3, 4]], "kwargs": {}} in args
    assert {"args": [[5]], "kwargs": {}} in args  # a tuple comes back a list, as from enqueue
    assert len({row.pk for row in rows}) == 1503


@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_them(db_tasks: None) -> None:
    from django_tasks_db.management.commands.db_worker import Worker

    RAN.clear()
    enqueue_many(remember, [([1, 2],), ([3],)])
    Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test",
        excluded_queue_names=[],
    ).run()
    assert sorted(RAN) == [[1, 2], [3]]
    assert DBTaskResult.objects.filter(status="SUCCESSFUL").count() == 2


@pytest.mark.django_db
def test_the_enqueued_signal_is_sent_for_each(db_tasks: None) -> None:
    seen: list[Any] = []

    def record(sender: Any, task_result: Any, **kwargs: Any) -> None:
        seen.append(task_result.args)

    task_enqueued.connect(record)
    try:
        enqueue_many(remember, [([7],), ([8],)])
    finally:
        task_enqueued.disconnect(record)
    assert seen == [[[7]], [[8]]]


def test_another_backend_gets_one_enqueue_per_call() -> None:
    RAN.clear()
    with override_settings(TASKS=IMMEDIATE_TASKS):
        assert enqueue_many(remember, [([1],), ([2, 3],)]) == 2
    assert RAN == [[1], [2, 3]]
