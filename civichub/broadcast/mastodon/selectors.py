"""Reads of the Mastodon client API: the objects its ids name (accounts "a<pk>", residents
"u<pk>", statuses, comments "c<pk>", reblogs "r<pk>"), the lists it pages, a person's
notifications, and for the OAuth pages the apps a resident has let use their account."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from civichub.broadcast import selectors
from civichub.broadcast.models import (
    AlertPush,
    BroadcastAccount,
    Category,
    Comment,
    Favourite,
    Follow,
    OAuthToken,
    Post,
    PostImage,
    PostState,
    Repost,
)
from civichub.broadcast.notifications import ALERT
from civichub.core.errors import NotFound, PermissionDenied
from civichub.core.models import User
from civichub.core.permissions import allowed
from civichub.notify import selectors as notify_selectors


@dataclass
class AuthorizedApp:
    app_id: int
    name: str
    website: str
    scopes: list[str]
    authorized_at: dt.datetime
    last_used_at: dt.datetime | None


def authorized_apps(user: User) -> list[AuthorizedApp]:
    """Each app with a live token for the user, once, with the scopes of all its tokens."""
    apps: dict[int, AuthorizedApp] = {}
    tokens = (
        OAuthToken.objects.filter(user=user, revoked_at__isnull=True)
        .select_related("app")
        .order_by("created_at", "id")
    )
    for token in tokens:
        entry = apps.get(token.app_id)
        if entry is None:
            entry = apps[token.app_id] = AuthorizedApp(
                token.app_id, token.app.name, token.app.website, [], token.created_at, None
            )
        entry.scopes += [s for s in token.scopes.split() if s not in entry.scopes]
        if token.last_used_at and (
            entry.last_used_at is None or token.last_used_at > entry.last_used_at
        ):
            entry.last_used_at = token.last_used_at
    return sorted(apps.values(), key=lambda a: a.name)


NOT_FOUND = "Record not found"


def broadcast_account(account_id: str) -> BroadcastAccount:
    account = None
    if account_id.startswith("a") and account_id[1:].isdigit():
        account = BroadcastAccount.objects.filter(pk=int(account_id[1:])).first()
    if account is None:
        raise NotFound(NOT_FOUND)
    return account


def resident_of(account_id: str) -> User | None:
    if account_id.startswith("u") and account_id[1:].isdigit():
        return User.objects.filter(pk=int(account_id[1:]), is_active=True).first()
    return None


def status_ref(status_id: str) -> tuple[str, int]:
    """A status id names a post ("12"), a comment ("c12") or a reblog ("r12")."""
    if status_id.isdigit():
        return "post", int(status_id)
    if status_id[:1] in {"c", "r"} and status_id[1:].isdigit():
        return {"c": "comment", "r": "reblog"}[status_id[0]], int(status_id[1:])
    raise NotFound(NOT_FOUND)


def post_of(status_id: str) -> Post:
    kind, pk = status_ref(status_id)
    if kind == "reblog":
        repost = Repost.objects.filter(pk=pk).first()
        if repost is None:
            raise NotFound(NOT_FOUND)
        pk, kind = repost.post_id, "post"
    if kind != "post":
        raise NotFound(NOT_FOUND)
    post = selectors.post_get(pk)
    if post.state != PostState.PUBLISHED:
        raise NotFound(NOT_FOUND)
    return post


def comment_of(pk: int) -> Comment:
    comment = (
        Comment.objects.select_related("post__account", "author", "parent")
        .filter(pk=pk, hidden=False, post__state=PostState.PUBLISHED)
        .first()
    )
    if comment is None:
        raise NotFound(NOT_FOUND)
    return comment


def publishing_account(user: User) -> BroadcastAccount:
    """The account a publisher's statuses and media go to: the first they may publish for."""
    account = next(
        (
            a
            for a in BroadcastAccount.objects.select_related("organisation").order_by("pk")
            if allowed(user, "broadcast.post.publish", a)
        ),
        None,
    )
    if account is None:
        raise PermissionDenied("Only publishers of a broadcast account may post statuses")
    return account


def category_of(tag: str) -> str | None:
    """A hashtag names a category by its value (#road_closure) or its label (#道路封闭)."""
    tag = tag.lstrip("#").lower()
    for value, label in Category.choices:
        if tag in {value, str(label).lower()}:
            return value
    return None


def published_accounts(user: User) -> list[int]:
    """The broadcast accounts the user publishes for (none for a resident)."""
    if not user.role_assignments.exists() and not user.is_superuser:
        return []
    accounts = BroadcastAccount.objects.select_related("organisation").order_by("pk")
    return [a.pk for a in accounts if allowed(user, "broadcast.post.publish", a)]


def account_by_handle(handle: str) -> BroadcastAccount:
    account = BroadcastAccount.objects.filter(handle=handle).first() if handle else None
    if account is None:
        raise NotFound(NOT_FOUND)
    return account


def accounts_search(q: str, limit: int) -> list[BroadcastAccount]:
    """Broadcast accounts by handle or name, the most followed first."""
    return list(
        BroadcastAccount.objects.filter(
            Q(handle__icontains=q) | Q(name__icontains=q) | Q(name_en__icontains=q)
        ).order_by("-followers_count", "pk")[:limit]
    )


def relationships(user: User, ids: list[str]) -> list[tuple[BroadcastAccount, bool]]:
    """The accounts named by `ids` ("a<pk>") and whether the user follows each."""
    pks = [int(i[1:]) for i in ids if i.startswith("a") and i[1:].isdigit()]
    accounts = BroadcastAccount.objects.in_bulk(pks)
    followed = set(
        Follow.objects.filter(user=user, account_id__in=pks).values_list("account_id", flat=True)
    )
    return [(accounts[pk], pk in followed) for pk in pks if pk in accounts]


def follows_of(user: User) -> QuerySet[Follow]:
    return Follow.objects.filter(user=user).select_related("account")


def favourites_of(user: User) -> QuerySet[Favourite]:
    """The resident's favourites of visible posts."""
    return Favourite.objects.filter(
        user=user, post__state=PostState.PUBLISHED, post__published_at__lte=timezone.now()
    ).select_related("post__account")


def with_media(posts: QuerySet[Post]) -> QuerySet[Post]:
    return posts.filter(Exists(PostImage.objects.filter(post=OuterRef("pk"))))


def post_place(pk: int) -> tuple[dt.datetime, int]:
    """A post's place in a timeline ordered by (published_at, id)."""
    post = Post.objects.filter(pk=pk).values_list("published_at", "pk").first()
    if post is None:
        raise NotFound(NOT_FOUND)
    return post


# Notifications ----------------------------------------------------------------------------

ALERT_KIND, MENTION_KIND = 0, 1
_PK_MAX = 2**63 - 1


@dataclass(frozen=True)
class Place:
    """A notification's place in the list, newest first by (time, kind, id): alerts (kind 0)
    and mentions (kind 1) come from different tables, so their ids alone cannot order them."""

    at: dt.datetime
    kind: int
    pk: int

    def older(self, kind: int) -> tuple[dt.datetime, int]:
        """The (time, id) keyset of the rows of `kind` that come after this place (older):
        at the same time, all of a lower kind, those with a lower id of the same kind."""
        return self.at, (_PK_MAX if kind < self.kind else self.pk if kind == self.kind else 0)

    def newer(self, kind: int) -> tuple[dt.datetime, int]:
        """The keyset of the rows of `kind` that come before this place (newer)."""
        return self.at, (0 if kind > self.kind else self.pk if kind == self.kind else _PK_MAX)


def place_of(user: User, raw: str) -> Place | None:
    """The place of the notification `raw` names: an alert ("12") or a mention ("m12")."""
    if raw.isdigit() and len(raw) <= 18:
        alert = notify_selectors.notification_ref(recipient=user, pk=int(raw))
        return Place(alert.created_at, ALERT_KIND, alert.pk) if alert else None
    if raw[:1] == "m" and raw[1:].isdigit() and len(raw) <= 19:
        comment = Comment.objects.filter(pk=int(raw[1:])).first()
        return Place(comment.created_at, MENTION_KIND, comment.pk) if comment else None
    return None


@dataclass(frozen=True)
class NotificationQuery:
    """What a client asks of the notifications list: the types, an account ("a<pk>" or
    "u<pk>"), one notification (`only`), the paging places (max_id, since_id, min_id)."""

    types: frozenset[str]
    limit: int
    account_id: str = ""
    only: str | None = None
    anchors: tuple[tuple[str, str], ...] = ()


@dataclass
class NotificationRow:
    """An alert (`post` the alert, `pk` the outbox notification) or a mention (`comment`)."""

    place: Place
    post: Post | None = None
    comment: Comment | None = None


def _account_pk(account_id: str) -> int:
    return int(account_id[1:]) if account_id[1:].isdigit() else 0


def _alerts(
    user: User, query: NotificationQuery, places: dict[str, Place], oldest_first: bool
) -> list[tuple[Place, int]]:
    if query.account_id.startswith("u"):
        return []
    dispatch_ids = None
    if query.account_id:
        dispatch_ids = AlertPush.objects.filter(
            post__account_id=_account_pk(query.account_id)
        ).values_list("dispatch_id", flat=True)
    only = places.get("only")
    if only is not None and only.kind != ALERT_KIND:
        return []
    older = places.get("max_id")
    refs = notify_selectors.notification_refs(
        recipient=user,
        kind=ALERT,
        limit=query.limit,
        dispatch_ids=dispatch_ids,
        pk=only.pk if only is not None else None,
        older_than=older.older(ALERT_KIND) if older else None,
        newer_than=[
            places[name].newer(ALERT_KIND) for name in ("since_id", "min_id") if name in places
        ],
        oldest_first=oldest_first,
    )
    return [(Place(ref.created_at, ALERT_KIND, ref.pk), ref.dispatch_id) for ref in refs]


def _mentions(
    user: User, query: NotificationQuery, places: dict[str, Place], oldest_first: bool
) -> list[Comment]:
    accounts = published_accounts(user)
    if not accounts or query.account_id.startswith("a"):
        return []
    only = places.get("only")
    if only is not None and only.kind != MENTION_KIND:
        return []
    rows = (
        Comment.objects.filter(
            post__account_id__in=accounts, hidden=False, post__state=PostState.PUBLISHED
        )
        .exclude(author=user)
        .select_related("post__account", "author", "parent")
    )
    if query.account_id:
        rows = rows.filter(author_id=_account_pk(query.account_id))
    if only is not None:
        rows = rows.filter(pk=only.pk)
    if (older := places.get("max_id")) is not None:
        at, bound = older.older(MENTION_KIND)
        rows = rows.filter(Q(created_at__lt=at) | Q(created_at=at, pk__lt=bound))
    for name in ("since_id", "min_id"):
        if (newer := places.get(name)) is not None:
            at, bound = newer.newer(MENTION_KIND)
            rows = rows.filter(Q(created_at__gt=at) | Q(created_at=at, pk__gt=bound))
    order = ("created_at", "pk") if oldest_first else ("-created_at", "-pk")
    return list(rows.order_by(*order)[: query.limit])


def notification_page(user: User, query: NotificationQuery) -> list[NotificationRow]:
    """A resident's alert notifications from the outbox, with the alert post each carried; for
    a publisher also the replies to their accounts' posts ("mentions"). Newest first, paged by
    max_id, since_id and min_id, merged by (time, kind, id)."""
    places: dict[str, Place] = {}
    asked = [("only", query.only)] if query.only is not None else []
    for name, raw in [*asked, *((n, r) for n, r in query.anchors if r)]:
        place = place_of(user, raw)
        if place is None:
            return []  # an id that names no notification of this person
        places[name] = place
    oldest_first = "min_id" in places
    alerts = _alerts(user, query, places, oldest_first) if "status" in query.types else []
    mentions = _mentions(user, query, places, oldest_first) if "mention" in query.types else []
    found: list[tuple[Place, int | Comment]] = [*alerts]
    found += [(Place(c.created_at, MENTION_KIND, c.pk), c) for c in mentions]
    found.sort(key=lambda item: (item[0].at, item[0].kind, item[0].pk), reverse=not oldest_first)
    page = found[: query.limit]
    if oldest_first:
        page.reverse()
    pushes = {
        push.dispatch_id: push.post
        for push in AlertPush.objects.filter(
            dispatch_id__in=[row for place, row in page if place.kind == ALERT_KIND]
        ).select_related("post__account")
    }
    rows = []
    for place, row in page:
        if isinstance(row, Comment):
            rows.append(NotificationRow(place, comment=row))
        elif row in pushes:
            rows.append(NotificationRow(place, post=pushes[row]))
    return rows


def alert_notifications(user_ids: Iterable[int], dispatch_id: int) -> dict[int, NotificationRow]:
    """The residents' notifications of one alert's push, with the alert, by user id: those
    among its recipients (two statements, whatever their number)."""
    push = AlertPush.objects.filter(dispatch_id=dispatch_id).select_related("post__account")
    alert = push.first()
    if alert is None:
        return {}
    notes = notify_selectors.dispatch_notification_refs(
        dispatch_id=dispatch_id, recipient_ids=user_ids
    )
    return {
        user_id: NotificationRow(Place(note.created_at, ALERT_KIND, note.pk), post=alert.post)
        for user_id, note in notes.items()
    }
