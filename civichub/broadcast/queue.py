"""How urgent broadcast's tasks are to the task queue."""

from __future__ import annotations

from django_tasks import task_backends
from django_tasks.base import DEFAULT_TASK_PRIORITY


def priority(wanted: int) -> int:
    """`wanted` where the task backend orders tasks by priority (the database backend of an
    embedded install), else the default: a backend without priorities (RQ, with Redis) refuses
    a task declared with any other, and the module's tasks could not even be imported."""
    return wanted if task_backends["default"].supports_priority else DEFAULT_TASK_PRIORITY
