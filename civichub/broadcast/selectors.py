"""Reads shared by pages, feeds and tasks.

The home feed is merged at read time: for each followed account the newest posts come from the
(account, published_at, id) index, limited to one page, and the union is ordered and cut to a
page. The cost grows with the number of accounts followed, never with an account's followers."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import Avg, Count, F, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.broadcast import geometry
from civichub.broadcast.conf import broadcast_settings
from civichub.broadcast.models import (
    AlertPush,
    AreaSubscription,
    Block,
    BroadcastAccount,
    CapMessage,
    Comment,
    DrawnArea,
    DrawnAreaKind,
    Favourite,
    Follow,
    KeywordFilter,
    Post,
    PostCounterShard,
    PostImage,
    PostState,
    PostVideo,
    RemoteInteraction,
    RemoteInteractionKind,
    Repost,
    VideoState,
)
from civichub.broadcast.reach import (  # noqa: F401 (the module's selectors)
    REACH_DAYS,
    ReachHour,
    ReachReport,
    _unfolded,
    reach_report,
)
from civichub.core.errors import NotFound, ValidationFailed
from civichub.core.models import Organisation, OrganisationKind, Resident, User
from civichub.core.permissions import allowed, require
from civichub.notify import selectors as notify_selectors

PAGE_SIZE = 20
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass
class FeedPage:
    posts: list[Post]
    next_cursor: str | None


def cursor_for(post: Post) -> str:
    micros = (post.published_at - _EPOCH) // dt.timedelta(microseconds=1)
    return f"{micros}_{post.pk}"


def _parse_cursor(cursor: str) -> tuple[dt.datetime, int]:
    try:
        micros, pk = (int(part) for part in cursor.split("_", 1))
    except ValueError:
        raise ValidationFailed.on("cursor", _("分页游标无效。")) from None
    return _EPOCH + dt.timedelta(microseconds=micros), pk


def visible_posts() -> QuerySet[Post]:
    return Post.objects.filter(state=PostState.PUBLISHED, published_at__lte=timezone.now())


def _before(cursor: str | None) -> Q:
    if not cursor:
        return Q()
    at, pk = _parse_cursor(cursor)
    return Q(published_at__lt=at) | Q(published_at=at, pk__lt=pk)


def exact_counts(posts: Iterable[Post]) -> None:
    """Sets the posts' repost and favourite counts to the exact ones: each post's column plus
    its counter slots not yet folded in (see `services.interactions._count`), read together in
    ONE query for all the posts, so the sum comes from one snapshot and a fold in between cannot
    hide a part.
    Posts already made exact are left alone (no second query for them)."""
    todo: dict[int, list[Post]] = {}
    for post in posts:
        if not getattr(post, "counts_exact", False):
            todo.setdefault(post.pk, []).append(post)
    if not todo:
        return
    rows = Post.objects.filter(pk__in=todo).values_list(
        "pk",
        F("reposts_count") + _unfolded("reposts"),
        F("favourites_count") + _unfolded("favourites"),
    )
    for pk, reposts, favourites in rows:
        for post in todo[pk]:
            post.reposts_count, post.favourites_count = reposts, favourites
            post.counts_exact = True  # type: ignore[attr-defined]


def _page(posts: list[Post], limit: int) -> FeedPage:
    more = len(posts) > limit
    posts = posts[:limit]
    exact_counts(posts)
    return FeedPage(posts, cursor_for(posts[-1]) if more and posts else None)


def _with_accounts(ids: list[int]) -> list[Post]:
    by_id = (
        Post.objects.select_related("account", "video")
        .prefetch_related("images", "drawn_areas")
        .in_bulk(ids)
    )
    return [by_id[pk] for pk in ids if pk in by_id]


def home_feed(user: User, *, cursor: str | None = None, limit: int = PAGE_SIZE) -> FeedPage:
    """The followed accounts' posts, newest first, one keyset page at a time."""
    account_ids = sorted(Follow.objects.filter(user=user).values_list("account_id", flat=True))
    if not account_ids:
        return FeedPage([], None)
    # One small index range scan per followed account, merged by the database. The text is
    # built here once (no user input in it) and every value is a parameter.
    adapt = connection.ops.adapt_datetimefield_value
    conditions = "account_id = %s AND state = %s AND published_at <= %s"
    shared: list[Any] = [PostState.PUBLISHED.value, adapt(timezone.now())]
    if cursor:
        at, pk = _parse_cursor(cursor)
        conditions += " AND (published_at < %s OR (published_at = %s AND id < %s))"
        shared += [adapt(at), adapt(at), pk]
    table = connection.ops.quote_name(Post._meta.db_table)
    if connection.vendor == "postgresql":
        # One plan whatever the number of accounts: a LATERAL index scan per account.
        lateral = conditions.replace("account_id = %s", "account_id = a.account_id")
        sql = (
            "SELECT p.id FROM unnest(%s::bigint[]) AS a(account_id) CROSS JOIN LATERAL ("  # noqa: S608  # nosec B608
            f"SELECT id, published_at FROM {table} WHERE {lateral}"
            " ORDER BY published_at DESC, id DESC LIMIT %s) AS p"
            " ORDER BY p.published_at DESC, p.id DESC LIMIT %s"
        )
        with connection.cursor() as db:
            db.execute(sql, [account_ids, *shared, limit + 1, limit + 1])
            ids = [row[0] for row in db.fetchall()]
        return _page(_with_accounts(ids), limit)
    part = (
        f"SELECT * FROM (SELECT id, published_at FROM {table} WHERE {conditions}"  # noqa: S608  # nosec B608
        " ORDER BY published_at DESC, id DESC LIMIT %s) AS f"
    )
    parts: list[str] = []
    params: list[Any] = []
    for n, account_id in enumerate(account_ids):
        parts.append(f"{part}{n}")
        params += [account_id, *shared, limit + 1]
    merged = " UNION ALL ".join(parts) + " ORDER BY published_at DESC, id DESC LIMIT %s"
    params.append(limit + 1)
    with connection.cursor() as db:
        db.execute(merged, params)
        ids = [row[0] for row in db.fetchall()]
    return _page(_with_accounts(ids), limit)


@dataclass(frozen=True)
class PublicNotice:
    """A published post as other modules show it (the portal's home page): no model leaves."""

    text: str
    text_en: str
    category: str
    is_alert: bool
    published_at: dt.datetime
    url: str
    key: int = 0  # the post's id, stable across edits


def area_notices(area: Organisation | None, *, limit: int = 5) -> list[PublicNotice]:
    """The newest published notices and alerts for everyone or for `area` and the areas above
    it (a post aimed at a district reaches its communities); alerts first. Public data only."""
    posts = visible_posts().filter(retracted_at__isnull=True)
    if area is not None:
        above = [int(pk) for pk in area.path.strip("/").split("/") if pk]
        posts = posts.filter(Q(target_areas__isnull=True) | Q(target_areas__in=above))
    else:
        posts = posts.filter(target_areas__isnull=True)
    rows = posts.distinct().order_by("-is_alert", "-published_at", "-id")[:limit]
    return [_public_notice(post) for post in rows]


def _public_notice(post: Post) -> PublicNotice:
    return PublicNotice(
        text=post.text,
        text_en=post.text_en,
        category=post.category,
        is_alert=post.is_alert,
        published_at=post.published_at,
        url=reverse("broadcast:post", args=[post.pk]),
        key=post.pk,
    )


def searchable_notices(
    *, since: dt.datetime, keys: Sequence[int] | None = None
) -> list[PublicNotice]:
    """The notices and alerts a public search may find: published since `since`, not
    retracted, not past their expiry; those of `keys` alone when given. Public data only."""
    now = timezone.now()
    posts = (
        visible_posts()
        .filter(retracted_at__isnull=True, published_at__gte=since)
        .filter(Q(cap_expires__isnull=True) | Q(cap_expires__gt=now))
    )
    if keys is not None:
        posts = posts.filter(pk__in=list(keys))
    return [_public_notice(post) for post in posts.order_by("-published_at", "-id")]


def _timeline(cursor: str | None, limit: int, **where: Any) -> FeedPage:
    posts = list(
        visible_posts()
        .filter(_before(cursor), **where)
        .select_related("account", "video")
        .prefetch_related("images", "drawn_areas")
        .order_by("-published_at", "-id")[: limit + 1]
    )
    return _page(posts, limit)


def public_timeline(*, cursor: str | None = None, limit: int = PAGE_SIZE) -> FeedPage:
    """Every government account's visible posts, newest first: the page a visitor reads."""
    return _timeline(cursor, limit)


def account_timeline(
    account: BroadcastAccount, *, cursor: str | None = None, limit: int = PAGE_SIZE
) -> FeedPage:
    return _timeline(cursor, limit, account=account)


def category_timeline(
    category: str, *, cursor: str | None = None, limit: int = PAGE_SIZE
) -> FeedPage:
    return _timeline(cursor, limit, category=category)


def syndicated_posts(*, limit: int, **where: Any) -> list[Post]:
    """The newest posts for a feed: visible ones, and retracted alerts, which stay as their
    cancellations; with their CAP messages."""
    now = timezone.now()
    return list(
        Post.objects.filter(
            Q(state=PostState.PUBLISHED) | Q(state=PostState.RETRACTED, is_alert=True),
            published_at__lte=now,
            **where,
        )
        .select_related("account", "video")
        .prefetch_related("images", "cap_messages")
        .order_by("-published_at", "-id")[:limit]
    )


def next_publication(**where: Any) -> dt.datetime | None:
    """When the next post scheduled for later (published, its time still to come) appears."""
    return (
        Post.objects.filter(state=PostState.PUBLISHED, published_at__gt=timezone.now(), **where)
        .order_by("published_at")
        .values_list("published_at", flat=True)
        .first()
    )


def cap_index_posts() -> list[Post]:
    """The alerts of the public CAP index: those in force (published, not expired) and those
    cancelled within the last `cap_cancelled_hours`, newest first, with their CAP messages."""
    now = timezone.now()
    recent = now - dt.timedelta(hours=broadcast_settings().cap_cancelled_hours)
    return list(
        Post.objects.filter(
            Q(state=PostState.PUBLISHED, cap_expires__gt=now)
            | Q(state=PostState.RETRACTED, retracted_at__gte=recent),
            is_alert=True,
            published_at__lte=now,
        )
        .select_related("account", "video")
        .prefetch_related("cap_messages")
        .order_by("-published_at", "-id")
    )


def cap_messages(post: Post) -> list[CapMessage]:
    """An alert's CAP messages, oldest first."""
    return list(CapMessage.objects.filter(post=post).order_by("sequence"))


def cap_message_get(identifier: str) -> CapMessage:
    """One CAP message by its identifier (of any alert that was published)."""
    message = (
        CapMessage.objects.select_related("post__account")
        .filter(identifier=identifier, post__published_at__lte=timezone.now())
        .order_by("-sent")
        .first()
    )
    if message is None:
        raise NotFound(_("没有这条预警消息。"))
    return message


def account_get(handle: str) -> BroadcastAccount:
    account = BroadcastAccount.objects.select_related("organisation").filter(handle=handle).first()
    if account is None:
        raise NotFound(_("没有这个账号。"))
    return account


def post_get(post_id: int) -> Post:
    post = (
        Post.objects.select_related("account__organisation", "video")
        .prefetch_related("target_areas", "revisions", "images", "drawn_areas")
        .filter(pk=post_id, published_at__lte=timezone.now())
        .first()
    )
    if post is None:
        raise NotFound(_("没有这条发布。"))
    exact_counts([post])
    return post


@functools.cache
def _post_counts_sql() -> str:
    """`post_counts`' one statement: what `exact_counts` sums, for one post. Written out once
    rather than compiled by the ORM on every repost or favourite answered."""
    q = connection.ops.quote_name
    post, slots = q(Post._meta.db_table), q(PostCounterShard._meta.db_table)

    def unfolded(column: str) -> str:
        return f"COALESCE((SELECT SUM(s.{column}) FROM {slots} s WHERE s.post_id = p.id), 0)"  # noqa: S608  # nosec B608

    return (
        f"SELECT p.reposts_count + {unfolded('reposts')},"  # noqa: S608 (names are ours)  # nosec B608
        f" p.favourites_count + {unfolded('favourites')}, p.comments_count"
        f" FROM {post} p WHERE p.id = %s AND p.published_at <= %s"
    )


def post_counts(post_id: int) -> tuple[int, int, int]:
    """A post's exact repost, favourite and comment counts in one query (as `post_get` gives
    them, without loading the rest of the post)."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(_post_counts_sql(), [post_id, now])
        row = cursor.fetchone()
    if row is None:
        raise NotFound(_("没有这条发布。"))
    return int(row[0]), int(row[1]), int(row[2])


def post_marks(post: Post, user: User | None) -> dict[str, bool]:
    """Whether this person has already reposted and favourited the post, so its buttons say so."""
    if user is None or not user.is_authenticated:
        return {"reposted": False, "favourited": False}
    return {
        "reposted": Repost.objects.filter(post=post, user=user).exists(),
        "favourited": Favourite.objects.filter(post=post, user=user).exists(),
    }


def thread(post: Post) -> list[Comment]:
    """Visible comments in order; replies follow their parent."""
    comments = list(
        Comment.objects.filter(post=post, hidden=False)
        .select_related("author")
        .order_by("created_at", "id")
    )
    children: dict[int | None, list[Comment]] = {}
    for comment in comments:
        children.setdefault(comment.parent_id, []).append(comment)
    ordered: list[Comment] = []

    def walk(parent: int | None, depth: int) -> None:
        for comment in children.get(parent, []):
            comment.depth = depth  # type: ignore[attr-defined]
            ordered.append(comment)
            walk(comment.pk, depth + 1)

    walk(None, 0)
    return ordered


def delivery_report(post: Post) -> dict[str, int]:
    """Recipients and deliveries of an alert's push by state, from the outbox."""
    report = {"recipients": 0, "queued": 0, "sending": 0, "sent": 0, "failed": 0, "deferred": 0}
    push = AlertPush.objects.filter(post=post).values_list("dispatch_id", flat=True).first()
    if push is None:
        return report
    counts = notify_selectors.dispatch_counts(dispatch_id=push)
    report["recipients"] = counts.recipients
    report.update(counts.deliveries)
    return report


@dataclass
class Moderation:
    held: list[Comment]
    hidden: list[Comment]
    blocks: list[Block]
    keyword_filters: list[KeywordFilter]
    remote_held: list[RemoteInteraction]  # replies from other servers, held until released


MODERATION_LIST_SIZE = 100


def moderation(actor: User | None, account: BroadcastAccount) -> Moderation:
    """What the account's staff review: comments held by a keyword filter (oldest first),
    comments hidden lately, blocked users and the filter words."""
    require(actor, "broadcast.comment.moderate", account)
    on_account = Comment.objects.filter(post__account=account).select_related("author", "post")
    return Moderation(
        held=list(on_account.filter(held=True).order_by("created_at", "id")[:MODERATION_LIST_SIZE]),
        hidden=list(
            on_account.filter(hidden=True, held=False).order_by("-created_at", "-id")[
                :MODERATION_LIST_SIZE
            ]
        ),
        blocks=list(Block.objects.filter(account=account).select_related("user").order_by("-id")),
        keyword_filters=list(KeywordFilter.objects.filter(account=account).order_by("word")),
        remote_held=list(
            RemoteInteraction.objects.filter(
                post__account=account, kind=RemoteInteractionKind.REPLY, held=True
            ).order_by("created_at", "id")[:MODERATION_LIST_SIZE]
        ),
    )


# Images --------------------------------------------------------------------------------


def image_url(image: PostImage) -> str:
    return reverse("broadcast:image", args=[image.pk])


def avatar_url(account: BroadcastAccount) -> str | None:
    return reverse("broadcast:avatar", args=[account.handle]) if account.avatar else None


def image_get(actor: User | None, image_id: int) -> PostImage:
    """An image of a visible post for anyone; of a scheduled or retracted post, or not yet
    attached, only for the account's publishers."""
    image = PostImage.objects.select_related("post", "account__organisation").filter(pk=image_id)
    found = image.first()
    if found is None:
        raise NotFound(_("没有这张图片。"))
    post = found.post
    public = (
        post is not None
        and post.state == PostState.PUBLISHED
        and post.published_at <= timezone.now()
    )
    if not public and not allowed(actor, "broadcast.post.publish", found.account):
        raise NotFound(_("没有这张图片。"))
    return found


# Videos ----------------------------------------------------------------------------------


def post_video(post: Post) -> PostVideo | None:
    """A post's video, if it has one (loaded with the post by the queries above)."""
    try:
        return post.video
    except PostVideo.DoesNotExist:
        return None


def video_file_url(video: PostVideo, name: str) -> str:
    return reverse("broadcast:video_file", args=[video.pk, name])


def video_captions_url(video: PostVideo) -> str | None:
    return reverse("broadcast:video_captions", args=[video.pk]) if video.captions else None


def video_get(actor: User | None, video_id: int) -> PostVideo:
    """A video of a visible post for anyone; of a scheduled or retracted post, or not yet
    attached (its progress, its captions being written), only for the account's publishers."""
    found = (
        PostVideo.objects.select_related("post", "account__organisation")
        .filter(pk=video_id)
        .first()
    )
    if found is None or not (
        video_public(found) or allowed(actor, "broadcast.post.publish", found.account)
    ):
        raise NotFound(_("没有这段视频。"))
    return found


def video_public(video: PostVideo) -> bool:
    post = video.post
    return (
        post is not None
        and post.state == PostState.PUBLISHED
        and post.published_at <= timezone.now()
        and video.state == VideoState.READY
    )


def account_videos_pending(account: BroadcastAccount) -> list[PostVideo]:
    """The account's uploaded videos not yet in a post, newest first (the publisher's list)."""
    return list(PostVideo.objects.filter(account=account, post__isnull=True).order_by("-id")[:20])


# Area subscriptions ----------------------------------------------------------------------


def area_subscriptions(user: User) -> list[AreaSubscription]:
    return list(
        AreaSubscription.objects.filter(user=user).select_related("area").order_by("area__path")
    )


def subscribable_areas() -> list[Organisation]:
    """Districts, subdistricts and communities in tree order (the city itself is left out:
    its alerts reach everyone who lives in it)."""
    return list(
        Organisation.objects.filter(
            kind__in=[
                OrganisationKind.DISTRICT,
                OrganisationKind.SUBDISTRICT,
                OrganisationKind.COMMUNITY,
            ]
        ).order_by("path")
    )


# The compose page's map ------------------------------------------------------------------

MAP_CACHE_SECONDS = 3600


@dataclass
class MapPlace:
    """A community on the compose page's map: the mean of its residents' home coordinates
    (WGS-84), and the district it lies in."""

    community: Organisation
    district: Organisation | None
    lat: float
    lon: float
    residents: int


def area_map(root: Organisation) -> list[MapPlace]:
    """The communities under `root` that have residents with a known home, placed at their
    residents' mean position. One grouped query, cached for an hour: the map is a guide, the
    checkboxes and the drawn circle decide."""
    key = f"broadcast:area-map:{root.pk}:{root.path}"
    rows: list[tuple[int, float, float, int]] | None = cache.get(key)
    if rows is None:
        rows = [
            (r["community"], float(r["lat"]), float(r["lon"]), int(r["n"]))
            for r in Resident.objects.filter(
                community__path__startswith=root.path, wgs84_latitude__isnull=False
            )
            .values("community")
            .annotate(lat=Avg("wgs84_latitude"), lon=Avg("wgs84_longitude"), n=Count("id"))
        ]
        cache.set(key, rows, MAP_CACHE_SECONDS)
    communities = Organisation.objects.in_bulk([r[0] for r in rows])
    ancestors = {int(pk) for c in communities.values() for pk in c.path.strip("/").split("/") if pk}
    districts = {
        o.path: o
        for o in Organisation.objects.filter(pk__in=ancestors, kind=OrganisationKind.DISTRICT)
    }
    places = []
    for community_id, lat, lon, n in rows:
        community = communities.get(community_id)
        if community is None:
            continue
        district = next((d for p, d in districts.items() if community.path.startswith(p)), None)
        places.append(MapPlace(community, district, lat, lon, n))
    places.sort(key=lambda p: p.community.path)
    return places


def default_crs() -> str:
    """The coordinate system coordinates are taken in when the form names none."""
    return geometry.default_crs()


@dataclass
class Marks:
    """Which of a page's posts the reader has favourited and reposted (two queries a page)."""

    favourited: set[int]
    reblogged: set[int]


def marks_for(user: User | None, post_ids: list[int]) -> Marks:
    if user is None or not post_ids:
        return Marks(set(), set())
    return Marks(
        set(
            Favourite.objects.filter(user=user, post_id__in=post_ids).values_list(
                "post_id", flat=True
            )
        ),
        set(
            Repost.objects.filter(user=user, post_id__in=post_ids).values_list("post_id", flat=True)
        ),
    )


def following_count(user: User) -> int:
    return Follow.objects.filter(user=user).count()


def post_versions(post: Post) -> list[tuple[str, dt.datetime]]:
    """Every text a post has had, oldest first, with the time each was published (its
    revisions, then the current text)."""
    revisions = list(post.revisions.order_by("replaced_at", "id"))
    versions = [
        (revision.text, revisions[i - 1].replaced_at if i else post.published_at)
        for i, revision in enumerate(revisions)
    ]
    versions.append((post.text, post.edited_at or post.published_at))
    return versions


def drawn_shape(area: DrawnArea) -> geometry.Shape:
    """The stored WGS-84 shape of a drawn area."""
    if area.kind == DrawnAreaKind.CIRCLE:
        return geometry.Circle(
            lat=area.shape["lat"], lon=area.shape["lon"], radius_m=float(area.radius_m or 0)
        )
    return geometry.Polygon(points=tuple((p[0], p[1]) for p in area.shape["points"]))


def compose_account(actor: User | None, handle: str, *, alert: bool = False) -> BroadcastAccount:
    """The account a compose page publishes for, if the actor may publish there (alerts need
    their own permission)."""
    account = account_get(handle)
    require(actor, "broadcast.alert.publish" if alert else "broadcast.post.publish", account)
    return account


def compose_areas(account: BroadcastAccount) -> QuerySet[Organisation]:
    """The areas an account's post may target: those of the district it serves (the account's
    organisation's parent's subtree), departments left out."""
    return (
        Organisation.objects.filter(
            path__startswith=account.organisation.path.rsplit("/", 2)[0] + "/"
        )
        .exclude(kind="department")
        .order_by("path")
    )


def publishable_accounts(actor: User) -> list[BroadcastAccount]:
    """The accounts the actor may publish for (their compose pages), by name."""
    accounts = BroadcastAccount.objects.select_related("organisation").order_by("name", "pk")
    return [a for a in accounts if allowed(actor, "broadcast.post.publish", a)]


def account_directory(query: str = "") -> QuerySet[BroadcastAccount]:
    """Every government account, the most followed first, narrowed by a search of its names,
    handle and description."""
    accounts = BroadcastAccount.objects.all()
    query = query.strip()[:50]
    if query:
        accounts = accounts.filter(
            Q(name__icontains=query)
            | Q(name_en__icontains=query)
            | Q(handle__icontains=query)
            | Q(description__icontains=query)
        )
    return accounts.order_by("-verified", "-followers_count", "name", "pk")
