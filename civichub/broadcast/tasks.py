"""Thin, idempotent tasks: load by id, call a service."""

from __future__ import annotations

from django_tasks import task

from civichub.broadcast import services
from civichub.core.context import acting


@task(priority=50)
def push_alert(post_id: int) -> int:
    """Pushes an alert to the residents of its areas; returns the dispatch id."""
    with acting(channel="task"):
        push = services.alert_push(post_id=int(post_id))
        return int(push.dispatch_id or 0)


@task(priority=50)
def announce_scheduled_post(post_id: int) -> bool:
    """Streams a scheduled post to its followers when its time comes (enqueued to run then)."""
    from civichub.broadcast import streaming

    return streaming.scheduled_post_live(int(post_id))


@task(priority=10)
def expire_unattached_media() -> int:
    """Removes images uploaded for posts that were never published (periodic)."""
    with acting(channel="task"):
        return services.media_unattached_delete()
