"""Every notification leads to what it is about: the kind declares the link, the dispatch keeps
it, the inbox shows it as a link that reads the notification, push and mail carry it whole."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from civichub.core.hooks import DemoSeeded, demo_seeded
from civichub.core.models import User
from civichub.notify import kinds, services
from civichub.notify.channels import mail_body, push_payload
from civichub.notify.kinds import Link, NotificationKind
from civichub.notify.models import Notification

LINKED = NotificationKind(
    key="notify.test_linked",
    category="system",
    subject={"zh-hans": "请看设置 {{ n }}", "en": "See the settings {{ n }}"},
    body={"zh-hans": "正文", "en": "Body"},
    link=Link("notify:preferences", fragment="channels"),
)
BY_ADDRESS = NotificationKind(
    key="notify.test_by_address",
    category="system",
    subject={"zh-hans": "去回答", "en": "Answer"},
    body={"zh-hans": "点此：{{ link }}", "en": "Here: {{ link }}"},
    link=Link(context_key="link"),
)
NEEDS_ARG = NotificationKind(
    key="notify.test_needs_arg",
    category="system",
    subject={"zh-hans": "留言", "en": "Case"},
    body={"zh-hans": "正文", "en": "Body"},
    link=Link("casework:case", ("tracking_number",), fragment="rate"),
)
for _kind in (LINKED, BY_ADDRESS, NEEDS_ARG):
    kinds.register(_kind)


def send(user: User, kind: str, context: dict[str, object]) -> Notification:
    services.notification_send(recipients=[user], kind=kind, context=context, channels=["inapp"])
    return Notification.objects.filter(recipient=user).latest("pk")


def test_the_kind_builds_its_link_from_the_context() -> None:
    assert kinds.target(NEEDS_ARG, {"tracking_number": "PZ-1"}) == "/messages/PZ-1/#rate"
    assert kinds.target(NEEDS_ARG, {}) == ""  # what it needs is missing: no link, no error
    assert kinds.target(BY_ADDRESS, {"link": "https://x.example/a"}) == "https://x.example/a"
    assert kinds.target(BY_ADDRESS, {"link": kinds.MASKED}) == ""


@pytest.mark.django_db
def test_the_inbox_links_each_notification_and_following_it_reads_it(resident: User) -> None:
    linked = send(resident, LINKED.key, {"n": 1})
    plain = send(resident, "notify.test", {"sender": "甲"})
    assert linked.link == "/notifications/preferences/#channels"
    client = Client()
    client.force_login(resident)
    html = client.get("/notifications/").content.decode()
    assert f'href="/notifications/{linked.pk}/open/"' in html
    assert f'href="/notifications/{plain.pk}/open/"' not in html
    response = client.get(f"/notifications/{linked.pk}/open/")
    assert response.status_code == 302
    assert response["Location"] == "/notifications/preferences/#channels"
    linked.refresh_from_db()
    assert linked.read_at is not None
    plain.refresh_from_db()
    assert plain.read_at is None


@pytest.mark.django_db
def test_a_link_off_the_site_is_not_followed_and_others_cannot_open_mine(
    resident: User, english_resident: User
) -> None:
    elsewhere = send(resident, BY_ADDRESS.key, {"link": "https://evil.example/"})
    client = Client()
    client.force_login(resident)
    assert client.get(f"/notifications/{elsewhere.pk}/open/")["Location"] == "/notifications/"
    other = Client()
    other.force_login(english_resident)
    assert other.get(f"/notifications/{elsewhere.pk}/open/").status_code == 404
    elsewhere.refresh_from_db()
    assert elsewhere.read_at is not None


@pytest.mark.django_db
def test_push_and_mail_carry_the_absolute_link(resident: User, settings: object) -> None:
    notification = send(resident, LINKED.key, {"n": 2})
    payload = json.loads(push_payload(notification))
    assert payload["url"].endswith(f"/notifications/{notification.pk}/open/")
    assert payload["url"].startswith("http")
    assert payload["link"].startswith("http")
    assert payload["link"].endswith("/notifications/preferences/#channels")
    assert mail_body(notification, "正文").endswith(payload["link"])
    # A body that already carries the address is not given it twice.
    by_address = send(resident, BY_ADDRESS.key, {"link": "https://x.example/a"})
    assert mail_body(by_address, by_address.body) == by_address.body


@pytest.mark.django_db
def test_the_demo_leaves_each_inbox_with_its_newest_few_unread(
    resident: User, english_resident: User
) -> None:
    for n in range(6):
        send(resident, LINKED.key, {"n": n})
    send(english_resident, LINKED.key, {"n": 0})
    demo_seeded.send(DemoSeeded(size="small"))
    unread = Notification.objects.filter(recipient=resident, read_at__isnull=True)
    newest = Notification.objects.filter(recipient=resident).order_by("-created_at", "-id")[:3]
    assert set(unread) == set(newest)
    assert Notification.objects.get(recipient=english_resident).read_at is None


def test_the_modules_kinds_lead_to_their_objects() -> None:
    replied = kinds.get("casework.case_replied")
    alert = kinds.get("broadcast.alert")
    visit = kinds.get("wellbeing.visit_task")
    assert replied is not None and alert is not None and visit is not None
    assert kinds.target(replied, {"tracking_number": "PZ-7"}) == "/messages/PZ-7/#rate"
    assert kinds.target(alert, {"post_id": 5}) == "/broadcast/posts/5/"
    assert kinds.target(visit, {"visit_id": 3}) == "/wellbeing/visits/3/"
    for key in ("wellbeing.alert_family", "donors.call_up"):
        kind = kinds.get(key)
        assert kind is not None
        assert kinds.target(kind, {"link": "https://city.example/x"}) == "https://city.example/x"
    # A recall's notice leads to the recall page, where the stall confirms it.
    for key in ("traceability.recall", "traceability.recall_reminder"):
        kind = kinds.get(key)
        assert kind is not None
        assert kinds.target(kind, {"recall_id": 4}) == "/trace/recalls/4/"
    # Every declared URL name exists (the arguments are the kinds' own context keys).
    for kind in kinds.all_kinds().values():
        if kind.link is not None and kind.link.name:
            assert kinds.target(kind, dict.fromkeys(kind.link.args, "1")), kind.key


@pytest.mark.django_db
def test_the_api_gives_the_link(api_as: Callable[..., Any], resident: User) -> None:
    notification = send(resident, LINKED.key, {"n": 3})
    items = api_as(resident).get("/api/notifications/").json()["items"]
    mine = next(item for item in items if item["id"] == notification.pk)
    assert mine["link"] == "/notifications/preferences/#channels"
