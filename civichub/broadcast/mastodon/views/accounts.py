"""Mastodon's accounts: broadcast accounts ("a<pk>") and residents ("u<pk>"), follows,
relationships and the resident's favourites."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse

from civichub.broadcast import selectors, services
from civichub.broadcast.mastodon.endpoint import (
    OWN_ACCOUNT,
    READ_ACCOUNTS,
    READ_FOLLOWS,
    READ_STATUSES,
    WRITE_FOLLOWS,
    endpoint,
)
from civichub.broadcast.mastodon.paging import empty, flag, id_page, linked_rows, timeline_page
from civichub.broadcast.mastodon.render import (
    account_json,
    relationship_json,
    status_json,
    user_json,
)
from civichub.broadcast.mastodon.selectors import (
    account_by_handle,
    broadcast_account,
    favourites_of,
    follows_of,
    relationships,
    resident_of,
    with_media,
)
from civichub.core.http import request_user, request_user_or_none


@endpoint(scopes_needed=OWN_ACCOUNT)
def verify_credentials(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
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
    resident = resident_of(account_id)
    if resident is not None:
        return JsonResponse(user_json(request, resident, viewer=request_user_or_none(request)))
    return JsonResponse(account_json(request, broadcast_account(account_id)))


@endpoint(auth=False, scopes_needed=READ_STATUSES)
def account_statuses(request: HttpRequest, account_id: str) -> HttpResponse:
    if resident_of(account_id) is not None:
        return empty(request)  # residents publish nothing
    account = broadcast_account(account_id)
    if flag(request, "pinned"):
        return empty(request)  # nothing is pinned
    posts = selectors.visible_posts().filter(account=account)
    if flag(request, "only_media"):
        posts = with_media(posts)
    return timeline_page(request, posts)


@endpoint(scopes_needed=WRITE_FOLLOWS, methods=("POST",))
def account_follow(request: HttpRequest, account_id: str) -> HttpResponse:
    account = broadcast_account(account_id)
    services.follow_create(actor=request_user(request), account_id=account.pk)
    return JsonResponse(relationship_json(account, True))


@endpoint(scopes_needed=WRITE_FOLLOWS, methods=("POST",))
def account_unfollow(request: HttpRequest, account_id: str) -> HttpResponse:
    account = broadcast_account(account_id)
    services.follow_delete(actor=request_user(request), account_id=account.pk)
    return JsonResponse(relationship_json(account, False))


@endpoint(scopes_needed=READ_FOLLOWS)
def account_relationships(request: HttpRequest) -> HttpResponse:
    ids = request.GET.getlist("id[]") or request.GET.getlist("id")
    pairs = relationships(request_user(request), ids)
    return JsonResponse(
        [relationship_json(account, following) for account, following in pairs], safe=False
    )


@endpoint(auth=False, scopes_needed=READ_ACCOUNTS)
def account_lookup(request: HttpRequest) -> HttpResponse:
    """A broadcast account by its handle (`acct`, with or without `@` and this site's host)."""
    handle = request.GET.get("acct", "").lstrip("@").split("@")[0]
    return JsonResponse(account_json(request, account_by_handle(handle)))


@endpoint(auth=False, scopes_needed=READ_ACCOUNTS)
def account_following(request: HttpRequest, account_id: str) -> HttpResponse:
    """The accounts a resident follows, shown to that resident only; broadcast accounts follow
    no one."""
    resident = resident_of(account_id)
    if resident is None:
        broadcast_account(account_id)  # a 404 for an account that does not exist
        return empty(request)
    viewer = request_user_or_none(request)
    if viewer is None or viewer.pk != resident.pk:
        return empty(request)
    follows, more = id_page(request, follows_of(resident))
    return linked_rows(
        request, [account_json(request, f.account) for f in follows], follows, more=more
    )


@endpoint(auth=False, scopes_needed=READ_ACCOUNTS)
def account_followers(request: HttpRequest, account_id: str) -> HttpResponse:
    """Followers are residents, whose follows are their own business: the count is on the
    account, the list is empty."""
    if resident_of(account_id) is None:
        broadcast_account(account_id)
    return empty(request)


@endpoint(scopes_needed=("read:favourites",))
def favourites(request: HttpRequest) -> HttpResponse:
    """The statuses the resident favourited, most recently favourited first."""
    user = request_user(request)
    rows, more = id_page(request, favourites_of(user))
    posts = [f.post for f in rows]
    selectors.exact_counts(posts)
    marks = selectors.marks_for(user, [p.pk for p in posts])
    body = [status_json(request, p, user, marks=marks) for p in posts]
    return linked_rows(request, body, rows, more=more)
