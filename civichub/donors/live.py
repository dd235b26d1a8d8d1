"""Live updates of the request board over core's event bus: a service that changes a request or
one of its call-ups publishes after commit; the board and the request page hold a server-sent
event stream and, on `changed`, fetch the page again and swap in its live part. Events carry
ids only, never a donor's data. Without JavaScript (or behind a WSGI server) a reload shows the
same thing. The streams are served beside Django's request cycle (`core.events.routed`): one
task for every open stream of a process, no thread each."""

from __future__ import annotations

import dataclasses
import io
import json
from typing import Any

from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from civichub.core import events
from civichub.core.errors import DomainError
from civichub.core.events import db, publish, sse_event
from civichub.core.events.asgi import ASGIApp, Receive, Scope, Send, send_answer
from civichub.core.events.routed import Audience, RoutedStreams, routed_sse_app
from civichub.core.events.shared import Reader
from civichub.core.http import session_channel, session_user
from civichub.core.models import User
from civichub.core.permissions import require
from civichub.donors import selectors

CHANGED = "changed"
BOARD = "donors:board"


def request_channel(request_id: int) -> str:
    return f"donors:request:{request_id}"


@dataclasses.dataclass(frozen=True)
class Event(events.Event, topic="donors"):
    """A request or one of its call-ups changed."""

    request_id: int | None = None


def request_changed(request_id: int) -> None:
    """Announces, after commit, that a request's status or call-ups changed."""
    publish([BOARD, request_channel(request_id)], Event(CHANGED, request_id=request_id))


def _allowed(user: Any, request_id: int | None) -> bool:
    """Whether the person may see the board, or this request (the board's events are filtered
    the same way, so no one learns of a request outside their hospital)."""
    if not getattr(user, "is_authenticated", False):
        return False
    try:
        if request_id is None:
            require(user, "donors.request.view")
        else:
            selectors.request_get(actor=user, pk=request_id)
    except DomainError:
        return False
    return True


async def stream(request: HttpRequest, request_id: int | None = None) -> HttpResponseBase:
    """The streams are served by `board_stream_asgi` and `request_stream_asgi` beside Django's
    request cycle; this answers where that server is not in front: 204, nothing to stream,
    which tells the browser not to reconnect (a reload shows the same)."""
    return HttpResponse(status=204)


STREAMS = "donors:live"


class _Viewer:
    """A stream's reader: the person, and the request they watch (None: the board)."""

    __slots__ = ("request_id", "user_id")

    def __init__(self, user_id: int, request_id: int | None) -> None:
        self.user_id = user_id
        self.request_id = request_id


def board_stream_asgi(scope: Scope) -> ASGIApp | None:
    """The board's stream: a `changed` event for every request the person may see."""
    return _stream_asgi(scope, None)


def request_stream_asgi(scope: Scope) -> ASGIApp | None:
    """One request's stream (the request's id comes from the path)."""
    return _stream_asgi(scope, int(scope["path_params"]["request_id"]))


def _stream_asgi(scope: Scope, request_id: int | None) -> ASGIApp | None:
    """The person (the session, checked as the middleware checks it) must be allowed to see
    the board or the request as the stream opens, and still be when a change comes: else the
    stream ends. Answers 204 where there is nothing to stream (not signed in, not allowed)."""
    request = ASGIRequest(scope, io.BytesIO())
    try:
        request.get_host()
    except DisallowedHost:
        return None  # Django refuses it

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        user = await db(_viewer, opening=True)(request, request_id)
        if user is None:
            await send_answer(scope, send, 204)
            return
        channels = [BOARD if request_id is None else request_channel(request_id)]
        # Signing out ends the stream (core publishes the end on the session's channel).
        if session := session_channel(request.session.session_key):
            channels.append(session)
        viewer = _Viewer(user.pk, request_id)
        await routed_sse_app(STREAMS, ChangeAudience, channels, viewer)(scope, receive, send)

    return app


def _viewer(request: HttpRequest, request_id: int | None) -> Any:
    """The signed-in person if they may see the board or the request, else None."""
    user = session_user(request)
    return user if _allowed(user, request_id) else None


class ChangeAudience(Audience):
    """A change reaches the people still allowed to see the request, checked for each person
    once per change in one database call; a person no longer allowed to see what their stream
    shows (the board, the request) has the stream ended."""

    async def render(
        self, streams: RoutedStreams, event: events.Event, readers: list[Reader]
    ) -> list[tuple[Reader, bytes]]:
        if not isinstance(event, Event) or event.request_id is None:
            return []
        people = {r.context.user_id for r in readers}
        allowed = await db(_allowed_by_person)(people, event.request_id)
        chunk = sse_event(CHANGED, json.dumps({"request": event.request_id}))
        sent = []
        for reader in readers:
            board, this_request = allowed.get(reader.context.user_id, (False, False))
            if not (board if reader.context.request_id is None else this_request):
                streams.close(reader)
            elif this_request:
                sent.append((reader, chunk))
        return sent


def _allowed_by_person(user_ids: set[int], request_id: int) -> dict[int, tuple[bool, bool]]:
    """For each person: whether they may see the board, and the request."""
    users = User.objects.in_bulk(user_ids)
    return {pk: (_allowed(user, None), _allowed(user, request_id)) for pk, user in users.items()}
