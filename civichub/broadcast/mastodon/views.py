"""Mastodon client API over broadcast's services (research notes §5). Broadcast accounts are
Mastodon accounts with ids "a<pk>", residents are "u<pk>"; posts are statuses with their own
ids, a resident's reply is a comment ("c<pk>"), a reblog is a repost ("r<pk>").

Every endpoint names the OAuth scopes it accepts (as Mastodon does): a token without one of
them gets 403 `{"error": "This action is outside the authorized scopes"}`, a missing or bad
token on an endpoint that needs one 401. Errors are Mastodon's `{"error": "..."}`."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.core.cache import cache
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
)
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from civichub.broadcast import selectors, services
from civichub.broadcast.mastodon import oauth, scopes
from civichub.broadcast.mastodon import services as oauth_services
from civichub.broadcast.mastodon.bodies import json_form
from civichub.broadcast.models import (
    POST_MAX_CHARS,
    POST_MAX_IMAGES,
    AlertPush,
    BroadcastAccount,
    Category,
    Comment,
    Favourite,
    Follow,
    Post,
    PostImage,
    PostState,
    Repost,
)
from civichub.broadcast.notifications import ALERT
from civichub.core.errors import (
    DomainError,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from civichub.core.models import User
from civichub.core.permissions import allowed
from civichub.core.services import api_token_authenticate

VERSION = "4.3.0 (compatible; civichub 0.1.0)"
MAX_LIMIT = 40
IDEMPOTENCY_SECONDS = 3600
OUTSIDE_SCOPES = "This action is outside the authorized scopes"
INVALID_TOKEN = "The access token is invalid"  # noqa: S105 (a message, not a secret)
NOT_FOUND = "Record not found"
# A civichub API token (made on the token page, not through OAuth) already acts as its owner
# everywhere in civichub's own API, so the Mastodon API gives it every scope too.
PERSONAL_TOKEN_SCOPES = "read write follow push"  # noqa: S105

# Scopes each kind of call accepts (any one of them), as Mastodon's controllers declare them.
READ_ACCOUNTS = ("read:accounts",)
OWN_ACCOUNT = ("read:accounts", "profile")
READ_STATUSES = ("read:statuses",)
WRITE_STATUSES = ("write:statuses",)
WRITE_FAVOURITES = ("write:favourites",)
WRITE_MEDIA = ("write:media",)
WRITE_FOLLOWS = ("write:follows",)
READ_FOLLOWS = ("read:follows",)
READ_NOTIFICATIONS = ("read:notifications",)


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _domain_error(exc: DomainError) -> JsonResponse:
    if exc.status == 422 and not exc.message.startswith("Validation failed"):
        return _error(f"Validation failed: {exc.message}", 422)
    return _error(exc.message, exc.status)


@dataclass
class Credential:
    user: User | None  # None: an app's own token (client credentials grant)
    scopes: str
    app_name: str = ""
    app_website: str = ""


def _credential(secret: str) -> Credential | None:
    token = oauth_services.token_authenticate(secret)
    if token is not None:
        return Credential(token.user, token.scopes, token.app.name, token.app.website)
    user = api_token_authenticate(secret)
    if user is None:
        return None
    return Credential(user, PERSONAL_TOKEN_SCOPES)


def refusal(
    credential: Credential, needed: tuple[str, ...] | None, *, user_required: bool
) -> JsonResponse | None:
    """What a valid token is refused with, if anything: the one rule for endpoints and streams."""
    if user_required and credential.user is None:
        return _error("This method requires an authenticated user", 422)
    if needed and not scopes.allows(credential.scopes, needed):
        return _error(OUTSIDE_SCOPES, 403)
    return None


def endpoint(
    *,
    auth: bool = True,
    scopes_needed: tuple[str, ...] | None = None,
    methods: tuple[str, ...] | None = None,
) -> Callable[[Callable[..., HttpResponseBase]], Any]:
    """Bearer authentication, the scope check and Mastodon's error format around a view.

    `auth=True`: a user's token is required. `auth=False`: the call is public, but a token that
    is sent must be valid and hold the scope (Mastodon's "authorize if got token")."""

    def decorate(view: Callable[..., HttpResponseBase]) -> Any:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if methods and request.method not in methods:
                response = _error("Method not allowed", 405)
                response["Allow"] = ", ".join(methods)
                return response
            header = request.headers.get("Authorization", "")
            credential = None
            if header.startswith("Bearer "):
                credential = _credential(header[7:].strip())
                if credential is None:
                    return _error(INVALID_TOKEN, 401)
            elif auth:
                return _error(INVALID_TOKEN, 401)
            if credential is not None:
                refused = refusal(credential, scopes_needed, user_required=auth)
                if refused is not None:
                    return refused
            request.mastodon_user = credential.user if credential else None  # type: ignore[attr-defined]
            request.mastodon_credential = credential  # type: ignore[attr-defined]
            try:
                json_form(request)
                return view(request, *args, **kwargs)
            except DomainError as exc:
                return _domain_error(exc)

        return wrapper

    return decorate


def _user(request: HttpRequest) -> User:
    user = getattr(request, "mastodon_user", None)
    if user is None:
        raise NotAuthenticated(INVALID_TOKEN)
    return user


def _viewer(request: HttpRequest) -> User | None:
    return getattr(request, "mastodon_user", None)


def _base(request: HttpRequest) -> str:
    """The API base: Mastodon clients expect /api/v1/… and /oauth/… at the site's root."""
    return request.build_absolute_uri("/").rstrip("/")


def _time(value: Any) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def account_json(request: HttpRequest, account: BroadcastAccount) -> dict[str, Any]:
    avatar_path = selectors.avatar_url(account)
    avatar = request.build_absolute_uri(avatar_path) if avatar_path else ""
    return {
        "id": f"a{account.pk}",
        "username": account.handle,
        "acct": account.handle,
        "display_name": account.name,
        "url": request.build_absolute_uri(f"/broadcast/@{account.handle}/"),
        "created_at": _time(account.created_at),
        "note": account.description,
        "avatar": avatar,
        "avatar_static": avatar,
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


def user_json(request: HttpRequest, user: User, *, viewer: User | None) -> dict[str, Any]:
    """A resident as a Mastodon account. Residents are private people: anyone but the resident
    sees only a pseudonym (`u<pk>`), never their user name, join time or follows."""
    own = viewer is not None and viewer.pk == user.pk
    name = user.username if own else f"u{user.pk}"
    joined = user.date_joined if own else user.date_joined.replace(hour=0, minute=0, second=0)
    return {
        "id": f"u{user.pk}",
        "username": name,
        "acct": name,
        "display_name": name,
        "url": "",
        "created_at": _time(joined.replace(microsecond=0)),
        "note": "",
        "avatar": "",
        "avatar_static": "",
        "header": "",
        "header_static": "",
        "followers_count": 0,
        "following_count": Follow.objects.filter(user=user).count() if own else 0,
        "statuses_count": 0,
        "locked": False,
        "bot": False,
        "fields": [],
        "emojis": [],
    }


@dataclass
class Marks:
    """Which of a page's posts the viewer has favourited and reblogged (two queries a page)."""

    favourited: set[int]
    reblogged: set[int]


def marks_for(user: User | None, post_ids: list[int]) -> Marks:
    if user is None or not post_ids:
        return Marks(set(), set())
    return Marks(
        set(
            Favourite.objects.filter(user=user, post_id__in=post_ids).values_list(
                "post_id", flat=True
            )
        ),
        set(
            Repost.objects.filter(user=user, post_id__in=post_ids).values_list("post_id", flat=True)
        ),
    )


def status_json(
    request: HttpRequest, post: Post, user: User | None, *, marks: Marks | None = None
) -> dict[str, Any]:
    if marks is None:
        marks = marks_for(user, [post.pk])
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
        "media_attachments": selectors.media_attachments(post, request.build_absolute_uri),
        "tags": [
            {
                "name": post.category,
                "url": request.build_absolute_uri(f"/broadcast/category/{post.category}/feed.atom"),
            }
        ],
        "emojis": [],
        "reblogs_count": post.reposts_count,
        "favourites_count": post.favourites_count,
        "replies_count": post.comments_count,
        "favourited": post.pk in marks.favourited,
        "reblogged": post.pk in marks.reblogged,
        "language": "zh",
    }


def comment_json(request: HttpRequest, comment: Comment, user: User | None) -> dict[str, Any]:
    """A comment as a reply status: text only (no images, tags or counts of its own)."""
    post_id = comment.post_id
    url = request.build_absolute_uri(f"/broadcast/posts/{post_id}/#c{comment.pk}")
    return {
        "id": f"c{comment.pk}",
        "uri": url,
        "url": url,
        "created_at": _time(comment.created_at),
        "edited_at": None,
        "account": user_json(request, comment.author, viewer=user),
        "content": f"<p>{_escape(comment.text)}</p>",
        "visibility": "public",
        "sensitive": False,
        "spoiler_text": "",
        "in_reply_to_id": f"c{comment.parent_id}" if comment.parent_id else str(post_id),
        "in_reply_to_account_id": (
            f"u{comment.parent.author_id}"
            if comment.parent_id and comment.parent
            else f"a{comment.post.account_id}"
        ),
        "reblog": None,
        "mentions": [],
        "media_attachments": [],
        "tags": [],
        "emojis": [],
        "reblogs_count": 0,
        "favourites_count": 0,
        "replies_count": 0,
        "favourited": False,
        "reblogged": False,
        "language": "zh",
    }


def _escape(text: str) -> str:
    from django.utils.html import escape

    return str(escape(text))


def _broadcast_account(account_id: str) -> BroadcastAccount:
    account = None
    if account_id.startswith("a") and account_id[1:].isdigit():
        account = BroadcastAccount.objects.filter(pk=int(account_id[1:])).first()
    if account is None:
        raise NotFound(NOT_FOUND)
    return account


def _resident(account_id: str) -> User | None:
    if account_id.startswith("u") and account_id[1:].isdigit():
        return User.objects.filter(pk=int(account_id[1:]), is_active=True).first()
    return None


def _limit(request: HttpRequest) -> int:
    raw = request.GET.get("limit", "20")
    return max(1, min(MAX_LIMIT, int(raw))) if raw.isdigit() else 20


def _flag(request: HttpRequest, name: str) -> bool:
    return request.GET.get(name, "").lower() in {"1", "true", "on", "yes"}


def _linked(
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


def _statuses(request: HttpRequest, posts: list[Post], *, more: bool) -> JsonResponse:
    user = _viewer(request)
    selectors.exact_counts(posts)
    marks = marks_for(user, [p.pk for p in posts])
    return _linked(
        request,
        [status_json(request, p, user, marks=marks) for p in posts],
        next_max=str(posts[-1].pk) if posts and more else None,
        prev_min=str(posts[0].pk) if posts else None,
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


def _anchor(request: HttpRequest, name: str) -> Anchor | None:
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
    post = Post.objects.filter(pk=number).first()
    if post is None:
        raise NotFound(NOT_FOUND)
    return Anchor(post.published_at, post.pk)


def _older(anchor: Anchor) -> Q:
    return Q(published_at__lt=anchor.at) | Q(published_at=anchor.at, pk__lt=anchor.pk)


def _newer(anchor: Anchor) -> Q:
    return Q(published_at__gt=anchor.at) | Q(published_at=anchor.at, pk__gt=anchor.pk)


def _timeline(request: HttpRequest, posts: QuerySet[Post]) -> JsonResponse:
    """One page of a timeline, newest first: `max_id` pages back, `since_id` gives the newest
    posts after a post, `min_id` the posts just after it (Mastodon's three paging parameters)."""
    limit = _limit(request)
    posts = posts.select_related("account").prefetch_related("images")
    older_than = _anchor(request, "max_id")
    if older_than is not None:
        posts = posts.filter(_older(older_than))
    min_post = _anchor(request, "min_id")
    if min_post is not None:
        rows = list(posts.filter(_newer(min_post)).order_by("published_at", "id")[:limit])
        rows.reverse()
        return _statuses(request, rows, more=bool(rows))
    since = _anchor(request, "since_id")
    if since is not None:
        posts = posts.filter(_newer(since))
    rows = list(posts.order_by("-published_at", "-id")[: limit + 1])
    return _statuses(request, rows[:limit], more=len(rows) > limit)


# Discovery and sign-in ------------------------------------------------------------------


@endpoint(auth=False)
def instance_v1(request: HttpRequest) -> HttpResponse:
    return JsonResponse(
        {
            "uri": request.get_host(),
            "title": "civichub",
            "short_description": "",
            "description": "",
            "email": "",
            "version": VERSION,
            "urls": {"streaming_api": _base(request)},
            "languages": ["zh", "en"],
            "registrations": False,
            "approval_required": False,
            "thumbnail": None,
            "contact_account": None,
            "rules": [],
            "configuration": {
                "statuses": {
                    "max_characters": POST_MAX_CHARS,
                    "max_media_attachments": POST_MAX_IMAGES,
                }
            },
        }
    )


@endpoint(auth=False)
def instance_v2(request: HttpRequest) -> HttpResponse:
    return JsonResponse(
        {
            "domain": request.get_host(),
            "title": "civichub",
            "version": VERSION,
            "source_url": "",
            "description": "",
            "languages": ["zh", "en"],
            "api_versions": {"mastodon": 2},
            "registrations": {"enabled": False, "approval_required": False, "message": None},
            "thumbnail": {"url": ""},
            "contact": {"email": "", "account": None},
            "rules": [],
            "configuration": {
                "urls": {"streaming": _base(request)},
                "statuses": {
                    "max_characters": POST_MAX_CHARS,
                    "max_media_attachments": POST_MAX_IMAGES,
                },
                "timelines_access": {
                    "live_feeds": {"local": "public", "remote": "public"},
                    "hashtag_feeds": {"local": "public", "remote": "public"},
                    "trending_link_feeds": {"local": "public", "remote": "public"},
                },
            },
        }
    )


def oauth_server_metadata(request: HttpRequest) -> HttpResponse:
    return JsonResponse(oauth.server_metadata(request))


@endpoint(auth=False, methods=("POST",))
def app_register(request: HttpRequest) -> HttpResponse:
    app, secret = oauth_services.client_app_register(
        name=request.POST.get("client_name", ""),
        website=request.POST.get("website", ""),
        redirect_uris=request.POST.get("redirect_uris")
        or "\n".join(request.POST.getlist("redirect_uris[]"))
        or oauth_services.OOB,
        scopes_text=request.POST.get("scopes") or " ".join(request.POST.getlist("scopes[]")),
    )
    return JsonResponse(
        {
            "id": str(app.pk),
            "name": app.name,
            "website": app.website or None,
            "redirect_uri": "\n".join(app.redirect_uris.split()),
            "redirect_uris": app.redirect_uris.split(),
            "scopes": app.scopes.split(),
            "client_id": app.client_id,
            "client_secret": secret,
            "vapid_key": "",
        }
    )


@endpoint(auth=False)
def app_verify_credentials(request: HttpRequest) -> HttpResponse:
    credential: Credential | None = request.mastodon_credential  # type: ignore[attr-defined]
    if credential is None:
        return _error(INVALID_TOKEN, 401)
    return JsonResponse(
        {
            "name": credential.app_name or "civichub",
            "website": credential.app_website or None,
            "scopes": credential.scopes.split(),
        }
    )


# Accounts ---------------------------------------------------------------------------------


@endpoint(scopes_needed=OWN_ACCOUNT)
def verify_credentials(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    # Mastodon's CredentialAccount: the account plus the defaults its owner posts with.
    source = {
        "privacy": "public",
        "sensitive": False,
        "language": "zh",
        "note": "",
        "fields": [],
        "follow_requests_count": 0,
    }
    return JsonResponse({**user_json(request, user, viewer=user), "source": source})


@endpoint(auth=False, scopes_needed=READ_ACCOUNTS)
def account(request: HttpRequest, account_id: str) -> HttpResponse:
    resident = _resident(account_id)
    if resident is not None:
        return JsonResponse(user_json(request, resident, viewer=_viewer(request)))
    return JsonResponse(account_json(request, _broadcast_account(account_id)))


@endpoint(auth=False, scopes_needed=READ_STATUSES)
def account_statuses(request: HttpRequest, account_id: str) -> HttpResponse:
    if _resident(account_id) is not None:
        return _linked(request, [], next_max=None, prev_min=None)  # residents publish nothing
    account = _broadcast_account(account_id)
    if _flag(request, "pinned"):
        return _linked(request, [], next_max=None, prev_min=None)  # nothing is pinned
    posts = selectors.visible_posts().filter(account=account)
    if _flag(request, "only_media"):
        posts = posts.filter(Exists(PostImage.objects.filter(post=OuterRef("pk"))))
    return _timeline(request, posts)


def _relationship(account: BroadcastAccount, following: bool) -> dict[str, Any]:
    return {
        "id": f"a{account.pk}",
        "following": following,
        "followed_by": False,
        "requested": False,
        "showing_reblogs": True,
        "notifying": False,
        "blocking": False,
        "muting": False,
        "muting_notifications": False,
        "endorsed": False,
        "domain_blocking": False,
        "note": "",
    }


@endpoint(scopes_needed=WRITE_FOLLOWS, methods=("POST",))
def account_follow(request: HttpRequest, account_id: str) -> HttpResponse:
    account = _broadcast_account(account_id)
    services.follow_create(actor=_user(request), account_id=account.pk)
    return JsonResponse(_relationship(account, True))


@endpoint(scopes_needed=WRITE_FOLLOWS, methods=("POST",))
def account_unfollow(request: HttpRequest, account_id: str) -> HttpResponse:
    account = _broadcast_account(account_id)
    services.follow_delete(actor=_user(request), account_id=account.pk)
    return JsonResponse(_relationship(account, False))


@endpoint(scopes_needed=READ_FOLLOWS)
def account_relationships(request: HttpRequest) -> HttpResponse:
    ids = request.GET.getlist("id[]") or request.GET.getlist("id")
    pks = [int(i[1:]) for i in ids if i.startswith("a") and i[1:].isdigit()]
    accounts = BroadcastAccount.objects.in_bulk(pks)
    followed = set(
        Follow.objects.filter(user=_user(request), account_id__in=pks).values_list(
            "account_id", flat=True
        )
    )
    return JsonResponse(
        [_relationship(accounts[pk], pk in followed) for pk in pks if pk in accounts], safe=False
    )


@endpoint(auth=False, scopes_needed=READ_ACCOUNTS)
def account_lookup(request: HttpRequest) -> HttpResponse:
    """A broadcast account by its handle (`acct`, with or without `@` and this site's host)."""
    handle = request.GET.get("acct", "").lstrip("@").split("@")[0]
    account = BroadcastAccount.objects.filter(handle=handle).first() if handle else None
    if account is None:
        raise NotFound(NOT_FOUND)
    return JsonResponse(account_json(request, account))


def _id_page(request: HttpRequest, rows: QuerySet[Any]) -> tuple[list[Any], bool]:
    """A page of rows by their own ids (follows, favourites): Mastodon pages these lists by
    the id of the follow or favourite, not of the account or status shown."""
    limit = _limit(request)
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


@endpoint(auth=False, scopes_needed=READ_ACCOUNTS)
def account_following(request: HttpRequest, account_id: str) -> HttpResponse:
    """The accounts a resident follows, shown to that resident only; broadcast accounts follow
    no one."""
    resident = _resident(account_id)
    if resident is None:
        _broadcast_account(account_id)  # a 404 for an account that does not exist
        return _linked(request, [], next_max=None, prev_min=None)
    viewer = _viewer(request)
    if viewer is None or viewer.pk != resident.pk:
        return _linked(request, [], next_max=None, prev_min=None)
    follows, more = _id_page(
        request, Follow.objects.filter(user=resident).select_related("account")
    )
    return _linked(
        request,
        [account_json(request, f.account) for f in follows],
        next_max=str(follows[-1].pk) if follows and more else None,
        prev_min=str(follows[0].pk) if follows else None,
    )


@endpoint(auth=False, scopes_needed=READ_ACCOUNTS)
def account_followers(request: HttpRequest, account_id: str) -> HttpResponse:
    """Followers are residents, whose follows are their own business: the count is on the
    account, the list is empty."""
    if _resident(account_id) is None:
        _broadcast_account(account_id)
    return _linked(request, [], next_max=None, prev_min=None)


@endpoint(scopes_needed=("read:favourites",))
def favourites(request: HttpRequest) -> HttpResponse:
    """The statuses the resident favourited, most recently favourited first."""
    user = _user(request)
    rows, more = _id_page(
        request,
        Favourite.objects.filter(
            user=user,
            post__state=PostState.PUBLISHED,
            post__published_at__lte=timezone.now(),
        ).select_related("post__account"),
    )
    posts = [f.post for f in rows]
    selectors.exact_counts(posts)
    marks = marks_for(user, [p.pk for p in posts])
    return _linked(
        request,
        [status_json(request, p, user, marks=marks) for p in posts],
        next_max=str(rows[-1].pk) if rows and more else None,
        prev_min=str(rows[0].pk) if rows else None,
    )


@endpoint(scopes_needed=READ_ACCOUNTS)
def preferences(request: HttpRequest) -> HttpResponse:
    return JsonResponse(
        {
            "posting:default:visibility": "public",
            "posting:default:sensitive": False,
            "posting:default:language": "zh",
            "reading:expand:media": "default",
            "reading:expand:spoilers": False,
        }
    )


@endpoint(auth=False)
def nothing_here(request: HttpRequest) -> HttpResponse:
    """Mastodon features civichub does not have (custom emojis, filters, lists, announcements,
    bookmarks): an empty list, so that clients asking at start-up carry on."""
    return _linked(request, [], next_max=None, prev_min=None)


# Statuses ---------------------------------------------------------------------------------


def _status_ref(status_id: str) -> tuple[str, int]:
    """A status id names a post ("12"), a comment ("c12") or a reblog ("r12")."""
    if status_id.isdigit():
        return "post", int(status_id)
    if status_id[:1] in {"c", "r"} and status_id[1:].isdigit():
        return {"c": "comment", "r": "reblog"}[status_id[0]], int(status_id[1:])
    raise NotFound(NOT_FOUND)


def _post(status_id: str) -> Post:
    kind, pk = _status_ref(status_id)
    if kind == "reblog":
        repost = Repost.objects.filter(pk=pk).first()
        if repost is None:
            raise NotFound(NOT_FOUND)
        pk, kind = repost.post_id, "post"
    if kind != "post":
        raise NotFound(NOT_FOUND)
    post = selectors.post_get(pk)
    if post.state != PostState.PUBLISHED:
        raise NotFound(NOT_FOUND)
    return post


def _comment(pk: int) -> Comment:
    comment = (
        Comment.objects.select_related("post__account", "author", "parent")
        .filter(pk=pk, hidden=False, post__state=PostState.PUBLISHED)
        .first()
    )
    if comment is None:
        raise NotFound(NOT_FOUND)
    return comment


@endpoint(scopes_needed=WRITE_STATUSES, methods=("POST",))
def status_post(request: HttpRequest) -> HttpResponse:
    """A publisher's status is a post of the first account they may publish for; a status in
    reply to a post (or to a comment on it) is a comment.

    With an `Idempotency-Key` header, a retry of the same request within the hour (a client
    that lost the answer) gets the status made the first time instead of a second one. The
    keys live in the cache: shared by every process with Redis, per process otherwise."""
    user = _user(request)
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return _status_create(request, user)
    slot = "mastodon:idempotency:" + hashlib.sha256(f"{user.pk}:{key}".encode()).hexdigest()
    if not cache.add(slot, "", IDEMPOTENCY_SECONDS):
        made = cache.get(slot)
        if not made:
            return _error("A request with this Idempotency-Key is being processed", 409)
        kind, pk = _status_ref(made)
        if kind == "comment":
            return JsonResponse(comment_json(request, _comment(pk), user))
        return JsonResponse(status_json(request, _post(made), user))
    try:
        response = _status_create(request, user)
    except BaseException:
        cache.delete(slot)
        raise
    cache.set(slot, json.loads(response.content)["id"], IDEMPOTENCY_SECONDS)
    return response


def _status_create(request: HttpRequest, user: User) -> JsonResponse:
    text = request.POST.get("status", "")
    if request.POST.get("visibility", "public") in {"private", "direct"}:
        raise ValidationFailed(
            "Validation failed: only public statuses are supported",
            errors={"visibility": ["public or unlisted"]},
        )
    reply_to = request.POST.get("in_reply_to_id", "")
    if reply_to:
        kind, pk = _status_ref(reply_to)
        if kind == "comment":
            parent = _comment(pk)
            comment = services.comment_create(
                actor=user, post_id=parent.post_id, text=text, parent_id=parent.pk
            )
        else:
            comment = services.comment_create(actor=user, post_id=_post(reply_to).pk, text=text)
        return JsonResponse(comment_json(request, comment, user))
    media_ids = request.POST.getlist("media_ids[]") or request.POST.getlist("media_ids")
    if any(not m.isdigit() for m in media_ids):
        raise ValidationFailed(
            "Validation failed: media_ids are not valid", errors={"media_ids": ["not ids"]}
        )
    post = services.post_publish(
        actor=user,
        account=_publishing_account(user),
        text=text,
        category=request.POST.get("category", "news"),
        media_ids=[int(m) for m in media_ids],
    )
    return JsonResponse(status_json(request, post, user))


def _publishing_account(user: User) -> BroadcastAccount:
    """The account a publisher's statuses and media go to: the first they may publish for."""
    account = next(
        (
            a
            for a in BroadcastAccount.objects.select_related("organisation").order_by("pk")
            if allowed(user, "broadcast.post.publish", a)
        ),
        None,
    )
    if account is None:
        raise PermissionDenied("Only publishers of a broadcast account may post statuses")
    return account


@endpoint(scopes_needed=WRITE_MEDIA, methods=("POST",))
def media_upload(request: HttpRequest) -> HttpResponse:
    """POST /api/v1/media and /api/v2/media: an image for a coming status, checked and
    re-encoded at once (so the answer is 200 with its URL, never 202)."""
    user = _user(request)
    upload = request.FILES.get("file")
    if upload is None:
        raise ValidationFailed("Validation failed: file can't be blank", errors={"file": ["blank"]})
    image = services.media_upload(
        actor=user,
        account=_publishing_account(user),
        image=services.ImageIn(
            name=upload.name or "upload",
            data=upload.read(),
            alt_text=request.POST.get("description", ""),
        ),
    )
    url = request.build_absolute_uri(selectors.image_url(image))
    size = {"width": image.width, "height": image.height, "size": f"{image.width}x{image.height}"}
    return JsonResponse(
        {
            "id": str(image.pk),
            "type": "image",
            "url": url,
            "preview_url": url,
            "remote_url": None,
            "text_url": None,
            "meta": {"original": size, "small": size},
            "description": image.alt_text,
            "blurhash": None,
        }
    )


@endpoint(auth=False, scopes_needed=READ_STATUSES)
def status_get(request: HttpRequest, status_id: str) -> HttpResponse:
    kind, pk = _status_ref(status_id)
    if kind == "comment":
        return JsonResponse(comment_json(request, _comment(pk), _viewer(request)))
    return JsonResponse(status_json(request, _post(status_id), _viewer(request)))


@endpoint(scopes_needed=WRITE_STATUSES, methods=("DELETE",))
def status_delete(request: HttpRequest, status_id: str) -> HttpResponse:
    """A publisher retracts a post (it stays in the record, out of every timeline)."""
    post = _post(status_id)
    body = status_json(request, post, _user(request))
    services.post_retract(actor=_user(request), post_id=post.pk)
    return JsonResponse({**body, "text": post.text})


@endpoint(scopes_needed=WRITE_STATUSES, methods=("PUT",))
def status_edit(request: HttpRequest, status_id: str) -> HttpResponse:
    """A publisher edits a post's text; the earlier text stays in its history."""
    post = services.post_edit(
        actor=_user(request), post_id=_post(status_id).pk, text=request.POST.get("status", "")
    )
    return JsonResponse(status_json(request, selectors.post_get(post.pk), _user(request)))


@csrf_exempt
def status_detail(request: HttpRequest, status_id: str) -> HttpResponseBase:
    views = {"DELETE": status_delete, "PUT": status_edit}
    response: HttpResponseBase = views.get(request.method or "", status_get)(request, status_id)
    return response


@endpoint(auth=False, scopes_needed=READ_STATUSES)
def status_history(request: HttpRequest, status_id: str) -> HttpResponse:
    """Every version of a post, oldest first, the current one last (Mastodon's StatusEdit)."""
    post = _post(status_id)
    revisions = list(post.revisions.order_by("replaced_at", "id"))
    account = account_json(request, post.account)
    media = selectors.media_attachments(post, request.build_absolute_uri)
    versions = [
        (revision.text, revisions[i - 1].replaced_at if i else post.published_at)
        for i, revision in enumerate(revisions)
    ]
    versions.append((post.text, post.edited_at or post.published_at))
    return JsonResponse(
        [
            {
                "content": f"<p>{_escape(text)}</p>",
                "spoiler_text": "",
                "sensitive": False,
                "created_at": _time(at),
                "account": account,
                "media_attachments": media,
                "emojis": [],
            }
            for text, at in versions
        ],
        safe=False,
    )


@endpoint(scopes_needed=READ_STATUSES)
def status_source(request: HttpRequest, status_id: str) -> HttpResponse:
    post = _post(status_id)
    return JsonResponse({"id": str(post.pk), "text": post.text, "spoiler_text": ""})


@endpoint(auth=False, scopes_needed=READ_STATUSES)
def status_context(request: HttpRequest, status_id: str) -> HttpResponse:
    """The thread around a status: a post's visible comments in thread order; for a comment,
    the post and the comments it answers, and the replies below it."""
    user = _viewer(request)
    kind, pk = _status_ref(status_id)
    if kind == "comment":
        comment = _comment(pk)
        post = _post(str(comment.post_id))
    else:
        comment, post = None, _post(status_id)
    thread = selectors.thread(post)
    by_id = {c.pk: c for c in thread}
    for reply in thread:  # the thread's post and parents are already here: no query per reply
        reply.post = post
        if reply.parent_id in by_id:
            reply.parent = by_id[reply.parent_id]
    if comment is None:
        return JsonResponse(
            {"ancestors": [], "descendants": [comment_json(request, c, user) for c in thread]}
        )
    ancestors: list[dict[str, Any]] = []
    parent_id = comment.parent_id
    while parent_id is not None and parent_id in by_id:
        ancestors.insert(0, comment_json(request, by_id[parent_id], user))
        parent_id = by_id[parent_id].parent_id
    descendants: list[dict[str, Any]] = []
    position = next((i for i, c in enumerate(thread) if c.pk == comment.pk), len(thread))
    if position < len(thread):
        depth = thread[position].depth  # type: ignore[attr-defined]
        for reply in thread[position + 1 :]:
            if reply.depth <= depth:  # type: ignore[attr-defined]
                break
            descendants.append(comment_json(request, reply, user))
    return JsonResponse(
        {"ancestors": [status_json(request, post, user), *ancestors], "descendants": descendants}
    )


def _reblog_json(
    request: HttpRequest, repost: Repost, original: Post, user: User
) -> dict[str, Any]:
    inner = status_json(request, original, user)
    return {
        **inner,
        "id": f"r{repost.pk}",
        "account": user_json(request, user, viewer=user),
        "reblog": inner,
        "reblogged": True,
    }


@endpoint(scopes_needed=WRITE_STATUSES, methods=("POST",))
def status_reblog(request: HttpRequest, status_id: str) -> HttpResponse:
    user = _user(request)
    post = _post(status_id)
    repost = services.repost_create(actor=user, post_id=post.pk)
    return JsonResponse(_reblog_json(request, repost, selectors.post_get(post.pk), user))


@endpoint(scopes_needed=WRITE_STATUSES, methods=("POST",))
def status_unreblog(request: HttpRequest, status_id: str) -> HttpResponse:
    user = _user(request)
    post = _post(status_id)
    services.repost_delete(actor=user, post_id=post.pk)
    return JsonResponse(status_json(request, selectors.post_get(post.pk), user))


@endpoint(scopes_needed=WRITE_FAVOURITES, methods=("POST",))
def status_favourite(request: HttpRequest, status_id: str) -> HttpResponse:
    user = _user(request)
    post = _post(status_id)
    services.favourite_create(actor=user, post_id=post.pk)
    return JsonResponse(status_json(request, selectors.post_get(post.pk), user))


@endpoint(scopes_needed=WRITE_FAVOURITES, methods=("POST",))
def status_unfavourite(request: HttpRequest, status_id: str) -> HttpResponse:
    user = _user(request)
    post = _post(status_id)
    services.favourite_delete(actor=user, post_id=post.pk)
    return JsonResponse(status_json(request, selectors.post_get(post.pk), user))


# Timelines --------------------------------------------------------------------------------


@endpoint(scopes_needed=READ_STATUSES)
def timeline_home(request: HttpRequest) -> HttpResponse:
    """The followed accounts' posts, merged at read time one page at a time (selectors.home_feed).
    `since_id` and `min_id` both give the newest posts after the one named: the merge reads
    from the newest end only."""
    user = _user(request)
    older_than = _anchor(request, "max_id")
    cursor = (
        selectors.cursor_for(Post(pk=older_than.pk, published_at=older_than.at))
        if older_than
        else None
    )
    page = selectors.home_feed(user, cursor=cursor, limit=_limit(request))
    newer_than = _anchor(request, "since_id") or _anchor(request, "min_id")
    if newer_than is None:
        return _statuses(request, page.posts, more=page.next_cursor is not None)
    after = (newer_than.at, newer_than.pk)
    posts = [p for p in page.posts if (p.published_at, p.pk) > after]
    return _statuses(request, posts, more=len(posts) == len(page.posts) and bool(page.next_cursor))


@endpoint(auth=False, scopes_needed=READ_STATUSES)
def timeline_public(request: HttpRequest) -> HttpResponse:
    """Every published post, newest first. All of civichub's accounts are local: `remote=true`
    gives an empty page, `local` changes nothing, `only_media` keeps posts with images."""
    if _flag(request, "remote"):
        return _linked(request, [], next_max=None, prev_min=None)
    posts = selectors.visible_posts()
    if _flag(request, "only_media"):
        posts = posts.filter(Exists(PostImage.objects.filter(post=OuterRef("pk"))))
    return _timeline(request, posts)


def _category(tag: str) -> str | None:
    """A hashtag names a category by its value (#road_closure) or its label (#道路封闭)."""
    tag = tag.lstrip("#").lower()
    for value, label in Category.choices:
        if tag in {value, str(label).lower()}:
            return value
    return None


@endpoint(auth=False, scopes_needed=READ_STATUSES)
def timeline_tag(request: HttpRequest, hashtag: str) -> HttpResponse:
    """Categories are the hashtags: #traffic, #weather, … (or their Chinese names)."""
    category = _category(hashtag)
    if category is None or _flag(request, "remote"):
        return _linked(request, [], next_max=None, prev_min=None)
    return _timeline(request, selectors.visible_posts().filter(category=category))


@endpoint(auth=False, scopes_needed=("read:search",))
def search(request: HttpRequest) -> HttpResponse:
    """Broadcast accounts by handle or name, and categories as hashtags; statuses are not
    searched."""
    q = request.GET.get("q", "").strip().lstrip("@").split("@")[0]
    kind = request.GET.get("type", "")
    accounts: list[dict[str, Any]] = []
    hashtags: list[dict[str, Any]] = []
    if q and kind in {"", "accounts"}:
        found = BroadcastAccount.objects.filter(
            Q(handle__icontains=q) | Q(name__icontains=q) | Q(name_en__icontains=q)
        ).order_by("-followers_count", "pk")[: _limit(request)]
        accounts = [account_json(request, a) for a in found]
    if q and kind in {"", "hashtags"}:
        hashtags = [
            {
                "name": value,
                "url": request.build_absolute_uri(f"/broadcast/category/{value}/feed.atom"),
                "history": [],
            }
            for value, label in Category.choices
            if q.lstrip("#").lower() in value or q.lstrip("#") in str(label)
        ]
    return JsonResponse({"accounts": accounts, "statuses": [], "hashtags": hashtags})


# Notifications ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """A notification's place in the list, newest first by (time, kind, id): alerts (kind 0)
    and mentions (kind 1) come from different tables, so their ids alone cannot order them."""

    at: dt.datetime
    kind: int
    pk: int


ALERT_KIND, MENTION_KIND = 0, 1


def _place(user: User, raw: str) -> Place | None:
    from civichub.notify.models import Notification

    if raw.isdigit() and len(raw) <= 18:
        alert = Notification.objects.filter(pk=int(raw), recipient=user).first()
        return Place(alert.created_at, ALERT_KIND, alert.pk) if alert else None
    if raw[:1] == "m" and raw[1:].isdigit() and len(raw) <= 19:
        comment = Comment.objects.filter(pk=int(raw[1:])).first()
        return Place(comment.created_at, MENTION_KIND, comment.pk) if comment else None
    return None


def _after(place: Place, kind: int) -> Q:
    """Rows of `kind` that come after `place` in the list (older)."""
    q = Q(created_at__lt=place.at)
    if kind < place.kind:
        q |= Q(created_at=place.at)
    elif kind == place.kind:
        q |= Q(created_at=place.at, pk__lt=place.pk)
    return q


def _before(place: Place, kind: int) -> Q:
    """Rows of `kind` that come before `place` in the list (newer)."""
    q = Q(created_at__gt=place.at)
    if kind > place.kind:
        q |= Q(created_at=place.at)
    elif kind == place.kind:
        q |= Q(created_at=place.at, pk__gt=place.pk)
    return q


def _published_accounts(user: User) -> list[int]:
    """The broadcast accounts the user publishes for (none for a resident)."""
    if not user.role_assignments.exists() and not user.is_superuser:
        return []
    accounts = BroadcastAccount.objects.select_related("organisation").order_by("pk")
    return [a.pk for a in accounts if allowed(user, "broadcast.post.publish", a)]


def _notification_rows(
    request: HttpRequest, user: User, *, only: str | None = None
) -> list[dict[str, Any]]:
    """A resident's alert notifications from the outbox, as Mastodon "status" notifications
    (the type Mastodon gives a post by an account one asked to be notified about); for a
    publisher also the replies to their accounts' posts, as "mention" notifications (ids
    "m<comment id>"). Newest first, paged by max_id, since_id and min_id."""
    from civichub.notify.models import Notification

    types = set(request.GET.getlist("types[]") or request.GET.getlist("types"))
    excluded = set(request.GET.getlist("exclude_types[]") or request.GET.getlist("exclude_types"))
    wanted = {t for t in ("status", "mention") if (not types or t in types) and t not in excluded}
    account_id = request.GET.get("account_id", "")
    sources: list[tuple[int, QuerySet[Any]]] = []
    if "status" in wanted and not account_id.startswith("u"):
        alerts = Notification.objects.filter(recipient=user, dispatch__kind=ALERT)
        if account_id:
            alerts = alerts.filter(
                dispatch_id__in=AlertPush.objects.filter(
                    post__account_id=int(account_id[1:]) if account_id[1:].isdigit() else 0
                ).values("dispatch_id")
            )
        sources.append((ALERT_KIND, alerts))
    accounts = _published_accounts(user) if "mention" in wanted else []
    if accounts and not account_id.startswith("a"):
        mentions = (
            Comment.objects.filter(
                post__account_id__in=accounts, hidden=False, post__state=PostState.PUBLISHED
            )
            .exclude(author=user)
            .select_related("post__account", "author", "parent")
        )
        if account_id:
            mentions = mentions.filter(
                author_id=int(account_id[1:]) if account_id[1:].isdigit() else 0
            )
        sources.append((MENTION_KIND, mentions))
    if only is not None:
        place = _place(user, only)
        if place is None:
            return []
        sources = [(kind, rows.filter(pk=place.pk)) for kind, rows in sources if kind == place.kind]
    limit = _limit(request)
    anchors = {name: request.GET.get(name, "") for name in ("max_id", "since_id", "min_id")}
    places = {name: _place(user, raw) for name, raw in anchors.items() if raw}
    if any(place is None for place in places.values()):
        return []  # an id that names no notification of this person
    oldest_first = "min_id" in places
    found: list[tuple[Place, Any]] = []
    for kind, rows in sources:
        if (max_place := places.get("max_id")) is not None:
            rows = rows.filter(_after(max_place, kind))
        for name in ("since_id", "min_id"):
            if (newer_place := places.get(name)) is not None:
                rows = rows.filter(_before(newer_place, kind))
        order = ("created_at", "pk") if oldest_first else ("-created_at", "-pk")
        found += [(Place(r.created_at, kind, r.pk), r) for r in rows.order_by(*order)[:limit]]
    found.sort(key=lambda item: (item[0].at, item[0].kind, item[0].pk), reverse=not oldest_first)
    page = found[:limit]
    if oldest_first:
        page.reverse()
    pushes = {
        push.dispatch_id: push.post
        for push in AlertPush.objects.filter(
            dispatch_id__in=[r.dispatch_id for place, r in page if place.kind == ALERT_KIND]
        ).select_related("post__account")
    }
    selectors.exact_counts(pushes.values())
    marks = marks_for(user, [p.pk for p in pushes.values()])
    body = []
    for place, row in page:
        if place.kind == MENTION_KIND:
            body.append(
                {
                    "id": f"m{row.pk}",
                    "type": "mention",
                    "created_at": _time(row.created_at),
                    "account": user_json(request, row.author, viewer=user),
                    "status": comment_json(request, row, user),
                }
            )
        elif row.dispatch_id in pushes:
            post = pushes[row.dispatch_id]
            body.append(
                {
                    "id": str(row.pk),
                    "type": "status",
                    "created_at": _time(row.created_at),
                    "account": account_json(request, post.account),
                    "status": status_json(request, post, user, marks=marks),
                }
            )
    return body


@endpoint(scopes_needed=READ_NOTIFICATIONS)
def notifications(request: HttpRequest) -> HttpResponse:
    body = _notification_rows(request, _user(request))
    return _linked(
        request,
        body,
        next_max=body[-1]["id"] if len(body) >= _limit(request) else None,
        prev_min=body[0]["id"] if body else None,
    )


@endpoint(scopes_needed=READ_NOTIFICATIONS)
def notification(request: HttpRequest, notification_id: str) -> HttpResponse:
    rows = _notification_rows(request, _user(request), only=notification_id)
    if not rows:
        raise NotFound(NOT_FOUND)
    return JsonResponse(rows[0])


def error_for_status(request: HttpRequest, status: int, message: str) -> HttpResponse:
    """Errors Django raises around a Mastodon view (a crash, a bad Host header) in Mastodon's
    format; the module manifest registers it for the API's prefixes."""
    return _error(NOT_FOUND if status == 404 else message, status)


@csrf_exempt
def api_not_found(request: HttpRequest) -> HttpResponse:
    """Any other path under /api/v1/ or /api/v2/: Mastodon's 404, not civichub's own API's."""
    return _error(NOT_FOUND, 404)
