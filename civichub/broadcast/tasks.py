"""The module's task index: thin, idempotent tasks that load by id and call a service. A task a
service or the streams enqueue after commit is declared beside the function it calls (the
services and streams sit below this module) and listed here."""

from __future__ import annotations

from django_tasks import task

from civichub.broadcast import services
from civichub.broadcast.queue import priority
from civichub.broadcast.services.alerts import push_alert
from civichub.broadcast.services.delivery import deliver, deliveries_due, federate_post
from civichub.broadcast.services.federation import seen_signatures_expire
from civichub.broadcast.services.media import process_image
from civichub.broadcast.services.video import transcode_video
from civichub.broadcast.streaming import announce_scheduled_post
from civichub.core.context import acting

__all__ = [
    "announce_scheduled_post",
    "deliver",
    "expire_signatures",
    "expire_unattached_media",
    "federate_post",
    "process_image",
    "push_alert",
    "retry_deliveries",
    "transcode_video",
]


@task(priority=priority(10))
def expire_unattached_media() -> int:
    """Removes images and videos uploaded for posts that were never published (periodic)."""
    with acting(channel="task"):
        return services.media_unattached_delete() + services.video_unattached_delete()


@task(priority=priority(40))
def retry_deliveries() -> int:
    """Enqueues the deliveries to other servers whose next try is due (periodic)."""
    with acting(channel="task"):
        return deliveries_due()


@task(priority=priority(10))
def expire_signatures() -> int:
    """Forgets the signatures of requests older than the signature window (periodic)."""
    with acting(channel="task"):
        return seen_signatures_expire()
