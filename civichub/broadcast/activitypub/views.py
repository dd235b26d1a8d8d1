"""ActivityPub and WebFinger endpoints of the government accounts: thin, the documents from
`broadcast.activitystreams` and every change through the federation services. Errors are
answered as JSON with the status of the domain error (servers read the status)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from civichub.broadcast import activitystreams as streams
from civichub.broadcast import selectors, services
from civichub.broadcast.conf import absolute
from civichub.broadcast.models import BroadcastAccount, Post, PostState
from civichub.core.errors import DomainError, NotFound, RateLimited
from civichub.core.http import client_address

JSON_TYPES = ("application/activity+json", "application/ld+json", "application/json")


def _activity_json(document: dict[str, Any], status: int = 200) -> JsonResponse:
    response = JsonResponse(
        document,
        status=status,
        content_type=f"{streams.ACTIVITY_JSON}; charset=utf-8",
        json_dumps_params={"ensure_ascii": False},
    )
    response["Vary"] = "Accept"
    response["Access-Control-Allow-Origin"] = "*"
    return response


def _errors_as_json(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return view(request, *args, **kwargs)
        except DomainError as exc:
            body: dict[str, Any] = {"error": exc.message}
            if "reason" in exc.extra:
                body["reason"] = exc.extra["reason"]
            response = JsonResponse(body, status=exc.status)
            if isinstance(exc, RateLimited):
                response["Retry-After"] = "60"
            return response

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def _wants_json(request: HttpRequest) -> bool:
    accept = request.headers.get("Accept", "")
    return any(kind in accept for kind in JSON_TYPES)


def _account(handle: str) -> BroadcastAccount:
    account = BroadcastAccount.objects.select_related("organisation").filter(handle=handle).first()
    if account is None:
        raise NotFound(_("没有这个账号。"))
    return account


@require_GET
@_errors_as_json
def webfinger(request: HttpRequest) -> HttpResponseBase:
    """`acct:handle@host` (or the actor's address) to the actor; residents are not found. The
    site's own actor is `acct:civichub.internal@host`."""
    resource = request.GET.get("resource", "")
    handle = ""
    if resource.startswith("acct:"):
        user, _sep, host = resource[5:].lstrip("@").rpartition("@")
        if host.lower() == streams.site_host().lower():
            handle = user
    elif resource.startswith(absolute(reverse("broadcast:ap_actor", args=["x"]))[:-1]):
        handle = resource.rstrip("/").rsplit("/", 1)[1]
    if handle == streams.INSTANCE_ACTOR_NAME or resource == streams.instance_actor_id():
        document = streams.instance_webfinger_document()
    else:
        account = BroadcastAccount.objects.filter(handle=handle).first() if handle else None
        if account is None:
            raise NotFound(_("没有这个账号。"))
        document = streams.webfinger_document(account)
    response = JsonResponse(document)
    response["Content-Type"] = "application/jrd+json; charset=utf-8"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
@_errors_as_json
def actor(request: HttpRequest, handle: str) -> HttpResponseBase:
    account = _account(handle)
    if not _wants_json(request):
        return redirect("broadcast:account", handle=handle)
    key = services.account_key(account)
    return _activity_json(streams.actor_document(account, key.public_key_pem))


@require_GET
@_errors_as_json
def instance_actor(request: HttpRequest) -> HttpResponseBase:
    """The site's own actor, whose key signs the site's fetches; public, as every actor here."""
    key = services.instance_key()
    return _activity_json(streams.instance_actor_document(key.public_key_pem))


@require_GET
@_errors_as_json
def instance_outbox(request: HttpRequest) -> HttpResponseBase:
    return _activity_json(streams.instance_outbox_document())


@require_GET
@_errors_as_json
def outbox(request: HttpRequest, handle: str) -> HttpResponseBase:
    account = _account(handle)
    max_id = request.GET.get("max_id", "")
    return _activity_json(
        streams.outbox_document(
            account,
            page=bool(request.GET.get("page")),
            max_id=int(max_id) if max_id.isdigit() else None,
        )
    )


@require_GET
@_errors_as_json
def followers(request: HttpRequest, handle: str) -> HttpResponseBase:
    return _activity_json(streams.followers_document(_account(handle)))


@require_GET
@_errors_as_json
def note(request: HttpRequest, post_id: int) -> HttpResponseBase:
    post = (
        Post.objects.select_related("account", "video")
        .prefetch_related("images")
        .filter(pk=post_id, published_at__lte=timezone.now())
        .first()
    )
    if post is None:
        raise NotFound(_("没有这条发布。"))
    if not _wants_json(request):
        return redirect("broadcast:post", post_id=post.pk)
    if post.state == PostState.RETRACTED:
        return _activity_json({"id": streams.note_id(post), "type": "Tombstone"}, status=410)
    selectors.exact_counts([post])  # likes and shares: the column and the counter slots
    return _activity_json(streams.note_document(post))


def _receive(request: HttpRequest, handle: str | None) -> HttpResponse:
    outcome = services.inbox_receive(
        handle=handle,
        request=services.InboxRequest(
            method=request.method or "POST",
            url=absolute(request.get_full_path()),
            headers=dict(request.headers),
            body=request.body,
            address=client_address(request),
        ),
    )
    return HttpResponse(status=202, headers={"X-Civichub-Outcome": outcome})


@csrf_exempt
@require_POST
@_errors_as_json
def inbox(request: HttpRequest, handle: str) -> HttpResponseBase:
    return _receive(request, handle)


@csrf_exempt
@require_POST
@_errors_as_json
def shared_inbox(request: HttpRequest) -> HttpResponseBase:
    return _receive(request, None)
