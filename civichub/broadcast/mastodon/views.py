"""Mastodon client API over broadcast's services (research notes §5). Broadcast accounts are
Mastodon accounts with ids "a<pk>", residents are "u<pk>"; posts are statuses; a resident's
reply is a comment; a reblog is a repost. Errors are Mastodon's `{"error": "..."}`."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import time
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any

from django.contrib.auth import authenticate
from django.db import DatabaseError
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
    StreamingHttpResponse,
)
from django.views.decorators.csrf import csrf_exempt

from civichub.broadcast import selectors, services
from civichub.broadcast.models import (
    AlertPush,
    BroadcastAccount,
    ClientApp,
    Comment,
    Favourite,
    Follow,
    Post,
    Repost,
)
from civichub.broadcast.notifications import ALERT
from civichub.core.errors import DomainError, NotAuthenticated, NotFound, ValidationFailed
from civichub.core.models import User
from civichub.core.permissions import allowed
from civichub.core.services import api_token_authenticate, api_token_create

VERSION = "4.3.0 (compatible; civichub 0.1.0)"
HEARTBEAT_SECONDS = 15.0
STREAM_POLL_SECONDS = 0.5
STREAM_MAX_SECONDS = 3600.0


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _bearer(request: HttpRequest) -> User | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    return api_token_authenticate(header[7:].strip())


def endpoint(*, auth: bool = True) -> Callable[[Callable[..., HttpResponseBase]], Any]:
    """Bearer authentication and Mastodon's error format around a view."""

    def decorate(view: Callable[..., HttpResponseBase]) -> Any:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            user = _bearer(request)
            if auth and user is None:
                return _error("The access token is invalid", 401)
            request.mastodon_user = user  # type: ignore[attr-defined]
            try:
                return view(request, *args, **kwargs)
            except DomainError as exc:
                return _error(exc.message, exc.status)

        return wrapper

    return decorate


def _user(request: HttpRequest) -> User:
    user = getattr(request, "mastodon_user", None)
    if user is None:
        raise NotAuthenticated("The access token is invalid")
    return user


def _base(request: HttpRequest) -> str:
    return request.build_absolute_uri("/broadcast/mastodon")


def _time(value: Any) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def account_json(request: HttpRequest, account: BroadcastAccount) -> dict[str, Any]:
    return {
        "id": f"a{account.pk}",
        "username": account.handle,
        "acct": account.handle,
        "display_name": account.name,
        "url": request.build_absolute_uri(f"/broadcast/@{account.handle}/"),
        "created_at": _time(account.created_at),
        "note": account.description,
        "avatar": "",
        "avatar_static": "",
        "header": "",
        "header_static": "",
        "followers_count": account.followers_count,
        "following_count": 0,
        "statuses_count": account.posts_count,
        "locked": False,
        "bot": False,
        "verified": account.verified,
        "fields": [],
        "emojis": [],
    }


def user_json(request: HttpRequest, user: User) -> dict[str, Any]:
    return {
        "id": f"u{user.pk}",
        "username": user.username,
        "acct": user.username,
        "display_name": user.username,
        "url": "",
        "created_at": _time(user.date_joined),
        "note": "",
        "avatar": "",
        "avatar_static": "",
        "header": "",
        "header_static": "",
        "followers_count": 0,
        "following_count": Follow.objects.filter(user=user).count(),
        "statuses_count": 0,
        "locked": False,
        "bot": False,
        "fields": [],
        "emojis": [],
    }


def status_json(request: HttpRequest, post: Post, user: User | None) -> dict[str, Any]:
    url = request.build_absolute_uri(f"/broadcast/posts/{post.pk}/")
    return {
        "id": str(post.pk),
        "uri": url,
        "url": url,
        "created_at": _time(post.published_at),
        "edited_at": _time(post.edited_at) if post.edited_at else None,
        "account": account_json(request, post.account),
        "content": f"<p>{_escape(post.text)}</p>",
        "visibility": "public",
        "sensitive": False,
        "spoiler_text": "",
        "in_reply_to_id": None,
        "in_reply_to_account_id": None,
        "reblog": None,
        "mentions": [],
        "media_attachments": [],
        "tags": [],
        "emojis": [],
        "reblogs_count": post.reposts_count,
        "favourites_count": post.favourites_count,
        "replies_count": post.comments_count,
        "favourited": bool(user and Favourite.objects.filter(post=post, user=user).exists()),
        "reblogged": bool(user and Repost.objects.filter(post=post, user=user).exists()),
        "language": "zh",
    }


def comment_json(request: HttpRequest, comment: Comment, user: User) -> dict[str, Any]:
    post = comment.post
    return {
        **status_json(request, post, user),
        "id": f"c{comment.pk}",
        "uri": request.build_absolute_uri(f"/broadcast/posts/{post.pk}/#c{comment.pk}"),
        "created_at": _time(comment.created_at),
        "account": user_json(request, comment.author),
        "content": f"<p>{_escape(comment.text)}</p>",
        "in_reply_to_id": str(post.pk),
        "in_reply_to_account_id": f"a{post.account_id}",
        "reblogs_count": 0,
        "favourites_count": 0,
        "replies_count": 0,
        "favourited": False,
        "reblogged": False,
    }


def _escape(text: str) -> str:
    from django.utils.html import escape

    return str(escape(text))


def _broadcast_account(account_id: str) -> BroadcastAccount:
    account = None
    if account_id.startswith("a") and account_id[1:].isdigit():
        account = BroadcastAccount.objects.filter(pk=int(account_id[1:])).first()
    if account is None:
        raise NotFound("Record not found")
    return account


def _paged(request: HttpRequest, page: selectors.FeedPage, user: User | None) -> JsonResponse:
    response = JsonResponse([status_json(request, p, user) for p in page.posts], safe=False)
    links = []
    path = request.build_absolute_uri(request.path)
    if page.next_cursor and page.posts:
        links.append(f'<{path}?max_id={page.posts[-1].pk}>; rel="next"')
    if page.posts:
        links.append(f'<{path}?min_id={page.posts[0].pk}>; rel="prev"')
    if links:
        response["Link"] = ", ".join(links)
    return response


def _cursor(request: HttpRequest) -> str | None:
    max_id = request.GET.get("max_id")
    if not max_id:
        return None
    if not max_id.isdigit():
        raise ValidationFailed("max_id is not valid")
    post = Post.objects.filter(pk=int(max_id)).first()
    if post is None:
        raise NotFound("Record not found")
    return selectors.cursor_for(post)


def _limit(request: HttpRequest) -> int:
    raw = request.GET.get("limit", "20")
    return max(1, min(40, int(raw))) if raw.isdigit() else 20


# Discovery and sign-in ------------------------------------------------------------------


@endpoint(auth=False)
def instance_v1(request: HttpRequest) -> HttpResponse:
    return JsonResponse(
        {
            "uri": request.get_host(),
            "title": "civichub",
            "version": VERSION,
            "urls": {"streaming_api": _base(request)},
        }
    )


@endpoint(auth=False)
def instance_v2(request: HttpRequest) -> HttpResponse:
    return JsonResponse(
        {
            "domain": request.get_host(),
            "title": "civichub",
            "version": VERSION,
            "api_versions": {"mastodon": 2},
            "configuration": {"urls": {"streaming": _base(request)}},
        }
    )


@endpoint(auth=False)
def app_register(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _error("Method not allowed", 405)
    name = request.POST.get("client_name", "").strip()
    if not name:
        return _error("Validation failed: client_name can't be blank", 422)
    secret = secrets.token_urlsafe(32)
    app = ClientApp.objects.create(
        name=name[:100],
        website=request.POST.get("website", "")[:300],
        redirect_uris=request.POST.get("redirect_uris", "urn:ietf:wg:oauth:2.0:oob"),
        scopes=request.POST.get("scopes", "read"),
        client_id=secrets.token_urlsafe(24),
        client_secret_hash=hashlib.sha256(secret.encode()).hexdigest(),
    )
    return JsonResponse(
        {
            "id": str(app.pk),
            "name": app.name,
            "website": app.website,
            "redirect_uri": app.redirect_uris,
            "redirect_uris": app.redirect_uris.split(),
            "scopes": app.scopes.split(),
            "client_id": app.client_id,
            "client_secret": secret,
        }
    )


@endpoint(auth=False)
def token(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _error("Method not allowed", 405)
    app = ClientApp.objects.filter(client_id=request.POST.get("client_id", "")).first()
    secret = request.POST.get("client_secret", "")
    if app is None or not secrets.compare_digest(
        app.client_secret_hash, hashlib.sha256(secret.encode()).hexdigest()
    ):
        return _error("Client authentication failed", 401)
    if request.POST.get("grant_type") != "password":
        return _error("The authorization grant type is not supported", 400)
    user = authenticate(
        request,
        username=request.POST.get("username", ""),
        password=request.POST.get("password", ""),
    )
    if not isinstance(user, User):
        return _error("The provided authorization grant is invalid", 400)
    _record, access = api_token_create(actor=user, name=f"Mastodon: {app.name}")
    scope = request.POST.get("scope") or app.scopes
    return JsonResponse(
        {
            "access_token": access,
            "token_type": "Bearer",
            "scope": scope,
            "created_at": int(time.time()),
        }
    )


# Accounts ---------------------------------------------------------------------------------


@endpoint()
def verify_credentials(request: HttpRequest) -> HttpResponse:
    return JsonResponse(user_json(request, _user(request)))


@endpoint(auth=False)
def account(request: HttpRequest, account_id: str) -> HttpResponse:
    return JsonResponse(account_json(request, _broadcast_account(account_id)))


@endpoint(auth=False)
def account_statuses(request: HttpRequest, account_id: str) -> HttpResponse:
    account = _broadcast_account(account_id)
    page = selectors.account_timeline(account, cursor=_cursor(request), limit=_limit(request))
    return _paged(request, page, getattr(request, "mastodon_user", None))


def _relationship(account: BroadcastAccount, following: bool) -> JsonResponse:
    return JsonResponse(
        {
            "id": f"a{account.pk}",
            "following": following,
            "followed_by": False,
            "requested": False,
            "showing_reblogs": True,
            "notifying": False,
            "blocking": False,
            "muting": False,
            "endorsed": False,
        }
    )


@endpoint()
def account_follow(request: HttpRequest, account_id: str) -> HttpResponse:
    account = _broadcast_account(account_id)
    services.follow_create(actor=_user(request), account_id=account.pk)
    return _relationship(account, True)


@endpoint()
def account_unfollow(request: HttpRequest, account_id: str) -> HttpResponse:
    account = _broadcast_account(account_id)
    services.follow_delete(actor=_user(request), account_id=account.pk)
    return _relationship(account, False)


# Statuses ---------------------------------------------------------------------------------


@endpoint()
def status_post(request: HttpRequest) -> HttpResponse:
    """A publisher's status is a post of the first account they may publish for; a status in
    reply to a post is a comment on it."""
    if request.method != "POST":
        return _error("Method not allowed", 405)
    user = _user(request)
    text = request.POST.get("status", "")
    reply_to = request.POST.get("in_reply_to_id", "")
    if reply_to:
        if not reply_to.isdigit():
            raise NotFound("Record not found")
        comment = services.comment_create(actor=user, post_id=int(reply_to), text=text)
        return JsonResponse(comment_json(request, comment, user))
    account = next(
        (
            a
            for a in BroadcastAccount.objects.select_related("organisation").order_by("pk")
            if allowed(user, "broadcast.post.publish", a)
        ),
        None,
    )
    if account is None:
        return _error("This action is outside the authorized scopes", 403)
    post = services.post_publish(
        actor=user,
        account=account,
        text=text,
        category=request.POST.get("category", "news"),
    )
    return JsonResponse(status_json(request, post, user))


@endpoint(auth=False)
def status_get(request: HttpRequest, post_id: int) -> HttpResponse:
    post = selectors.post_get(post_id)
    return JsonResponse(status_json(request, post, getattr(request, "mastodon_user", None)))


@endpoint()
def status_reblog(request: HttpRequest, post_id: int) -> HttpResponse:
    user = _user(request)
    repost = services.repost_create(actor=user, post_id=post_id)
    original = selectors.post_get(post_id)
    wrapper = {
        **status_json(request, original, user),
        "id": f"r{repost.pk}",
        "account": user_json(request, user),
        "reblog": status_json(request, original, user),
        "reblogged": True,
    }
    return JsonResponse(wrapper)


@endpoint()
def status_favourite(request: HttpRequest, post_id: int) -> HttpResponse:
    user = _user(request)
    services.favourite_create(actor=user, post_id=post_id)
    return JsonResponse(status_json(request, selectors.post_get(post_id), user))


@endpoint()
def timeline_home(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    page = selectors.home_feed(user, cursor=_cursor(request), limit=_limit(request))
    return _paged(request, page, user)


@endpoint()
def notifications(request: HttpRequest) -> HttpResponse:
    """The resident's alert notifications from the outbox, as Mastodon "status" notifications."""
    from civichub.notify.models import Notification

    user = _user(request)
    rows = list(
        Notification.objects.filter(recipient=user, dispatch__kind=ALERT).order_by("-id")[
            : _limit(request)
        ]
    )
    posts = {
        push.dispatch_id: push.post
        for push in AlertPush.objects.filter(
            dispatch_id__in=[n.dispatch_id for n in rows]
        ).select_related("post__account")
    }
    body = [
        {
            "id": str(n.pk),
            "type": "status",
            "created_at": _time(n.created_at),
            "account": account_json(request, posts[n.dispatch_id].account),
            "status": status_json(request, posts[n.dispatch_id], user),
        }
        for n in rows
        if n.dispatch_id in posts
    ]
    return JsonResponse(body, safe=False)


@endpoint()
def streaming_user(request: HttpRequest) -> HttpResponseBase:
    """Server-sent events: an `update` for each new post of a followed account, and a `:thump`
    heartbeat well inside the client's 300-second read timeout."""
    user = _user(request)
    newest = selectors.home_feed(user, limit=1).posts
    last_seen = newest[0].pk if newest else 0

    def events() -> Iterator[bytes]:
        nonlocal last_seen
        yield b":)\n\n"
        started = last_beat = time.monotonic()
        while time.monotonic() - started < STREAM_MAX_SECONDS:
            try:
                page = selectors.home_feed(user, limit=20)
            except (DatabaseError, RuntimeError):
                return  # the server is shutting down; the client reconnects
            fresh = [p for p in page.posts if p.pk > last_seen]
            for post in reversed(fresh):
                data = json.dumps(status_json(request, post, user), ensure_ascii=False)
                yield f"event: update\ndata: {data}\n\n".encode()
                last_seen = max(last_seen, post.pk)
            if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                last_beat = time.monotonic()
                yield b":thump\n\n"
            time.sleep(STREAM_POLL_SECONDS)

    response = StreamingHttpResponse(events(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
