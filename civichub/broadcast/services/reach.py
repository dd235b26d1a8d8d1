"""Reach: hourly buckets of views and follower changes; nothing personal is kept."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import salted_hmac

from civichub.broadcast.models import (
    FollowerHour,
    Post,
    PostState,
    PostVideo,
    PostViewHour,
    VideoWatch,
)
from civichub.core.models import User


def bump_hour(model: type[PostViewHour | FollowerHour], key: dict[str, int], field: str) -> None:
    """Adds one to this hour's bucket: an atomic `F()` update, or the bucket's first row. Two
    writers racing for the first row both end up counted (the loser updates)."""
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    bucket = model.objects.filter(hour=hour, **key)
    if bucket.update(**{field: F(field) + 1}):
        return
    try:
        with transaction.atomic():
            model.objects.create(hour=hour, **key, **{field: 1})
    except IntegrityError:
        bucket.update(**{field: F(field) + 1})


def post_view_record(*, viewer: User | None, post: Post) -> None:
    """Counts a signed-in reader's view of a post in its hourly bucket. Only the number is
    kept, never who read what, so there is nothing personal to audit."""
    if viewer is None or not viewer.is_authenticated or post.state != PostState.PUBLISHED:
        return
    bump_hour(PostViewHour, {"post_id": post.pk}, "views")


# The share of a video the player must report watched for a completion.
COMPLETED_FRACTION = 0.9


def _viewer_key(video: PostVideo, viewer: User) -> str:
    return salted_hmac("broadcast.video-watch", f"{video.pk}:{viewer.pk}").hexdigest()


def video_watch_record(*, viewer: User | None, video: PostVideo, fraction: float) -> bool:
    """What the page's player reports: playback started (a view, counted once per signed-in
    viewer and video) or reached `fraction` of the video (a completion at 90 %, counted once).
    Only the player's script reports, so a page read without JavaScript counts nothing. Only a
    keyed hash of the viewer is kept. Returns whether a completion was counted now."""
    if viewer is None or not viewer.is_authenticated or video.post_id is None:
        return False
    watch, _created = VideoWatch.objects.get_or_create(
        video=video, viewer_key=_viewer_key(video, viewer)
    )
    if fraction < COMPLETED_FRACTION or watch.completed_at is not None:
        return False
    return bool(
        VideoWatch.objects.filter(pk=watch.pk, completed_at__isnull=True).update(
            completed_at=timezone.now()
        )
    )
