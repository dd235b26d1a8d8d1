"""Broadcast's live updates over core's event bus (`civichub.core.events`): the services publish
after commit, the streaming endpoints (Mastodon's SSE streams, the pages' live feed) subscribe.

Channels:

- `timeline:public`: every post that goes live, is edited or retracted;
- `timeline:account:<id>`: the same events for one account's posts, plus its reposts. A follower's
  stream subscribes to the channels of the accounts it follows, so publishing costs one message
  per channel whatever the follower count (nothing is written per follower);
- `area:<organisation id>`: alert notifications for the residents of an area. A resident's stream
  subscribes to its community and the areas above it, so an alert to a million residents is one
  message per target area;
- `user:<id>`: events for one person's own streams (their follows changed).

An event carries ids, never rendered content: each subscribing process renders what it sends,
in its client's language and for its host, once per process (the renders are shared by every
stream in the process)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import io
import json
import logging
from collections.abc import Hashable
from typing import Any

from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django_tasks import task, task_backends

from civichub.broadcast.models import BroadcastAccount, Follow, Post, PostState
from civichub.broadcast.queue import priority
from civichub.broadcast.selectors import exact_counts
from civichub.core import events
from civichub.core.events import (
    REFRESH_SECONDS,
    SharedRenders,
    bus,
    db,
    publish,
    publish_now,
    sse_event,
)
from civichub.core.events.asgi import ASGIApp, Receive, Scope, Send, send_answer
from civichub.core.events.routed import Audience, RoutedStreams, routed_sse_app
from civichub.core.events.shared import Reader
from civichub.core.http import session_channel, session_user
from civichub.core.models import User

__all__ = [
    "DELETE",
    "FOLLOWS",
    "NOTIFICATION",
    "PUBLIC",
    "REPOST",
    "STATUS_UPDATE",
    "UPDATE",
    "Event",
    "SharedRenders",
    "account_channel",
    "area_channel",
    "bus",
    "channels_for",
    "db",
    "page_stream",
    "page_stream_asgi",
    "sse_event",
    "user_channel",
]

logger = logging.getLogger(__name__)

PUBLIC = "timeline:public"

# Event kinds, named as Mastodon's streaming events where there is one.
UPDATE = "update"  # a post went live
STATUS_UPDATE = "status.update"  # a post's text changed
DELETE = "delete"  # a post was retracted
REPOST = "repost"  # a post was reposted (its counts changed)
NOTIFICATION = "notification"  # an alert was sent to an area's residents
FOLLOWS = "follows"  # the person's follows changed


def account_channel(account_id: int) -> str:
    return f"timeline:account:{account_id}"


def area_channel(organisation_id: int) -> str:
    return f"area:{organisation_id}"


def user_channel(user_id: int) -> str:
    return f"user:{user_id}"


@dataclasses.dataclass(frozen=True)
class Event(events.Event, topic="broadcast"):
    """A broadcast event: the post, its account, the outbox dispatch of an alert."""

    post_id: int | None = None
    account_id: int | None = None
    dispatch_id: int | None = None


def _post_channels(account_id: int) -> list[str]:
    return [PUBLIC, account_channel(account_id)]


def post_published(post: Any) -> None:
    """A post was published: announced now, or when it goes live if it is scheduled."""
    if post.published_at <= timezone.now():
        publish(
            _post_channels(post.account_id),
            Event(UPDATE, post_id=post.pk, account_id=post.account_id),
        )
        return
    post_id, when = post.pk, post.published_at
    transaction.on_commit(lambda: _announce_later(post_id, when), robust=True)


def _announce_later(post_id: int, when: dt.datetime) -> None:
    backend = task_backends[announce_scheduled_post.backend]
    if not backend.supports_defer:
        logger.warning("the task backend cannot defer: post %s will not be streamed", post_id)
        return
    announce_scheduled_post.using(run_after=when).enqueue(post_id)


@task(priority=priority(50))
def announce_scheduled_post(post_id: int) -> bool:
    """Streams a scheduled post to its followers when its time comes (enqueued to run then)."""
    return scheduled_post_live(int(post_id))


def scheduled_post_live(post_id: int) -> bool:
    """Run when a scheduled post's time has come: announces it unless it was retracted."""
    post = Post.objects.filter(pk=post_id, state=PostState.PUBLISHED).first()
    if post is None or post.published_at > timezone.now():
        return False
    publish_now(
        _post_channels(post.account_id),
        Event(UPDATE, post_id=post.pk, account_id=post.account_id),
    )
    return True


def post_edited(post: Any) -> None:
    publish(
        _post_channels(post.account_id),
        Event(STATUS_UPDATE, post_id=post.pk, account_id=post.account_id),
    )


def post_retracted(post: Any) -> None:
    publish(
        _post_channels(post.account_id), Event(DELETE, post_id=post.pk, account_id=post.account_id)
    )


def post_reposted(post_id: int, account_id: int) -> None:
    """By ids: a repost knows its post's id and account without loading the post."""
    publish([account_channel(account_id)], Event(REPOST, post_id=post_id, account_id=account_id))


def alert_sent(post: Any, dispatch_id: int) -> None:
    """An alert's notifications were created: one event per target area."""
    areas = [area_channel(pk) for pk in post.target_areas.values_list("pk", flat=True)]
    if areas:
        publish(areas, Event(NOTIFICATION, post_id=post.pk, dispatch_id=dispatch_id))


def follows_changed(user_id: int) -> None:
    publish([user_channel(user_id)], Event(FOLLOWS))


def channels_for(user: Any) -> list[str]:
    """A signed-in person's channels: the followed accounts, the areas they live in, their own."""
    channels = [user_channel(user.pk)]
    channels += [
        account_channel(pk)
        for pk in Follow.objects.filter(user=user).values_list("account_id", flat=True)
    ]
    resident = getattr(user, "resident", None)
    if resident is not None:
        path = resident.community.path
        channels += [area_channel(int(pk)) for pk in path.strip("/").split("/") if pk]
    return channels


# The pages' live feed ----------------------------------------------------------------------

_page_renders = SharedRenders()


def _post_fragment(post_id: int, language: str) -> str | None:
    post = (
        Post.objects.select_related("account")
        .filter(pk=post_id, published_at__lte=timezone.now())
        .first()
    )
    if post is None:
        return None
    exact_counts([post])  # its column and its counter slots, as the pages show them
    with translation.override(language):
        html = render_to_string("broadcast/_post.html", {"p": post})
    data = {"id": post.pk, "html": html, "live": post.state == PostState.PUBLISHED}
    return json.dumps(data, ensure_ascii=False)


async def page_stream(request: HttpRequest) -> HttpResponseBase:
    """The pages' live feed is served by `page_stream_asgi` beside Django's request cycle; this
    answers where that server is not in front: 204, nothing to stream (the browser does not
    reconnect and the page stays as it was loaded)."""
    return HttpResponse(status=204)


PAGE_STREAMS = "broadcast:page"


class _Viewer:
    """What a page stream keeps about its reader, found as it opened."""

    __slots__ = ("language", "session", "user_id")

    def __init__(self, language: str, user_id: int | None, session: str | None = None) -> None:
        self.language = language
        self.user_id = user_id  # the home feed's reader; None on an account's page
        self.session = session  # the home feed's session channel: signing out ends the stream

    def channels(self, channels: list[str]) -> list[str]:
        return [*channels, self.session] if self.session else channels


def page_stream_asgi(scope: Scope) -> ASGIApp | None:
    """Server-sent events for the home feed (signed in) or one account's page (`?account=`):
    `post` for a new post, `replace` for an edited or retracted post or changed counts (at most
    every REFRESH_SECONDS), each with the post rendered as on the page in the reader's language.
    The session is checked as the middleware checks it, once, as the stream opens. Answers 204
    where there is nothing to stream, which tells the browser not to reconnect."""
    request = ASGIRequest(scope, io.BytesIO())
    try:
        request.get_host()
    except DisallowedHost:
        return None  # Django refuses it

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        opened = await db(_page_opening, opening=True)(request)
        if opened is None:
            await send_answer(scope, send, 204)
            return
        channels, viewer = opened
        await routed_sse_app(PAGE_STREAMS, PageAudience, channels, viewer)(scope, receive, send)

    return app


def _home_channels(user: Any) -> list[str]:
    return [c for c in channels_for(user) if not c.startswith("area:")]


def _page_opening(request: HttpRequest) -> tuple[list[str], _Viewer] | None:
    handle = request.GET.get("account", "")
    language = translation.get_language_from_request(request)
    if handle:
        found = BroadcastAccount.objects.filter(handle=handle).values_list("pk", flat=True)
        account_id = found.first()
        if account_id is None:
            return None
        return [account_channel(account_id)], _Viewer(language, None)
    user = session_user(request)
    if not user.is_authenticated:
        return None
    viewer = _Viewer(language, user.pk, session_channel(request.session.session_key))
    return viewer.channels(_home_channels(user)), viewer


class PageAudience(Audience):
    """A new post once per language for every page showing it; changes of a post held back
    and sent at most every REFRESH_SECONDS (a hot post's reposts), rendered once per language
    whatever the number of pages."""

    def __init__(self) -> None:
        self.held: dict[int, tuple[Reader, set[int]]] = {}
        self.last_flush = 0.0

    async def render(
        self, streams: RoutedStreams, event: events.Event, readers: list[Reader]
    ) -> list[tuple[Reader, bytes]]:
        if not isinstance(event, Event):
            return []
        if event.kind == FOLLOWS:
            home = [r for r in readers if r.context.user_id is not None]
            found = await db(_home_channels_by_person)({r.context.user_id for r in home})
            for reader in home:
                if reader.context.user_id in found:
                    channels = reader.context.channels(found[reader.context.user_id])
                    await streams.move(reader, channels)
            return []
        post_id = event.post_id
        if post_id is None:
            return []
        if event.kind == UPDATE:
            chunks: dict[str, bytes | None] = {}
            for language in {r.context.language for r in readers}:
                data = await _fragment(post_id, language, (event.id, language))
                chunks[language] = sse_event("post", data) if data else None
            return [(r, chunk) for r in readers if (chunk := chunks[r.context.language])]
        if event.kind in (STATUS_UPDATE, DELETE, REPOST):
            for reader in readers:
                self.held.setdefault(id(reader), (reader, set()))[1].add(post_id)
        return []

    async def flush(self, streams: RoutedStreams) -> list[tuple[Reader, bytes]]:
        now = asyncio.get_running_loop().time()
        if not self.held or now - self.last_flush < REFRESH_SECONDS:
            return []
        self.last_flush = now
        held, self.held = self.held, {}
        tick = int(now / REFRESH_SECONDS)
        renders: dict[tuple[int, str], bytes | None] = {}
        sent = []
        for reader, post_ids in held.values():
            if id(reader) not in streams.readers:
                continue
            language = reader.context.language
            parts = []
            for post_id in sorted(post_ids):
                if (post_id, language) not in renders:
                    data = await _fragment(post_id, language, ("refresh", post_id, tick, language))
                    renders[(post_id, language)] = sse_event("replace", data) if data else None
                if part := renders[(post_id, language)]:
                    parts.append(part)
            if parts:
                sent.append((reader, parts[0] if len(parts) == 1 else b"".join(parts)))
        return sent


async def _fragment(post_id: int, language: str, key: Hashable) -> str | None:
    data: str | None = await _page_renders.get(key, lambda: db(_post_fragment)(post_id, language))
    return data


def _home_channels_by_person(user_ids: set[int]) -> dict[int, list[str]]:
    users = User.objects.in_bulk(user_ids)
    return {pk: _home_channels(user) for pk, user in users.items()}
