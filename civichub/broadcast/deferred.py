"""Work the services leave to the task queue, once their transaction commits.

The tasks sit above the services (a task loads by id and calls a service), so the services do
not import them: `BroadcastConfig.ready` hands the task queue's entry points over here once
the apps are loaded (`connect`), and the services and streams call the functions below."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction


@dataclass(frozen=True)
class Queue:
    """What the task queue does for broadcast: push an alert (by post id); announce a
    scheduled post on the streams when its time comes (post id, time)."""

    alert_push: Callable[[int], object]
    post_announce: Callable[[int, dt.datetime], object]


_queue: Queue | None = None


def connect(queue: Queue) -> None:
    global _queue
    _queue = queue


def _connected() -> Queue:
    if _queue is None:
        raise RuntimeError("the broadcast app is not ready: no task queue connected")
    return _queue


def alert_push_after_commit(post_id: int) -> None:
    transaction.on_commit(lambda: _connected().alert_push(post_id))


def post_announce_after_commit(post_id: int, when: dt.datetime) -> None:
    transaction.on_commit(lambda: _connected().post_announce(post_id, when), robust=True)
