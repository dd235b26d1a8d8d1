"""Mastodon's lists: `limit`, the Link header, and paging by `max_id`, `since_id` and `min_id`
(post ids or snowflake times in a timeline, row ids in the lists of follows and favourites)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest, JsonResponse

from civichub.broadcast import selectors
from civichub.broadcast.mastodon.render import status_json
from civichub.broadcast.mastodon.selectors import post_place
from civichub.broadcast.models import Post
from civichub.core.errors import ValidationFailed
from civichub.core.http import request_user_or_none

MAX_LIMIT = 40


def limit_of(request: HttpRequest) -> int:
    raw = request.GET.get("limit", "20")
    return max(1, min(MAX_LIMIT, int(raw))) if raw.isdigit() else 20


def flag(request: HttpRequest, name: str) -> bool:
    return request.GET.get(name, "").lower() in {"1", "true", "on", "yes"}


def linked(
    request: HttpRequest, body: list[dict[str, Any]], *, next_max: str | None, prev_min: str | None
) -> JsonResponse:
    """A list response with Mastodon's Link header; the links keep the request's other
    parameters (limit, local, only_media, …)."""
    response = JsonResponse(body, safe=False)
    path = request.build_absolute_uri(request.path)
    query = request.GET.copy()
    for name in ("max_id", "min_id", "since_id"):
        query.pop(name, None)
    links = []
    if next_max:
        query["max_id"] = next_max
        links.append(f'<{path}?{query.urlencode()}>; rel="next"')
        query.pop("max_id")
    if prev_min:
        query["min_id"] = prev_min
        links.append(f'<{path}?{query.urlencode()}>; rel="prev"')
    if links:
        response["Link"] = ", ".join(links)
    return response


def linked_rows(
    request: HttpRequest, body: list[dict[str, Any]], rows: Sequence[Any], *, more: bool
) -> JsonResponse:
    """A page of rows rendered as `body`, linked by the rows' own ids: the next page is older
    than the last row when there is more, the previous one newer than the first."""
    return linked(
        request,
        body,
        next_max=str(rows[-1].pk) if rows and more else None,
        prev_min=str(rows[0].pk) if rows else None,
    )


def empty(request: HttpRequest) -> JsonResponse:
    """An empty list (what civichub does not have), with no links."""
    return linked(request, [], next_max=None, prev_min=None)


def statuses_page(request: HttpRequest, posts: list[Post], *, more: bool) -> JsonResponse:
    """Posts as statuses with exact counts and the reader's marks, linked by post id."""
    user = request_user_or_none(request)
    selectors.exact_counts(posts)
    marks = selectors.marks_for(user, [p.pk for p in posts])
    return linked_rows(
        request, [status_json(request, p, user, marks=marks) for p in posts], posts, more=more
    )


# Mastodon ids are snowflakes (milliseconds << 16), and Mastodon.py turns a datetime given as
# max_id, min_id or since_id into one; numbers this large are times, smaller ones post ids.
SNOWFLAKE_FROM = 2**40
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Anchor:
    """A place in a timeline ordered by (published_at, id)."""

    at: dt.datetime
    pk: int


def anchor(request: HttpRequest, name: str) -> Anchor | None:
    raw = request.GET.get(name, "")
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise ValidationFailed(f"{name} is not valid", errors={name: ["not an id"]})
    number = int(raw)
    if number >= SNOWFLAKE_FROM:
        at = _EPOCH + dt.timedelta(milliseconds=number >> 16)
        # max_id: before that moment; min_id and since_id: after it.
        return Anchor(at, 0 if name == "max_id" else 2**62)
    return Anchor(*post_place(number))


def _older(anchor: Anchor) -> Q:
    return Q(published_at__lt=anchor.at) | Q(published_at=anchor.at, pk__lt=anchor.pk)


def _newer(anchor: Anchor) -> Q:
    return Q(published_at__gt=anchor.at) | Q(published_at=anchor.at, pk__gt=anchor.pk)


def timeline_page(request: HttpRequest, posts: QuerySet[Post]) -> JsonResponse:
    """One page of a timeline, newest first: `max_id` pages back, `since_id` gives the newest
    posts after a post, `min_id` the posts just after it (Mastodon's three paging parameters)."""
    limit = limit_of(request)
    posts = posts.select_related("account", "video").prefetch_related("images")
    older_than = anchor(request, "max_id")
    if older_than is not None:
        posts = posts.filter(_older(older_than))
    min_post = anchor(request, "min_id")
    if min_post is not None:
        rows = list(posts.filter(_newer(min_post)).order_by("published_at", "id")[:limit])
        rows.reverse()
        return statuses_page(request, rows, more=bool(rows))
    since = anchor(request, "since_id")
    if since is not None:
        posts = posts.filter(_newer(since))
    rows = list(posts.order_by("-published_at", "-id")[: limit + 1])
    return statuses_page(request, rows[:limit], more=len(rows) > limit)


def id_page(request: HttpRequest, rows: QuerySet[Any]) -> tuple[list[Any], bool]:
    """A page of rows by their own ids (follows, favourites): Mastodon pages these lists by
    the id of the follow or favourite, not of the account or status shown."""
    limit = limit_of(request)
    for name, lookup in (("max_id", "pk__lt"), ("since_id", "pk__gt"), ("min_id", "pk__gt")):
        raw = request.GET.get(name, "")
        if raw.isdigit() and len(raw) <= 18:
            rows = rows.filter(**{lookup: int(raw)})
    if request.GET.get("min_id"):
        page = list(rows.order_by("pk")[:limit])
        page.reverse()
        return page, bool(page)
    page = list(rows.order_by("-pk")[: limit + 1])
    return page[:limit], len(page) > limit
