"""Reach across channels, for the reach report (`selectors.reach_report`): an account's or a
post's local views, video views and completions, reposts and favourites, the servers and
interactions of its followers on other servers, and the deliveries of its alerts per channel.
All-time totals counted from their rows; figures only, nothing says who."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet, Sum

from civichub.broadcast.models import (
    AlertPush,
    BroadcastAccount,
    Delivery,
    DeliveryState,
    Post,
    PostViewHour,
    RemoteInteraction,
    RemoteInteractionKind,
    VideoWatch,
)
from civichub.notify import selectors as notify_selectors


@dataclass
class ChannelReach:
    local_views: int
    video_views: int
    video_completions: int
    reposts: int
    favourites: int
    remote_servers: int  # distinct inboxes (one per server: its shared inbox) delivered to
    remote_deliveries: int  # activities delivered to other servers
    remote_likes: int
    remote_announces: int
    remote_replies: int
    # Alert deliveries by notify channel (`inapp`, `sms`, `email`, `push`): sent only.
    alert_deliveries: dict[str, int] = field(default_factory=dict)

    @property
    def alert_deliveries_total(self) -> int:
        return sum(self.alert_deliveries.values())

    def figures(self) -> list[tuple[str, int]]:
        """Every figure by name, the alert channels as `alert_<channel>`: the chart's bars."""
        named = [
            ("local_views", self.local_views),
            ("video_views", self.video_views),
            ("video_completions", self.video_completions),
            ("reposts", self.reposts),
            ("favourites", self.favourites),
            ("remote_servers", self.remote_servers),
            ("remote_deliveries", self.remote_deliveries),
            ("remote_likes", self.remote_likes),
            ("remote_announces", self.remote_announces),
            ("remote_replies", self.remote_replies),
        ]
        return named + [(f"alert_{c}", n) for c, n in sorted(self.alert_deliveries.items())]


def channel_reach(
    account: BroadcastAccount, post: Post | None, *, reposts: int, favourites: int
) -> ChannelReach:
    """The figures of `post`, or of all the account's posts. `reposts` and `favourites` are the
    report's own (counted there from the rows or the folded counters)."""
    on_posts = Q(post=post) if post is not None else Q(post__account=account)
    local_views = PostViewHour.objects.filter(on_posts).aggregate(n=Sum("views"))["n"] or 0
    watches = VideoWatch.objects.filter(
        Q(video__post=post) if post is not None else Q(video__post__account=account)
    ).aggregate(views=Count("id"), completions=Count("id", filter=Q(completed_at__isnull=False)))
    delivered: QuerySet[Delivery] = Delivery.objects.filter(
        Q(post=post) if post is not None else Q(account=account), state=DeliveryState.DELIVERED
    )
    remote = delivered.aggregate(n=Count("id"), servers=Count("inbox", distinct=True))
    kinds = dict(
        RemoteInteraction.objects.filter(on_posts)
        .values("kind")
        .annotate(n=Count("id"))
        .values_list("kind", "n")
    )
    dispatch_ids = AlertPush.objects.filter(on_posts, dispatch__isnull=False).values_list(
        "dispatch_id", flat=True
    )
    return ChannelReach(
        local_views=int(local_views),
        video_views=int(watches["views"]),
        video_completions=int(watches["completions"]),
        reposts=reposts,
        favourites=favourites,
        remote_servers=int(remote["servers"]),
        remote_deliveries=int(remote["n"]),
        remote_likes=int(kinds.get(RemoteInteractionKind.LIKE, 0)),
        remote_announces=int(kinds.get(RemoteInteractionKind.ANNOUNCE, 0)),
        remote_replies=int(kinds.get(RemoteInteractionKind.REPLY, 0)),
        alert_deliveries=notify_selectors.sent_by_channel(dispatch_ids=list(dispatch_ids)),
    )


# The replies from other servers shown on a post's page, oldest first.
REMOTE_REPLIES_SHOWN = 100


@dataclass
class RemoteResponses:
    """What people on other servers did with a post: likes and boosts counted, replies shown
    once the account's staff released them."""

    likes: int
    announces: int
    replies: list[RemoteInteraction]


def remote_responses(post: Post) -> RemoteResponses:
    counts = dict(
        RemoteInteraction.objects.filter(post=post)
        .exclude(kind=RemoteInteractionKind.REPLY)
        .values_list("kind")
        .annotate(n=Count("id"))
        .values_list("kind", "n")
    )
    replies = RemoteInteraction.objects.filter(
        post=post, kind=RemoteInteractionKind.REPLY, held=False
    ).order_by("created_at", "id")[:REMOTE_REPLIES_SHOWN]
    return RemoteResponses(
        likes=int(counts.get(RemoteInteractionKind.LIKE, 0)),
        announces=int(counts.get(RemoteInteractionKind.ANNOUNCE, 0)),
        replies=list(replies),
    )
