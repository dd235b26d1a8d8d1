"""Atom feeds (RFC 4287) per account and per category, and the public CAP index.

Every id and link is written with the configured site address (`broadcast.conf.absolute`),
never the request's Host header, so that a feed read through any address names the same
entries. An alert entry links its latest CAP message by identifier (rel="alternate",
type="application/cap+xml"); a retracted alert stays as a cancellation entry linking its Cancel
message; a post's images and video (its MP4) are enclosures. Times are RFC 3339 (`Z`), not
CAP's `-00:00`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from xml.etree import ElementTree as ET

from django.urls import reverse
from django.utils.translation import gettext as _

from civichub.broadcast import selectors
from civichub.broadcast.cap import CONTENT_TYPE
from civichub.broadcast.conf import absolute
from civichub.broadcast.models import CapMessage, CapMessageType, Post, PostState, VideoState

ATOM = "http://www.w3.org/2005/Atom"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def atom_time(value: dt.datetime) -> str:
    """RFC 3339 in UTC, whole seconds."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def post_url(post: Post) -> str:
    return absolute(reverse("broadcast:post", args=[post.pk]))


def cap_message_url(message: CapMessage) -> str:
    return absolute(reverse("broadcast:cap_message", args=[message.identifier]))


def latest_message(post: Post) -> CapMessage | None:
    """The alert's newest CAP message (from the prefetched `cap_messages`)."""
    messages = list(post.cap_messages.all()) if post.is_alert else []
    return messages[-1] if messages else None


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def _title(post: Post, message: CapMessage | None) -> str:
    title = (post.cap_headline if post.is_alert else "") or post.text[:80]
    if message is not None and message.msg_type == CapMessageType.CANCEL:
        return _("已取消：%(title)s") % {"title": title}
    if message is not None and message.msg_type == CapMessageType.UPDATE:
        return _("更新：%(title)s") % {"title": title}
    return title


def _feed(*, feed_id: str, title: str, self_url: str, page_url: str) -> ET.Element:
    # The namespace is declared on the root and the tags left unqualified: ElementTree's prefix
    # registry is process-wide, and a render in another thread could change it mid-way.
    feed = ET.Element("feed", xmlns=ATOM)
    _sub(feed, "id", feed_id)
    _sub(feed, "title", title)
    _sub(feed, "link", rel="self", href=self_url, type="application/atom+xml")
    _sub(feed, "link", rel="alternate", href=page_url, type="text/html")
    return feed


def atom_feed(*, path: str, title: str, page_path: str, posts: Iterable[Post]) -> bytes:
    """The feed at `path` (its id and self link) of `posts`: visible posts, and retracted
    alerts as their cancellations."""
    posts = list(posts)
    feed = _feed(
        feed_id=absolute(path), title=title, self_url=absolute(path), page_url=absolute(page_path)
    )
    updated_at = _sub(feed, "updated")
    newest = _EPOCH
    for post in posts:
        message = latest_message(post)
        updated = message.sent if message else (post.edited_at or post.published_at)
        newest = max(newest, updated)
        cancelled = post.state == PostState.RETRACTED
        entry = _sub(feed, "entry")
        url = post_url(post)
        _sub(entry, "id", url)
        _sub(entry, "title", _title(post, message))
        _sub(entry, "updated", atom_time(updated))
        _sub(entry, "published", atom_time(post.published_at))
        author = _sub(entry, "author")
        _sub(author, "name", post.account.name)
        _sub(entry, "link", rel="alternate", href=url, type="text/html")
        if message is not None:
            _sub(entry, "link", rel="alternate", href=cap_message_url(message), type=CONTENT_TYPE)
        if not cancelled:
            for image in post.images.all():
                _sub(
                    entry,
                    "link",
                    rel="enclosure",
                    href=absolute(selectors.image_url(image)),
                    type=image.content_type,
                    length=str(image.size),
                    title=image.alt_text,
                )
            video = selectors.post_video(post)
            if video is not None and video.state == VideoState.READY:
                _sub(
                    entry,
                    "link",
                    rel="enclosure",
                    href=absolute(selectors.video_file_url(video, "video.mp4")),
                    type="video/mp4",
                    length=str(video.mp4_size),
                    title=video.description or post.text[:80],
                )
        _sub(entry, "category", term=post.category)
        text = _("此预警已取消。") + post.text if cancelled else post.text
        _sub(entry, "content", text, type="text")
    updated_at.text = atom_time(newest)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def cap_index_feed(*, path: str, posts: Iterable[Post]) -> bytes:
    """The public CAP index: one entry per alert in force or recently cancelled, for its
    newest CAP message (the entry's id is the message's address, so each Update or Cancel is
    a new entry to aggregators that poll it)."""
    feed = _feed(
        feed_id=absolute(path),
        title=_("预警（CAP 1.2）"),
        self_url=absolute(path),
        page_url=absolute(reverse("broadcast:home")),
    )
    updated_at = _sub(feed, "updated")
    newest = _EPOCH
    for post in posts:
        message = latest_message(post)
        if message is None:
            continue
        newest = max(newest, message.sent)
        entry = _sub(feed, "entry")
        url = cap_message_url(message)
        _sub(entry, "id", url)
        _sub(entry, "title", _title(post, message))
        _sub(entry, "updated", atom_time(message.sent))
        _sub(entry, "published", atom_time(message.sent))
        author = _sub(entry, "author")
        _sub(author, "name", post.account.name)
        _sub(entry, "link", rel="alternate", href=url, type=CONTENT_TYPE)
        _sub(entry, "link", rel="related", href=post_url(post), type="text/html")
        _sub(entry, "category", term=post.cap_category)
        _sub(entry, "summary", post.text, type="text")
    updated_at.text = atom_time(newest)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
