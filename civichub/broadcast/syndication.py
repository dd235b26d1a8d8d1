"""The open documents: each alert's CAP messages, the Atom feeds per account and category, and
the public CAP index aggregators poll. Thin: a selector, then a renderer."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.broadcast import selectors
from civichub.broadcast.cap import CONTENT_TYPE
from civichub.broadcast.conf import site_url
from civichub.broadcast.feeds import atom_feed, cap_index_feed, latest_message
from civichub.broadcast.models import CapMessage, Category
from civichub.broadcast.services.capmessages import cap_message_document
from civichub.core.errors import NotFound
from civichub.core.http import share_publicly
from civichub.core.publiccache import cached
from civichub.core.views import domain_errors_as_http

ATOM_TYPE = "application/atom+xml; charset=utf-8"
# The Atom feeds are the same for every reader: built once per change and shared
# (`core.publiccache`, invalidated by `broadcast.feedcache` on any post, image, CAP message or
# account written).
FEEDS_CACHE = "broadcast.feeds"
FEED_CACHE_SECONDS = 300


def _feed_seconds(**where: Any) -> float:
    """How long a feed may be kept: until the next scheduled post of the feed appears."""
    scheduled = selectors.next_publication(**where)
    if scheduled is None:
        return FEED_CACHE_SECONDS
    return min(FEED_CACHE_SECONDS, (scheduled - timezone.now()).total_seconds())


def _document(message: CapMessage) -> bytes:
    if message.document:
        return message.document.encode()
    # Recorded before documents were kept: rendered from the post, with the message's own
    # identity and references.
    earlier = [m for m in selectors.cap_messages(message.post) if m.sequence < message.sequence]
    return cap_message_document(message.post, message, earlier)


@domain_errors_as_http
def cap(request: HttpRequest, post_id: int) -> HttpResponse:
    """The alert's newest CAP message (its Alert, latest Update, or Cancel)."""
    post = selectors.post_get(post_id)
    message = latest_message(post) if post.is_alert else None
    if message is None:
        raise NotFound(_("这条发布不是预警。"))
    return HttpResponse(_document(message), content_type=CONTENT_TYPE)


@domain_errors_as_http
def cap_message(request: HttpRequest, identifier: str) -> HttpResponse:
    """One CAP message by its identifier, as it was issued."""
    message = selectors.cap_message_get(identifier)
    return HttpResponse(_document(message), content_type=CONTENT_TYPE)


def cap_index(request: HttpRequest) -> HttpResponse:
    """Alerts in force and recent cancellations, each entry linking its newest CAP message."""
    share_publicly(request)
    document = cap_index_feed(
        path=reverse("broadcast:cap_index"), posts=selectors.cap_index_posts()
    )
    return HttpResponse(document, content_type=ATOM_TYPE)


@domain_errors_as_http
def account_feed(request: HttpRequest, handle: str) -> HttpResponse:
    share_publicly(request)

    def build() -> tuple[bytes, int]:
        account = selectors.account_get(handle)  # NotFound: nothing cached
        document = atom_feed(
            path=reverse("broadcast:account_feed", args=[handle]),
            title=account.name,
            page_path=reverse("broadcast:account", args=[handle]),
            posts=selectors.syndicated_posts(limit=50, account=account),
        )
        return document, account.pk

    document, _account_id = cached(
        FEEDS_CACHE,
        ("account", handle, site_url()),
        build,
        lambda built: _feed_seconds(account_id=built[1]),
    )
    return HttpResponse(document, content_type=ATOM_TYPE)


@domain_errors_as_http
def category_feed(request: HttpRequest, category: str) -> HttpResponse:
    share_publicly(request)
    labels = dict(Category.choices)
    if category not in labels:
        raise NotFound(_("没有这个类别。"))
    document = cached(
        FEEDS_CACHE,
        ("category", category, site_url()),
        lambda: atom_feed(
            path=reverse("broadcast:category_feed", args=[category]),
            title=str(labels[category]),
            page_path=reverse("broadcast:home"),
            posts=selectors.syndicated_posts(limit=50, category=category),
        ),
        lambda _document: _feed_seconds(category=category),
    )
    return HttpResponse(document, content_type=ATOM_TYPE)
