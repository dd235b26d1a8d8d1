"""Atom feeds (RFC 4287) per account and per category; an alert entry links its CAP document
with rel="alternate" type="application/cap+xml", and a post's images are enclosures."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from xml.etree import ElementTree as ET

from civichub.broadcast import selectors
from civichub.broadcast.cap import CONTENT_TYPE, cap_time
from civichub.broadcast.models import Post

ATOM = "http://www.w3.org/2005/Atom"


def atom_feed(
    *,
    feed_id: str,
    title: str,
    self_url: str,
    page_url: str,
    posts: Iterable[Post],
    post_url: Callable[[Post], str],
    cap_url: Callable[[Post], str],
    image_url: Callable[[str], str] | None = None,
) -> bytes:
    """`image_url` turns an image's path into a full URL; with it each image of a post is an
    enclosure link carrying its alt text as the title."""

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, tag, attrs)
        if text is not None:
            element.text = text
        return element

    posts = list(posts)
    # The namespace is declared on the root and the tags left unqualified: ElementTree's prefix
    # registry is process-wide, and a render in another thread could change it mid-way.
    feed = ET.Element("feed", xmlns=ATOM)
    sub(feed, "id", feed_id)
    sub(feed, "title", title)
    sub(feed, "link", rel="self", href=self_url, type="application/atom+xml")
    sub(feed, "link", rel="alternate", href=page_url, type="text/html")
    updated = max((p.edited_at or p.published_at for p in posts), default=None)
    sub(feed, "updated", cap_time(updated) if updated else "1970-01-01T00:00:00+00:00")
    for post in posts:
        entry = sub(feed, "entry")
        url = post_url(post)
        sub(entry, "id", url)
        sub(entry, "title", post.text[:80])
        sub(entry, "updated", cap_time(post.edited_at or post.published_at))
        sub(entry, "published", cap_time(post.published_at))
        author = sub(entry, "author")
        sub(author, "name", post.account.name)
        sub(entry, "link", rel="alternate", href=url, type="text/html")
        if post.is_alert:
            sub(entry, "link", rel="alternate", href=cap_url(post), type=CONTENT_TYPE)
        if image_url is not None:
            for image in post.images.all():
                sub(
                    entry,
                    "link",
                    rel="enclosure",
                    href=image_url(selectors.image_url(image)),
                    type=image.content_type,
                    length=str(image.size),
                    title=image.alt_text,
                )
        sub(entry, "category", term=post.category)
        sub(entry, "content", post.text, type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
