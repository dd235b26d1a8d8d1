"""The module's task index: thin, idempotent tasks that load by id and call a service. A task a
service or the streams enqueue after commit is declared beside the function it calls (the
services and streams sit below this module) and listed here."""

from __future__ import annotations

from django_tasks import task

from civichub.broadcast import services
from civichub.broadcast.queue import priority
from civichub.broadcast.services.alerts import push_alert
from civichub.broadcast.services.media import process_image
from civichub.broadcast.services.video import transcode_video
from civichub.broadcast.streaming import announce_scheduled_post
from civichub.core.context import acting

__all__ = [
    "announce_scheduled_post",
    "expire_unattached_media",
    "process_image",
    "push_alert",
    "transcode_video",
]


@task(priority=priority(10))
def expire_unattached_media() -> int:
    """Removes images and videos uploaded for posts that were never published (periodic)."""
    with acting(channel="task"):
        return services.media_unattached_delete() + services.video_unattached_delete()
