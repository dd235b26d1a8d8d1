"""Broadcast's reach report for an account's publishers: followers, views, reposts and
favourites by hour, and each channel's reach (selectors, re-exported by `selectors`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce, TruncHour
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.broadcast.models import (
    BroadcastAccount,
    Favourite,
    FollowerHour,
    Post,
    PostCounterShard,
    PostViewHour,
    Repost,
)
from civichub.broadcast.reach_channels import ChannelReach, channel_reach
from civichub.core.errors import ValidationFailed
from civichub.core.models import User
from civichub.core.permissions import require

# -----------------------------------------------------------------------------------

REACH_DAYS = (1, 7, 30)


def _unfolded(column: str) -> Coalesce:
    """A post's counter slots' sum of `column`, as a subquery on the outer post."""
    slots = (
        PostCounterShard.objects.filter(post_id=OuterRef("pk"))
        .order_by()
        .values("post_id")
        .annotate(n=Sum(column))
        .values("n")
    )
    return Coalesce(Subquery(slots), 0)


@dataclass
class ReachHour:
    hour: dt.datetime
    views: int
    reposts: int
    favourites: int
    followers: int


@dataclass
class ReachReport:
    account: BroadcastAccount
    post: Post | None
    days: int
    followers: int
    views: int
    reposts: int
    favourites: int
    hours: list[ReachHour]
    channels: ChannelReach


def _per_hour(rows: Any, value: str = "n") -> dict[dt.datetime, int]:
    return {row["at"]: int(row[value] or 0) for row in rows}


def reach_report(
    actor: User | None, account: BroadcastAccount, *, post: Post | None = None, days: int = 7
) -> ReachReport:
    """Followers, views, reposts and favourites of an account or one of its posts, per hour
    over the last `days` days (hours in UTC), for the account's staff. Views come from the
    hourly view buckets; reposts and favourites from their rows (an undone repost no longer
    counts); the follower count at each hour is today's count less the later net gains."""
    require(actor, "broadcast.post.publish", account)
    if days not in REACH_DAYS:
        message = _("时间范围只能是 %(values)s 天。") % {
            "values": "、".join(str(d) for d in REACH_DAYS)
        }
        raise ValidationFailed.on("days", message)
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    since = now - dt.timedelta(hours=days * 24 - 1)
    on_posts = Q(post=post) if post is not None else Q(post__account=account)
    utc_hour = TruncHour("created_at", tzinfo=dt.UTC)
    views = _per_hour(
        PostViewHour.objects.filter(on_posts, hour__gte=since)
        .values(at=F("hour"))
        .annotate(n=Sum("views"))
    )
    reposts, favourites = (
        _per_hour(
            model.objects.filter(on_posts, created_at__gte=since)
            .annotate(at=utc_hour)
            .values("at")
            .annotate(n=Count("id"))
        )
        for model in (Repost, Favourite)
    )
    net = {
        row["hour"]: row["gained"] - row["lost"]
        for row in FollowerHour.objects.filter(account=account, hour__gte=since).values(
            "hour", "gained", "lost"
        )
    }
    account.refresh_from_db(fields=["followers_count"])
    hours = [since + dt.timedelta(hours=n) for n in range(days * 24)]
    followers_at: dict[dt.datetime, int] = {}
    level = account.followers_count
    for hour in reversed(hours):
        followers_at[hour] = level
        level -= net.get(hour, 0)
    if post is not None:
        # Counted from the rows: exact even while hot counters are being folded.
        reposts_total = Repost.objects.filter(post=post).count()
        favourites_total = Favourite.objects.filter(post=post).count()
    else:
        totals = Post.objects.filter(account=account).aggregate(
            r=Sum(F("reposts_count") + _unfolded("reposts")),
            f=Sum(F("favourites_count") + _unfolded("favourites")),
        )
        reposts_total, favourites_total = totals["r"] or 0, totals["f"] or 0
    views_total = PostViewHour.objects.filter(on_posts).aggregate(n=Sum("views"))["n"] or 0
    return ReachReport(
        account=account,
        post=post,
        days=days,
        followers=account.followers_count,
        views=int(views_total),
        reposts=int(reposts_total),
        favourites=int(favourites_total),
        channels=channel_reach(
            account, post, reposts=int(reposts_total), favourites=int(favourites_total)
        ),
        hours=[
            ReachHour(
                hour=hour,
                views=views.get(hour, 0),
                reposts=reposts.get(hour, 0),
                favourites=favourites.get(hour, 0),
                followers=followers_at[hour],
            )
            for hour in hours
        ],
    )
