"""Reach: hourly buckets of views and follower changes; nothing personal is kept."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from civichub.broadcast.models import (
    FollowerHour,
    Post,
    PostState,
    PostViewHour,
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
