"""The inbox and preferences pages: plain forms with CSRF, no JavaScript needed."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from civichub.core.models import User
from civichub.notify import services
from civichub.notify.models import Notification, NotificationPreference
from civichub.notify.tests.conftest import profile

INBOX = "/notifications/"


def notify(user: User, count: int = 1) -> None:
    for n in range(count):
        services.notification_send(
            recipients=[user],
            kind="notify.test",
            context={"sender": f"发件人{n:02d}"},
            channels=["inapp"],
        )


def signed_in(user: User, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def csrf_token(client: Client, path: str = INBOX) -> str:
    html = client.get(path).content.decode()
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def test_the_inbox_url_is_named_and_needs_sign_in() -> None:
    assert reverse("notify:inbox") == INBOX
    response = Client().get(INBOX)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_inbox_lists_my_notifications_newest_first_unread_in_bold(
    resident: User, english_resident: User
) -> None:
    notify(resident, 3)
    notify(english_resident)
    oldest = Notification.objects.filter(recipient=resident).earliest("pk")
    services.notification_mark_read(actor=resident, notification_id=oldest.pk)
    html = signed_in(resident).get(INBOX).content.decode()
    senders = re.findall(r"由(发件人\d\d)发出", html)
    assert senders == ["发件人02", "发件人01", "发件人00"]
    items = re.findall(r'<article class="card( unread)?">', html)
    assert items == [" unread", " unread", ""]
    assert html.count("未读</span>") == 2  # said in words too, not only in bold
    assert "共 3 条通知，其中未读 2 条" in html
    assert "Test notification" not in html  # someone else's


def test_marking_one_read_is_a_csrf_protected_post_that_returns_to_the_page(
    resident: User,
) -> None:
    notify(resident, 2)
    target = Notification.objects.filter(recipient=resident).earliest("pk")
    client = signed_in(resident, csrf=True)
    url = reverse("notify:read", args=[target.pk])
    assert client.post(url, {"next": f"{INBOX}?page=1"}).status_code == 403  # no token
    response = client.post(
        url, {"next": f"{INBOX}?page=1", "csrfmiddlewaretoken": csrf_token(client)}
    )
    assert response.status_code == 302
    assert response["Location"] == f"{INBOX}?page=1"
    assert Notification.objects.get(pk=target.pk).read_at is not None
    assert Notification.objects.filter(recipient=resident, read_at__isnull=True).count() == 1
    assert client.get(url).status_code == 405


def test_mark_all_read_and_say_so(resident: User) -> None:
    notify(resident, 3)
    client = signed_in(resident, csrf=True)
    response = client.post(
        reverse("notify:read_all"), {"csrfmiddlewaretoken": csrf_token(client)}, follow=True
    )
    assert response.status_code == 200
    assert "已将 3 条通知标为已读。" in response.content.decode()
    assert not Notification.objects.filter(recipient=resident, read_at__isnull=True).exists()


def test_the_return_address_cannot_leave_the_site(resident: User) -> None:
    notify(resident)
    response = signed_in(resident).post(
        reverse("notify:read_all"), {"next": "https://evil.example/"}
    )
    assert response["Location"] == INBOX


def test_someone_elses_notification_cannot_be_marked_read(
    resident: User, english_resident: User
) -> None:
    notify(english_resident)
    theirs = Notification.objects.get(recipient=english_resident)
    response = signed_in(resident).post(reverse("notify:read", args=[theirs.pk]))
    assert response.status_code == 404
    assert Notification.objects.get(pk=theirs.pk).read_at is None


def test_the_inbox_pages_twenty_at_a_time(resident: User) -> None:
    notify(resident, 25)
    client = signed_in(resident)
    first = client.get(INBOX).content.decode()
    second = client.get(INBOX, {"page": 2}).content.decode()
    assert first.count('<article class="card') == 20
    assert second.count('<article class="card') == 5
    assert "第 1 / 2 页" in first and 'href="?page=2"' in first
    assert "发件人00" in second and "发件人00" not in first


def test_the_inbox_is_usable_on_a_phone_without_scripts(resident: User) -> None:
    notify(resident)
    html = signed_in(resident).get(INBOX).content.decode()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "<script" not in html
    assert 'method="post"' in html


@profile(quiet_hours_default="22:00-07:00")
def test_every_preference_field_has_a_label(resident: User) -> None:
    html = signed_in(resident).get(reverse("notify:preferences")).content.decode()
    form = html[html.index("<main") :]
    ids = set(re.findall(r'<(?:input|select)[^>]*\bid="([^"]+)"', form))
    labelled = set(re.findall(r'<label[^>]*\bfor="([^"]+)"', form))
    assert ids  # the grid of switches, the opt-outs, the quiet hours
    assert ids <= labelled
    assert "<legend>免打扰时段</legend>" in html
    assert "22:00-07:00" in html  # the deployment default is explained


def test_the_time_zones_people_use_come_first_in_words(resident: User) -> None:
    html = signed_in(resident).get(reverse("notify:preferences")).content.decode()
    select = html[html.index('name="time_zone"') :]
    select = select[: select.index("</select>")]
    options = re.findall(r'<option value="([^"]*)"', select)
    assert options[:3] == ["", "Asia/Shanghai", "Asia/Urumqi"]
    assert "北京时间（Asia/Shanghai）" in select and '<optgroup label="常用时区">' in select
    # Every other zone is still there, once.
    assert "Africa/Abidjan" in options and options.count("Asia/Shanghai") == 1


def test_saving_preferences_from_the_page(resident: User) -> None:
    client = signed_in(resident, csrf=True)
    token = csrf_token(client, reverse("notify:preferences"))
    form = {
        "csrfmiddlewaretoken": token,
        "quiet_hours_enabled": "on",
        "quiet_start": "23:00",
        "quiet_end": "06:30",
        "time_zone": "Asia/Hong_Kong",
        "block_push": "on",
    }
    # Every switch the form shows is on, except SMS for the "service" category.
    for category in ("account", "service", "alert", "system"):
        for channel in ("email", "sms", "push"):
            if (category, channel) != ("service", "sms"):
                form[f"on_{category}_{channel}"] = "on"
    response = client.post(reverse("notify:preferences"), form, follow=True)
    assert "通知偏好已保存。" in response.content.decode()
    preference = NotificationPreference.objects.get(user=resident)
    assert preference.quiet_hours() == (dt.time(23), dt.time(6, 30))
    assert preference.time_zone == "Asia/Hong_Kong"
    assert preference.blocked_channels == ["push"]
    assert not preference.channel_enabled("service", "sms")
    assert preference.channel_enabled("alert", "sms")
    # The page shows what was saved.
    html = response.content.decode()
    assert re.search(r'<input[^>]*name="block_push"[^>]*checked', html)
    assert not re.search(r'<input[^>]*name="on_service_sms"[^>]*checked', html)


def test_half_a_quiet_period_is_refused_with_a_message(resident: User) -> None:
    response = signed_in(resident).post(
        reverse("notify:preferences"), {"quiet_hours_enabled": "on", "quiet_start": "23:00"}
    )
    assert response.status_code == 200
    assert "请同时填写免打扰的开始和结束时间" in response.content.decode()
    assert not NotificationPreference.objects.exists()


def test_every_signed_in_user_sees_the_notifications_link(resident: User) -> None:
    html = signed_in(resident).get(INBOX).content.decode()
    assert f'<a href="{INBOX}" aria-current="page">通知</a>' in html


@pytest.mark.parametrize("count", [0, 2])
def test_the_dashboard_tile_counts_my_unread_notifications(
    count: int, city: Any, make_user: Callable[..., User]
) -> None:
    worker = make_user("community_worker", city.community_a1)
    notify(worker, count)
    html = signed_in(worker).get(reverse("core:dashboard")).content.decode()
    tile = re.search(
        r'<a href="/notifications/"><span class="value">(\d+)</span>未读通知</a>', html
    )
    assert tile is not None
    assert int(tile.group(1)) == count
