"""Mastodon's streaming API over server-sent events (research notes §2 and §5 item 17):
`/api/v1/streaming/user`, `/user/notification`, `/public` (and `/public/local`, `/public/remote`,
the same here) and `/health`, fed by broadcast's event bus (civichub.broadcast.streaming).

Events: `update` (a status went live), `status.update` (edited), `delete` (retracted; the data is
the id) and `notification` (an alert for the resident's area), each `event: <name>` with one
`data: <json>` line, and a `:thump` comment when nothing else was sent for HEARTBEAT_SECONDS.
The token comes as `Authorization: Bearer` or the `access_token` query parameter."""

from __future__ import annotations

import io
import json
from collections.abc import Awaitable, Callable
from typing import Any

from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse

from civichub.broadcast import selectors, streaming
from civichub.broadcast.mastodon.endpoint import (
    INVALID_TOKEN,
    READ_NOTIFICATIONS,
    READ_STATUSES,
    authenticated,
    error,
)
from civichub.broadcast.mastodon.render import notification_json, status_json
from civichub.broadcast.mastodon.selectors import alert_notification
from civichub.core.events import Event
from civichub.core.events.asgi import ASGIApp, Receive, Scope, Send, security_headers
from civichub.core.events.shared import shared_sse_app
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


def _notification(request: HttpRequest, user: User, event: streaming.Event) -> str | None:
    if event.dispatch_id is None:
        return None
    row = alert_notification(user, event.dispatch_id)
    if row is None:
        return None  # the resident was not among the alert's recipients
    return json.dumps(notification_json(request, row, user), ensure_ascii=False)


def _handler(
    request: HttpRequest, user: User | None, kinds: frozenset[str]
) -> Callable[[streaming.Event], Awaitable[bytes | None]]:
    host = request.build_absolute_uri("/")

    async def handle(event: streaming.Event) -> bytes | None:
        if event.kind not in kinds or event.post_id is None:
            return None
        if event.kind == streaming.DELETE:
            return streaming.sse_event("delete", str(event.post_id))
        if event.kind == streaming.NOTIFICATION:
            if user is None:
                return None
            data = await streaming.db(_notification)(request, user, event)
            return streaming.sse_event(event.kind, data) if data else None
        # The event's bytes are made once for every stream of the process.
        kind, post_id = event.kind, event.post_id

        async def status_event() -> bytes | None:
            data = await streaming.db(_status)(request, post_id)
            return streaming.sse_event(kind, data) if data else None

        chunk: bytes | None = await _renders.get((event.id, kind, host), status_event)
        return chunk

    return handle


def _stream(
    request: HttpRequest,
    user: User | None,
    channels: Callable[[], Awaitable[list[str]]],
    kinds: frozenset[str],
) -> HttpResponseBase:
    if not streaming.is_asgi(request):
        return error("Streaming needs the ASGI server", 503)
    return streaming.event_stream(streaming.stream(channels, _handler(request, user, kinds)))


async def _user_stream(
    request: HttpRequest,
    needed: tuple[str, ...],
    kinds: frozenset[str],
    keep: Callable[[str], bool] = lambda _channel: True,
) -> HttpResponseBase:
    """A signed-in person's stream: the `keep` channels of `streaming.channels_for`."""
    user = await _reader(request, needed, user_required=True)
    if not isinstance(user, User):
        return user or error(INVALID_TOKEN, 401)
    signed_in = user

    async def channels() -> list[str]:
        found: list[str] = await streaming.db(streaming.channels_for)(signed_in)
        return [c for c in found if keep(c)]

    return _stream(request, user, channels, kinds)


async def streaming_user(request: HttpRequest) -> HttpResponseBase:
    """The home timeline's new, edited and retracted statuses and the resident's notifications."""
    return await _user_stream(request, READ_STATUSES, USER_EVENTS | {streaming.NOTIFICATION})


async def streaming_user_notification(request: HttpRequest) -> HttpResponseBase:
    return await _user_stream(
        request,
        READ_NOTIFICATIONS,
        frozenset({streaming.NOTIFICATION}),
        keep=lambda channel: not channel.startswith("timeline:"),
    )


async def streaming_public(request: HttpRequest, **_kwargs: Any) -> HttpResponseBase:
    """Every account's statuses. Public posts need no token; a token given must be valid."""
    user = await _reader(request, READ_STATUSES, user_required=False)
    if isinstance(user, JsonResponse):
        return user

    async def channels() -> list[str]:
        return [streaming.PUBLIC]

    return _stream(request, user, channels, USER_EVENTS)


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
        refused = await streaming.db(_public_refusal)(scope)
        if refused is None:
            await stream(scope, receive, send)
            return
        headers = [(k.lower().encode(), v.encode()) for k, v in refused.items()]
        await send(
            {
                "type": "http.response.start",
                "status": refused.status_code,
                "headers": [*headers, *security_headers(scope)],
            }
        )
        await send({"type": "http.response.body", "body": refused.content})

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
    handle = _handler(ASGIRequest(scope, io.BytesIO()), None, USER_EVENTS)

    async def render(event: Event) -> bytes | None:
        return await handle(event) if isinstance(event, streaming.Event) else None

    return render


async def streaming_health(request: HttpRequest) -> HttpResponse:
    return HttpResponse("OK", content_type="text/plain")
