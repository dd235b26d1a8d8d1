"""Mastodon's timelines (home, public, a hashtag: broadcast's categories) and search."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from civichub.broadcast import selectors
from civichub.broadcast.mastodon.endpoint import READ_STATUSES, endpoint
from civichub.broadcast.mastodon.paging import (
    anchor,
    empty,
    flag,
    limit_of,
    statuses_page,
    timeline_page,
)
from civichub.broadcast.mastodon.render import account_json
from civichub.broadcast.mastodon.selectors import accounts_search, category_of, with_media
from civichub.broadcast.models import Category, Post
from civichub.core.http import request_user


@endpoint(scopes_needed=READ_STATUSES)
def timeline_home(request: HttpRequest) -> HttpResponse:
    """The followed accounts' posts, merged at read time one page at a time (selectors.home_feed).
    `since_id` and `min_id` both give the newest posts after the one named: the merge reads
    from the newest end only."""
    user = request_user(request)
    older_than = anchor(request, "max_id")
    cursor = (
        selectors.cursor_for(Post(pk=older_than.pk, published_at=older_than.at))
        if older_than
        else None
    )
    page = selectors.home_feed(user, cursor=cursor, limit=limit_of(request))
    newer_than = anchor(request, "since_id") or anchor(request, "min_id")
    if newer_than is None:
        return statuses_page(request, page.posts, more=page.next_cursor is not None)
    after = (newer_than.at, newer_than.pk)
    posts = [p for p in page.posts if (p.published_at, p.pk) > after]
    return statuses_page(
        request, posts, more=len(posts) == len(page.posts) and bool(page.next_cursor)
    )


@endpoint(auth=False, scopes_needed=READ_STATUSES)
def timeline_public(request: HttpRequest) -> HttpResponse:
    """Every published post, newest first. All of civichub's accounts are local: `remote=true`
    gives an empty page, `local` changes nothing, `only_media` keeps posts with images."""
    if flag(request, "remote"):
        return empty(request)
    posts = selectors.visible_posts()
    if flag(request, "only_media"):
        posts = with_media(posts)
    return timeline_page(request, posts)


@endpoint(auth=False, scopes_needed=READ_STATUSES)
def timeline_tag(request: HttpRequest, hashtag: str) -> HttpResponse:
    """Categories are the hashtags: #traffic, #weather, … (or their Chinese names)."""
    category = category_of(hashtag)
    if category is None or flag(request, "remote"):
        return empty(request)
    return timeline_page(request, selectors.visible_posts().filter(category=category))


@endpoint(auth=False, scopes_needed=("read:search",))
def search(request: HttpRequest) -> HttpResponse:
    """Broadcast accounts by handle or name, and categories as hashtags; statuses are not
    searched."""
    q = request.GET.get("q", "").strip().lstrip("@").split("@")[0]
    kind = request.GET.get("type", "")
    accounts: list[dict[str, Any]] = []
    hashtags: list[dict[str, Any]] = []
    if q and kind in {"", "accounts"}:
        found = accounts_search(q, limit_of(request))
        accounts = [account_json(request, a) for a in found]
    if q and kind in {"", "hashtags"}:
        hashtags = [
            {
                "name": value,
                "url": request.build_absolute_uri(f"/broadcast/category/{value}/feed.atom"),
                "history": [],
            }
            for value, label in Category.choices
            if q.lstrip("#").lower() in value or q.lstrip("#") in str(label)
        ]
    return JsonResponse({"accounts": accounts, "statuses": [], "hashtags": hashtags})
