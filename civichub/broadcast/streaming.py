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
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django_tasks import task, task_backends

from civichub.broadcast.models import BroadcastAccount, Follow, Post, PostState
from civichub.broadcast.queue import priority
from civichub.core import events
from civichub.core.events import (
    REFRESH_SECONDS,
    SharedRenders,
    bus,
    db,
    event_stream,
    is_asgi,
    publish,
    publish_now,
    sse,
    sse_event,
)

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
    "event_stream",
    "is_asgi",
    "page_stream",
    "sse",
    "sse_event",
    "stream",
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


def stream(
    channels: Callable[[], Awaitable[list[str]]],
    handle: Callable[[Event], Awaitable[bytes | None]],
    *,
    flush: Callable[[], Awaitable[bytes | None]] | None = None,
) -> AsyncIterator[bytes]:
    """`events.sse` for broadcast's streams: `handle` gets broadcast's events, and a FOLLOWS
    event makes the stream subscribe afresh (the person followed or unfollowed an account)."""

    async def on_event(event: events.Event) -> bytes | None:
        return await handle(event) if isinstance(event, Event) else None

    return sse(channels, on_event, flush=flush, resubscribe_on=(FOLLOWS,))


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
    with translation.override(language):
        html = render_to_string("broadcast/_post.html", {"p": post})
    data = {"id": post.pk, "html": html, "live": post.state == PostState.PUBLISHED}
    return json.dumps(data, ensure_ascii=False)


async def page_stream(request: HttpRequest) -> HttpResponseBase:
    """Server-sent events for the home feed (signed in) or one account's page (`?account=`):
    `post` for a new post, `replace` for an edited or retracted post or changed counts, each
    with the post rendered as on the page. Answers 204 where there is nothing to stream, which
    tells the browser not to reconnect."""
    if not is_asgi(request):
        return HttpResponse(status=204)
    handle = request.GET.get("account", "")
    language = translation.get_language() or settings.LANGUAGE_CODE

    def reader_and_account() -> tuple[Any, int | None]:
        user = (
            request.user
        )  # the session is read here, through `db`, which gives back the connection
        signed_in = user if user.is_authenticated else None
        found = BroadcastAccount.objects.filter(handle=handle).values_list("pk", flat=True)
        return signed_in, (found.first() if handle else None)

    signed_in, account_id = await db(reader_and_account)()
    if handle and account_id is None:
        return HttpResponse(status=204)
    if not handle and signed_in is None:
        return HttpResponse(status=204)

    async def channels() -> list[str]:
        if account_id is not None:
            own = [user_channel(signed_in.pk)] if signed_in else []
            return [account_channel(account_id), *own]
        return [c for c in await db(channels_for)(signed_in) if not c.startswith("area:")]

    refresh: set[int] = set()

    async def render(post_id: int, key: Hashable) -> str | None:
        data: str | None = await _page_renders.get(
            key, lambda: db(_post_fragment)(post_id, language)
        )
        return data

    async def handle_event(event: Event) -> bytes | None:
        if event.post_id is None:
            return None
        if event.kind == UPDATE:
            data = await render(event.post_id, (event.id, language))
            return sse_event("post", data) if data else None
        if event.kind in (STATUS_UPDATE, DELETE, REPOST):
            refresh.add(event.post_id)
        return None

    last_flush = 0.0

    async def flush() -> bytes | None:
        nonlocal last_flush
        loop = asyncio.get_running_loop()
        if not refresh or loop.time() - last_flush < REFRESH_SECONDS:
            return None
        last_flush = loop.time()
        chunks = []
        tick = int(loop.time() / REFRESH_SECONDS)
        for post_id in sorted(refresh):
            data = await render(post_id, ("refresh", post_id, tick, language))
            if data:
                chunks.append(sse_event("replace", data))
        refresh.clear()
        return b"".join(chunks)

    return event_stream(stream(channels, handle_event, flush=flush))
