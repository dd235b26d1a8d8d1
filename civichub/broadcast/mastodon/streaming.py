"""Mastodon's streaming API over server-sent events (research notes §2 and §5 item 17):
`/api/v1/streaming/user`, `/user/notification`, `/public` (and `/public/local`, `/public/remote`,
the same here) and `/health`, fed by broadcast's event bus (civichub.broadcast.streaming).

Events: `update` (a status went live), `status.update` (edited), `delete` (retracted; the data is
the id) and `notification` (an alert for the resident's area), each `event: <name>` with one
`data: <json>` line, and a `:thump` comment when nothing else was sent for HEARTBEAT_SECONDS.
The token comes as `Authorization: Bearer` or the `access_token` query parameter.

Every stream is served beside Django's request cycle (`core.events`, the module manifest's
`asgi_streams`): the public stream shared by every reader of a host (`shared`), a person's
streams each on their own channels (`routed`), with no thread, task or subscription of their
own. The token is checked once, as the stream opens, by the API's own check with the scopes
Mastodon's streaming server asks: `read:statuses` for the user stream, `read:notifications` for
`user/notification` (`read` includes both); the user stream carries notifications only when
the token may read them. Revoking the token ends its streams. The Django views below answer
where that server is not in front (a WSGI server): the refusal, or 503."""

from __future__ import annotations

import io
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse

from civichub.broadcast import selectors, streaming
from civichub.broadcast.mastodon import scopes
from civichub.broadcast.mastodon.endpoint import (
    INVALID_TOKEN,
    READ_NOTIFICATIONS,
    READ_STATUSES,
    authenticated,
    error,
)
from civichub.broadcast.mastodon.render import notification_json, status_json
from civichub.broadcast.mastodon.selectors import alert_notifications
from civichub.broadcast.mastodon.services import secret_hash
from civichub.core.events import Event, credential_channel
from civichub.core.events.asgi import ASGIApp, Receive, Scope, Send, send_answer
from civichub.core.events.routed import Audience, RoutedStreams, routed_sse_app
from civichub.core.events.shared import Reader, shared_sse_app
from civichub.core.http import bearer_token
from civichub.core.models import User

_renders = streaming.SharedRenders()
USER_EVENTS = frozenset({streaming.UPDATE, streaming.STATUS_UPDATE, streaming.DELETE})


async def _reader(
    request: HttpRequest, needed: tuple[str, ...], *, user_required: bool
) -> User | None | JsonResponse:
    """The token's user (None for no token or an app's own token where that is allowed), or the
    error to answer: a bad token, or one without the scope the stream needs. The token comes
    as `Authorization: Bearer` or the `access_token` query parameter."""
    token = bearer_token(request) or request.GET.get("access_token", "").strip()
    if not token and not user_required:
        return None  # the public stream without a token: nothing to look up in the database
    found = await streaming.db(authenticated)(
        request, needed, user_required=user_required, token=token
    )
    return found.user if found is not None and not isinstance(found, JsonResponse) else found


def _status(request: HttpRequest, post_id: int) -> str | None:
    post = selectors.visible_posts().select_related("account").filter(pk=post_id).first()
    if post is None:
        return None
    # Rendered once for every stream of the process: `favourited` and `reblogged` are the
    # reader's own and so left false, as for a status nobody has touched yet.
    return json.dumps(status_json(request, post, None), ensure_ascii=False)


async def _refusal_or_unavailable(request: HttpRequest, needed: tuple[str, ...]) -> HttpResponse:
    user = await _reader(request, needed, user_required=True)
    if not isinstance(user, User):
        return user or error(INVALID_TOKEN, 401)
    return error("Streaming needs the ASGI server", 503)


async def streaming_user(request: HttpRequest) -> HttpResponseBase:
    """The home timeline's new, edited and retracted statuses and the resident's notifications
    (served by `user_stream_asgi`; this answers without the ASGI server)."""
    return await _refusal_or_unavailable(request, READ_STATUSES)


async def streaming_user_notification(request: HttpRequest) -> HttpResponseBase:
    return await _refusal_or_unavailable(request, READ_NOTIFICATIONS)


async def streaming_public(request: HttpRequest, **_kwargs: Any) -> HttpResponseBase:
    """Every account's statuses (served by `public_stream_asgi`). Public posts need no token; a
    token given must be valid."""
    user = await _reader(request, READ_STATUSES, user_required=False)
    if isinstance(user, JsonResponse):
        return user
    return error("Streaming needs the ASGI server", 503)


def public_stream_asgi(scope: Scope) -> ASGIApp | None:
    """The public stream, served beside Django's request cycle (`core.events.asgi`): nothing but
    the stream is kept per connection. A token (header or parameter) is checked once as the
    stream opens, as `streaming_public` checks it: it must be valid and hold read:statuses. A
    Host Django refuses leaves the request to Django."""
    # For the Host check and the absolute URLs of what the stream renders.
    request = ASGIRequest(scope, io.BytesIO())
    try:
        request.get_host()
    except DisallowedHost:
        return None
    # Every reader of one host gets the same bytes: one render and one pass over the open
    # connections per event (`core.events.shared`), whatever their number. The renderer is made
    # from the first reader's request only; the others keep no request.
    host = request.build_absolute_uri("/")
    stream = shared_sse_app(
        ("mastodon:public", host), [streaming.PUBLIC], lambda: _public_render(scope)
    )
    if not (bearer_token(request) or request.GET.get("access_token", "").strip()):
        return stream
    return _token_checked(stream)


def _token_checked(stream: ASGIApp) -> ASGIApp:
    """`stream` once the request's token is found valid with read:statuses; else the refusal."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        refused = await streaming.db(_public_refusal, opening=True)(scope)
        if refused is None:
            await stream(scope, receive, send)
            return
        await send_answer(
            scope, send, refused.status_code, refused.content, headers=refused.items()
        )

    return app


def _public_refusal(scope: Scope) -> JsonResponse | None:
    request = ASGIRequest(scope, io.BytesIO())
    found = authenticated(
        request,
        READ_STATUSES,
        user_required=False,
        token=bearer_token(request) or request.GET.get("access_token", "").strip(),
    )
    return found if isinstance(found, JsonResponse) else None


def _public_render(scope: Scope) -> Callable[[Event], Awaitable[bytes | None]]:
    request = ASGIRequest(scope, io.BytesIO())

    async def render(event: Event) -> bytes | None:
        if not isinstance(event, streaming.Event) or event.kind not in USER_EVENTS:
            return None
        if event.post_id is None:
            return None
        if event.kind == streaming.DELETE:
            return streaming.sse_event("delete", str(event.post_id))
        return await _status_event(event, request)

    return render


async def streaming_health(request: HttpRequest) -> HttpResponse:
    return HttpResponse("OK", content_type="text/plain")


# A person's streams ----------------------------------------------------------------------------

USER_STREAMS = "mastodon:user"
# The request each host's events are rendered for (its absolute URLs), the first reader's.
_requests: OrderedDict[str, HttpRequest] = OrderedDict()
_HOSTS_KEPT = 64


class _Person:
    """What a user stream keeps about its reader: checked once, as the stream opened."""

    __slots__ = ("credential", "host", "kinds", "notifications", "timeline", "user_id")

    def __init__(
        self,
        *,
        user_id: int,
        host: str,
        kinds: frozenset[str],
        notifications: bool,
        timeline: bool,
        credential: str,
    ) -> None:
        self.user_id = user_id
        self.host = host
        self.kinds = kinds
        # The token may read notifications (Mastodon leaves them out of the user stream else).
        self.notifications = notifications
        # The stream carries the home timeline (`user`), not only notifications.
        self.timeline = timeline
        self.credential = credential

    def channels(self, found: list[str]) -> list[str]:
        """The stream's channels among the person's `streaming.channels_for`."""
        kept = [c for c in found if self.timeline or not c.startswith("timeline:")]
        return [*kept, self.credential]


def user_stream_asgi(scope: Scope) -> ASGIApp | None:
    """`/api/v1/streaming/user` beside Django's request cycle."""
    return _person_stream(scope, READ_STATUSES, USER_EVENTS | {streaming.NOTIFICATION}, True)


def user_notification_stream_asgi(scope: Scope) -> ASGIApp | None:
    """`/api/v1/streaming/user/notification` beside Django's request cycle."""
    return _person_stream(scope, READ_NOTIFICATIONS, frozenset({streaming.NOTIFICATION}), False)


def _person_stream(
    scope: Scope, needed: tuple[str, ...], kinds: frozenset[str], timeline: bool
) -> ASGIApp | None:
    request = ASGIRequest(scope, io.BytesIO())
    try:
        request.get_host()
    except DisallowedHost:
        return None  # Django refuses it
    host = request.build_absolute_uri("/")
    token = bearer_token(request) or request.GET.get("access_token", "").strip()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        opened = await streaming.db(_person_opening, opening=True)(
            request, token, needed, kinds, timeline
        )
        if isinstance(opened, JsonResponse):
            await send_answer(
                scope, send, opened.status_code, opened.content, headers=opened.items()
            )
            return
        channels, person = opened
        _requests[host] = request
        _requests.move_to_end(host)
        while len(_requests) > _HOSTS_KEPT:
            _requests.popitem(last=False)
        stream = routed_sse_app(USER_STREAMS, PersonAudience, channels, person)
        await stream(scope, receive, send)

    return app


def _person_opening(
    request: HttpRequest,
    token: str,
    needed: tuple[str, ...],
    kinds: frozenset[str],
    timeline: bool,
) -> tuple[list[str], _Person] | JsonResponse:
    """The stream's channels and reader, or the refusal: the API's own token check."""
    found = authenticated(request, needed, user_required=True, token=token)
    if isinstance(found, JsonResponse):
        return found
    if found is None or found.user is None:
        return error(INVALID_TOKEN, 401)
    person = _Person(
        user_id=found.user.pk,
        host=request.build_absolute_uri("/"),
        kinds=kinds,
        notifications=scopes.allows(found.scopes, READ_NOTIFICATIONS),
        timeline=timeline,
        credential=credential_channel(secret_hash(token)),
    )
    return person.channels(streaming.channels_for(found.user)), person


class PersonAudience(Audience):
    """Renders broadcast's events for the people whose streams they reach: a status once per
    host for all of them, a notification for each person among its recipients in one database
    call, and a change of follows as a change of the stream's channels."""

    async def render(
        self, streams: RoutedStreams, event: Event, readers: list[Reader]
    ) -> list[tuple[Reader, bytes]]:
        if not isinstance(event, streaming.Event):
            return []
        if event.kind == streaming.FOLLOWS:
            await self._follows_changed(streams, readers)
            return []
        readers = [r for r in readers if event.kind in r.context.kinds]
        if not readers or event.post_id is None:
            return []
        if event.kind == streaming.DELETE:
            deleted = streaming.sse_event("delete", str(event.post_id))
            return [(r, deleted) for r in readers]
        if event.kind == streaming.NOTIFICATION:
            return await self._notifications(event, [r for r in readers if r.context.notifications])
        # A status's bytes are the same for every reader of a host.
        by_host: dict[str, bytes | None] = {}
        for host in {r.context.host for r in readers}:
            request = _requests.get(host)
            by_host[host] = await _status_event(event, request) if request else None
        return [(r, chunk) for r in readers if (chunk := by_host[r.context.host])]

    async def _notifications(
        self, event: streaming.Event, readers: list[Reader]
    ) -> list[tuple[Reader, bytes]]:
        if event.dispatch_id is None or not readers:
            return []
        wanted = {(r.context.user_id, r.context.host) for r in readers}
        chunks = await streaming.db(_notification_events)(event.dispatch_id, wanted)
        made = ((r, chunks.get((r.context.user_id, r.context.host))) for r in readers)
        return [(r, chunk) for r, chunk in made if chunk]

    async def _follows_changed(self, streams: RoutedStreams, readers: list[Reader]) -> None:
        people = {r.context.user_id for r in readers}
        found = await streaming.db(_channels_by_person)(people)
        for reader in readers:
            channels = found.get(reader.context.user_id)
            if channels is not None:
                await streams.move(reader, reader.context.channels(channels))


async def _status_event(event: streaming.Event, request: HttpRequest) -> bytes | None:
    """An `update` or `status.update`, made once per event and host for every stream of the
    process (the public stream and the people's)."""
    kind, post_id = event.kind, event.post_id
    assert post_id is not None

    async def status_event() -> bytes | None:
        data = await streaming.db(_status)(request, post_id)
        return streaming.sse_event(kind, data) if data else None

    host = request.build_absolute_uri("/")
    chunk: bytes | None = await _renders.get((event.id, kind, host), status_event)
    return chunk


def _notification_events(
    dispatch_id: int, wanted: set[tuple[int, str]]
) -> dict[tuple[int, str], bytes]:
    rows = alert_notifications({user_id for user_id, _host in wanted}, dispatch_id)
    # Only the alert's recipients (those the alert did not reach get nothing).
    users = User.objects.in_bulk(list(rows))
    made: dict[tuple[int, str], bytes] = {}
    for user_id, host in wanted:
        row, user, request = rows.get(user_id), users.get(user_id), _requests.get(host)
        if row is None or user is None or request is None:
            continue
        data = json.dumps(notification_json(request, row, user), ensure_ascii=False)
        made[(user_id, host)] = streaming.sse_event(streaming.NOTIFICATION, data)
    return made


def _channels_by_person(user_ids: set[int]) -> dict[int, list[str]]:
    users = User.objects.in_bulk(user_ids)
    return {pk: streaming.channels_for(user) for pk, user in users.items()}
