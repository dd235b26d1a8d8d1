"""Broadcast's measures for the statistics module (declared in the manifest): posts published,
by category, read after a watermark (the last post id counted), and their reach (views by
signed-in readers) from the hourly view buckets, an hour once it is over (the watermark is the
first hour not yet counted). Both count under the account's organisation."""

from __future__ import annotations

import datetime as dt

from django.db.models import Sum
from django.utils import timezone

from civichub.broadcast.models import Category, Post, PostViewHour
from civichub.core.measures import Collected, Contribution

POSTS = "broadcast.posts"
VIEWS = "broadcast.views"
_HOUR = dt.timedelta(hours=1)
# the most hours of views one call counts (a month), so a first run over years stays bounded
_HOURS_PER_CALL = 24 * 31


def post_measures(*, after: str, until: dt.datetime, limit: int) -> Collected:
    last = int(after or 0)
    batch = list(
        Post.objects.filter(pk__gt=last)
        .order_by("pk")
        .values("pk", "created_at", "category", "account__organisation_id")[: limit + 1]
    )
    more = len(batch) > limit
    out: list[Contribution] = []
    for post in batch[:limit]:
        if post["created_at"] >= until:
            more = False
            break
        day = timezone.localtime(post["created_at"]).date()
        out.append(
            Contribution(POSTS, day, post["account__organisation_id"], breakdown=post["category"])
        )
        last = post["pk"]
    return Collected(contributions=out, watermark=str(last), more=more)


def reach_measures(*, after: str, until: dt.datetime, limit: int) -> Collected:
    """Views of the hours from the watermark up to the hour `until` falls in (not counted: a
    view may still be added to it). `limit` does not apply: a call counts at most a month."""
    del limit
    end = until.replace(minute=0, second=0, microsecond=0)
    if after:
        start = dt.datetime.fromisoformat(after)
    else:
        first = PostViewHour.objects.order_by("hour").values_list("hour", flat=True).first()
        if first is None:
            return Collected(contributions=[], watermark="")
        start = first
    stop = min(end, start + _HOURS_PER_CALL * _HOUR)
    if stop <= start:
        return Collected(contributions=[], watermark=start.isoformat())
    out: list[Contribution] = []
    rows = (
        PostViewHour.objects.filter(hour__gte=start, hour__lt=stop)
        .values("hour", "post__account__organisation_id")
        .annotate(views=Sum("views"))
    )
    for row in rows:
        day = timezone.localtime(row["hour"]).date()
        out.append(
            Contribution(
                VIEWS, day, row["post__account__organisation_id"], value=float(row["views"] or 0)
            )
        )
    return Collected(contributions=out, watermark=stop.isoformat(), more=stop < end)


def category_names() -> dict[str, str]:
    return {str(value): str(label) for value, label in Category.choices}
