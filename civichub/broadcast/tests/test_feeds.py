"""Atom feeds per account and per category, read back with feedparser."""

from __future__ import annotations

import datetime as dt
from typing import Any

import feedparser
import pytest
from django.utils import timezone

from civichub.broadcast import services
from civichub.broadcast.conf import absolute
from civichub.broadcast.models import Post

pytestmark = pytest.mark.django_db


def test_account_and_category_feeds_parse_and_alert_entries_link_their_cap_document(
    bc: Any, client: Any, after_commit: Any
) -> None:
    news = services.post_publish(
        actor=bc.police_publisher, account=bc.police, text="警方提示：谨防诈骗", category="safety"
    )
    with after_commit():
        warning = services.post_publish(
            actor=bc.police_publisher,
            account=bc.police,
            text="大雾预警",
            category="weather",
            target_area_ids=[bc.city.city.pk],
            alert=services.AlertFields(
                category="Met",
                event="大雾",
                urgency="Expected",
                severity="Moderate",
                certainty="Likely",
                expires=timezone.now() + dt.timedelta(hours=3),
            ),
        )
    response = client.get("/broadcast/@safe-qingshan/feed.atom")
    assert response.status_code == 200
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.bozo_exception
    assert feed.feed.title == "平安青山"
    assert [e.title for e in feed.entries] == ["大雾预警", "警方提示：谨防诈骗"]
    cap_links = [link.href for link in feed.entries[0].links if link.type == "application/cap+xml"]
    [message] = warning.cap_messages.all()
    assert cap_links == [absolute(f"/broadcast/cap/messages/{message.identifier}.xml")]
    assert not [link for link in feed.entries[1].links if link.type == "application/cap+xml"]

    category = feedparser.parse(client.get("/broadcast/category/safety/feed.atom").content)
    assert not category.bozo
    assert [e.link for e in category.entries] == [absolute(f"/broadcast/posts/{news.pk}/")]
    assert client.get("/broadcast/category/gossip/feed.atom").status_code == 404


def test_a_posts_images_are_enclosures_with_their_alt_text(bc: Any) -> None:
    import io

    from django.test import Client
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (40, 30), "green").save(out, format="PNG")
    post = services.post_publish(
        actor=bc.police_publisher,
        account=bc.police,
        text="新开通的公交专用道",
        category="traffic",
        images=[
            services.ImageIn(name="lane.png", data=out.getvalue(), alt_text="红色路面的公交专用道")
        ],
    )
    image = post.images.get()
    feed = feedparser.parse(Client().get("/broadcast/@safe-qingshan/feed.atom").content)
    [entry] = feed.entries
    [enclosure] = entry.enclosures
    assert enclosure.href == absolute(f"/broadcast/images/{image.pk}")
    assert (enclosure.type, int(enclosure.length)) == ("image/png", image.size)
    [link] = [link for link in entry.links if link.rel == "enclosure"]
    assert link.title == "红色路面的公交专用道"


def test_atom_feeds_and_cap_documents_rendered_at_once_in_threads_keep_their_namespaces(
    bc: Any, after_commit: Any
) -> None:
    """ElementTree's namespace prefixes are process-wide: a render must not depend on them, or
    a feed rendered while a CAP document is rendered in another thread gets `ns0:` tags."""
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from civichub.broadcast.cap import NAMESPACE, CapIdentity, cap_document
    from civichub.broadcast.feeds import ATOM, atom_feed

    with after_commit():
        warning = services.post_publish(
            actor=bc.police_publisher,
            account=bc.police,
            text="大风预警",
            category="weather",
            target_area_ids=[bc.city.city.pk],
            alert=services.AlertFields(
                category="Met",
                event="大风",
                urgency="Expected",
                severity="Moderate",
                certainty="Likely",
                expires=timezone.now() + dt.timedelta(hours=3),
            ),
        )
    areas = list(warning.target_areas.all())
    # Everything the renders read is loaded here: the threads render, they do not query.
    warning = (
        Post.objects.select_related("account", "video")
        .prefetch_related("images", "cap_messages", "drawn_areas")
        .get(pk=warning.pk)
    )

    def feed(_n: int) -> bytes:
        return atom_feed(path="/feed.atom", title="t", page_path="/", posts=[warning])

    def cap(_n: int) -> bytes:
        identity = CapIdentity(
            sender="x", identifier="x.1", sent=warning.published_at, msg_type="Alert"
        )
        return cap_document(warning, identity=identity, web="http://x/", areas=areas, drawn=[])

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns every few bytecodes: races show at once
    try:
        with ThreadPoolExecutor(8) as pool:
            rendered = list(pool.map(lambda n: (feed if n % 2 else cap)(n), range(400)))
    finally:
        sys.setswitchinterval(switch)
    for n, document in enumerate(rendered):
        root = f'<feed xmlns="{ATOM}">' if n % 2 else f'<alert xmlns="{NAMESPACE}">'
        assert document.split(b"\n", 1)[1].startswith(root.encode())
        assert b"ns0:" not in document and b"xmlns:" not in document
