"""Live updates of the request board over core's event bus: a service that changes a request or
one of its call-ups publishes after commit; the board and the request page hold a server-sent
event stream and, on `changed`, fetch the page again and swap in its live part. Events carry
ids only, never a donor's data. Without JavaScript (or behind a WSGI server) a reload shows the
same thing."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from civichub.core import events
from civichub.core.errors import DomainError
from civichub.core.events import db, event_stream, is_asgi, publish, sse, sse_event
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
    """The board's stream (every request the person may see) or one request's. Answers 204
    where there is nothing to stream (not signed in, not allowed, or no ASGI server), which
    tells the browser not to reconnect."""
    if not is_asgi(request):
        return HttpResponse(status=204)
    user = await db(_user)(request)
    if not await db(_allowed)(user, request_id):
        return HttpResponse(status=204)
    channel = BOARD if request_id is None else request_channel(request_id)

    async def channels() -> list[str]:
        return [channel]

    async def handle(event: events.Event) -> bytes | None:
        if not isinstance(event, Event) or event.request_id is None:
            return None
        if request_id is None and not await db(_allowed)(user, event.request_id):
            return None
        return sse_event(CHANGED, json.dumps({"request": event.request_id}))

    return event_stream(sse(channels, handle))


def _user(request: HttpRequest) -> Any:
    """The signed-in person, read from the session (through `db`, which gives the connection
    back); touching an attribute loads the lazy user here rather than in the event loop."""
    user = request.user
    _ = user.is_authenticated
    return user
