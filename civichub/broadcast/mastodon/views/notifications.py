"""Mastodon's notifications: a resident's alerts (type "status") and, for a publisher, the
replies to their accounts' posts (type "mention", ids "m<comment id>")."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from civichub.broadcast import selectors
from civichub.broadcast.mastodon.endpoint import READ_NOTIFICATIONS, endpoint
from civichub.broadcast.mastodon.paging import limit_of, linked
from civichub.broadcast.mastodon.render import notification_json
from civichub.broadcast.mastodon.selectors import (
    NOT_FOUND,
    NotificationQuery,
    notification_page,
)
from civichub.core.errors import NotFound
from civichub.core.http import request_user
from civichub.core.models import User


def _notifications(
    request: HttpRequest, user: User, *, only: str | None = None
) -> list[dict[str, Any]]:
    types = set(request.GET.getlist("types[]") or request.GET.getlist("types"))
    excluded = set(request.GET.getlist("exclude_types[]") or request.GET.getlist("exclude_types"))
    query = NotificationQuery(
        types=frozenset(
            t for t in ("status", "mention") if (not types or t in types) and t not in excluded
        ),
        limit=limit_of(request),
        account_id=request.GET.get("account_id", ""),
        only=only,
        anchors=tuple(
            (name, request.GET.get(name, "")) for name in ("max_id", "since_id", "min_id")
        ),
    )
    rows = notification_page(user, query)
    posts = [row.post for row in rows if row.post is not None]
    selectors.exact_counts(posts)
    marks = selectors.marks_for(user, [p.pk for p in posts])
    return [notification_json(request, row, user, marks) for row in rows]


@endpoint(scopes_needed=READ_NOTIFICATIONS)
def notifications(request: HttpRequest) -> HttpResponse:
    body = _notifications(request, request_user(request))
    return linked(
        request,
        body,
        next_max=body[-1]["id"] if len(body) >= limit_of(request) else None,
        prev_min=body[0]["id"] if body else None,
    )


@endpoint(scopes_needed=READ_NOTIFICATIONS)
def notification(request: HttpRequest, notification_id: str) -> HttpResponse:
    rows = _notifications(request, request_user(request), only=notification_id)
    if not rows:
        raise NotFound(NOT_FOUND)
    return JsonResponse(rows[0])
