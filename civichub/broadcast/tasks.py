"""Thin, idempotent tasks: load by id, call a service."""

from __future__ import annotations

import datetime as dt
import logging

from django_tasks import task, task_backends

from civichub.broadcast import services, streaming
from civichub.core.context import acting

logger = logging.getLogger(__name__)


@task(priority=50)
def push_alert(post_id: int) -> int:
    """Pushes an alert to the residents of its areas; returns the dispatch id."""
    with acting(channel="task"):
        push = services.alert_push(post_id=int(post_id))
        return int(push.dispatch_id or 0)


@task(priority=50)
def announce_scheduled_post(post_id: int) -> bool:
    """Streams a scheduled post to its followers when its time comes (enqueued to run then)."""
    return streaming.scheduled_post_live(int(post_id))


def announce_when_live(post_id: int, when: dt.datetime) -> None:
    """Enqueues `announce_scheduled_post` to run at `when`, where the task backend can defer."""
    backend = task_backends[announce_scheduled_post.backend]
    if not backend.supports_defer:
        logger.warning("the task backend cannot defer: post %s will not be streamed", post_id)
        return
    announce_scheduled_post.using(run_after=when).enqueue(post_id)


def enqueue_alert_push(post_id: int) -> None:
    push_alert.enqueue(post_id)


@task(priority=10)
def expire_unattached_media() -> int:
    """Removes images uploaded for posts that were never published (periodic)."""
    with acting(channel="task"):
        return services.media_unattached_delete()
