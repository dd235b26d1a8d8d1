"""The notifications API, with session and token authentication; every response is checked
against the committed OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.test import override_settings
from django_tasks_db.models import DBTaskResult

from civichub.core import services as core_services
from civichub.core.models import AuditEvent, User
from civichub.notify import services
from civichub.notify.models import Notification, NotificationPreference, PushSubscription
from civichub.notify.tests.conftest import DB_TASKS, BrowserKeys, no_quiet_hours, profile

PROBLEM = "application/problem+json"


def notify(user: User, count: int = 1, **kwargs: Any) -> None:
    for n in range(count):
        services.notification_send(
            recipients=[user], kind="notify.test", context={"sender": f"发件人{n}"}, **kwargs
        )


def test_my_notifications_newest_first_with_session_auth(
    api_as: Callable[..., Any], resident: User, english_resident: User
) -> None:
    notify(resident, 3, channels=["inapp"])
    notify(english_resident, channels=["inapp"])
    response = api_as(resident).get("/api/notifications/")
    assert response.status_code == 200
    body = response.json()
    assert (body["total"], body["unread"]) == (3, 3)
    assert [item["body"][5:9] for item in body["items"]] == ["发件人2", "发件人1", "发件人0"]
    assert body["items"][0]["subject"] == "测试通知"
    assert body["items"][0]["read_at"] is None


def test_my_notifications_with_a_bearer_token_and_paging(
    api_as: Callable[..., Any], english_resident: User
) -> None:
    notify(english_resident, 5, channels=["inapp"])
    _token, secret = core_services.api_token_create(actor=english_resident, name="phone app")
    client = api_as(token=secret)
    page = client.get("/api/notifications/", offset=3, limit=2).json()
    assert page["total"] == 5
    assert len(page["items"]) == 2
    assert page["items"][0]["subject"] == "Test notification"
    assert client.get("/api/notifications/", limit=101).status_code == 422


def test_the_list_needs_authentication(api_as: Callable[..., Any]) -> None:
    response = api_as(None).get("/api/notifications/")
    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM


def test_unread_filter_and_delivery_states_are_listed(
    api_as: Callable[..., Any], resident: User
) -> None:
    no_quiet_hours(resident)
    notify(resident, channels=["inapp", "sms"])
    notify(resident, channels=["inapp"])
    services.notification_mark_read(
        actor=resident, notification_id=Notification.objects.latest("pk").pk
    )
    body = api_as(resident).get("/api/notifications/", unread="true").json()
    assert (body["total"], body["unread"]) == (1, 1)
    [delivery] = body["items"][0]["deliveries"]
    assert (delivery["channel"], delivery["state"], delivery["attempts"]) == ("sms", "queued", 0)


def test_mark_one_read_and_all_read(
    api_as: Callable[..., Any], resident: User, english_resident: User
) -> None:
    notify(resident, 3, channels=["inapp"])
    notify(english_resident, channels=["inapp"])
    client = api_as(resident)
    first = Notification.objects.filter(recipient=resident).earliest("pk")
    response = client.post(f"/api/notifications/{first.pk}/read")
    assert response.status_code == 200
    assert response.json()["read_at"] is not None
    assert client.post("/api/notifications/read-all").json() == {"count": 2}
    assert client.post("/api/notifications/read-all").json() == {"count": 0}
    assert Notification.objects.filter(recipient=english_resident, read_at__isnull=True).exists()


def test_someone_elses_notification_is_not_found(
    api_as: Callable[..., Any], resident: User, english_resident: User
) -> None:
    notify(english_resident, channels=["inapp"])
    theirs = Notification.objects.get(recipient=english_resident)
    client = api_as(resident)
    assert client.get(f"/api/notifications/{theirs.pk}").status_code == 404
    response = client.post(f"/api/notifications/{theirs.pk}/read")
    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM
    assert Notification.objects.get(pk=theirs.pk).read_at is None


@profile(quiet_hours_default="22:00-07:00")
def test_preferences_read_and_replace(api_as: Callable[..., Any], resident: User) -> None:
    client = api_as(resident)
    defaults = client.get("/api/notifications/preferences").json()
    assert defaults["quiet_hours_enabled"] is True
    assert defaults["effective_quiet_hours"] == "22:00-07:00"
    assert [c["key"] for c in defaults["categories"]][:4] == [
        "account",
        "service",
        "alert",
        "system",
    ]
    response = client.request(
        "PUT",
        "/api/notifications/preferences",
        {
            "channels": {"alert": {"sms": False}},
            "blocked_channels": ["email"],
            "quiet_hours_enabled": True,
            "quiet_start": "23:30:00",
            "quiet_end": "06:00:00",
            "time_zone": "Asia/Urumqi",
        },
    )
    assert response.status_code == 200
    saved = response.json()
    assert saved["effective_quiet_hours"] == "23:30-06:00"
    assert saved["blocked_channels"] == ["email"]
    preference = NotificationPreference.objects.get(user=resident)
    assert not preference.channel_enabled("alert", "sms")
    assert preference.time_zone == "Asia/Urumqi"


def test_invalid_preferences_are_a_validation_problem(
    api_as: Callable[..., Any], resident: User
) -> None:
    client = api_as(resident)
    response = client.request(
        "PUT",
        "/api/notifications/preferences",
        {
            "channels": {"gossip": {"sms": False}},
            "time_zone": "Atlantis/Capital",
            "quiet_start": "22:00:00",
        },
    )
    assert response.status_code == 422
    assert response["Content-Type"] == PROBLEM
    assert set(response.json()["errors"]) == {"channels", "time_zone", "quiet_hours"}
    schema_error = client.request(
        "PUT", "/api/notifications/preferences", {"blocked_channels": ["fax"]}
    )
    assert schema_error.status_code == 422
    assert not NotificationPreference.objects.exists()


@pytest.mark.parametrize("start", ["22:00:00+08:00", "22:00Z"])
def test_quiet_hours_with_a_utc_offset_are_a_validation_problem(
    api_as: Callable[..., Any], resident: User, start: str
) -> None:
    # Quiet hours are wall-clock times in the resident's time zone, which is given apart.
    response = api_as(resident).request(
        "PUT",
        "/api/notifications/preferences",
        {"quiet_start": start, "quiet_end": "07:00:00", "time_zone": "Asia/Shanghai"},
    )
    assert response.status_code == 422
    assert response["Content-Type"] == PROBLEM
    assert "quiet_start" in response.json()["errors"]
    assert not NotificationPreference.objects.exists()


@override_settings(WEBPUSH_ALLOW_HTTP_ENDPOINTS=False)
@pytest.mark.usefixtures("push_service_dns")
def test_a_browser_subscribes_to_push(
    api_as: Callable[..., Any], resident: User, browser_keys: BrowserKeys
) -> None:
    key = api_as(None).get("/api/notifications/push-key").json()["public_key"]
    assert len(key) == 87  # 65 bytes, base64url without padding
    client = api_as(resident)
    endpoint = "https://updates.push.services.mozilla.com/wpush/v2/abc"
    subscription = {
        "endpoint": endpoint,
        "expirationTime": None,
        "keys": {"p256dh": browser_keys.p256dh, "auth": browser_keys.auth},
    }
    response = client.post("/api/notifications/push-subscriptions", subscription)
    assert response.status_code == 201
    assert PushSubscription.objects.get(user=resident).endpoint == endpoint

    internal = {**subscription, "endpoint": "http://169.254.169.254/latest"}
    refused = client.post("/api/notifications/push-subscriptions", internal)
    assert refused.status_code == 422
    assert "endpoint" in refused.json()["errors"]

    gone = client.delete("/api/notifications/push-subscriptions?endpoint=" + quote(endpoint))
    assert gone.status_code == 204
    assert not PushSubscription.objects.exists()


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://127.0.0.1:8443/push/abc",
        "https://169.254.169.254/latest/meta-data",
        "https://[::ffff:10.0.0.1]/push/abc",
        "https://localhost/push/abc",
    ],
)
def test_a_push_endpoint_inside_the_deployment_is_refused(
    api_as: Callable[..., Any], resident: User, browser_keys: BrowserKeys, endpoint: str
) -> None:
    subscription = {
        "endpoint": endpoint,
        "keys": {"p256dh": browser_keys.p256dh, "auth": browser_keys.auth},
    }
    refused = api_as(resident).post("/api/notifications/push-subscriptions", subscription)
    assert refused.status_code == 422
    assert refused["Content-Type"] == PROBLEM
    assert set(refused.json()["errors"]) == {"endpoint"}
    assert not PushSubscription.objects.exists()


def test_only_operators_send_test_notifications(
    api_as: Callable[..., Any], resident: User, city: Any, make_user: Callable[..., User]
) -> None:
    worker = make_user("community_worker", city.community_a1)
    response = api_as(worker).post(
        "/api/notifications/test", {"user_id": resident.pk, "channels": ["inapp"]}
    )
    assert response.status_code == 403
    assert response["Content-Type"] == PROBLEM
    assert not Notification.objects.exists()


def test_test_send_to_an_unknown_account_is_not_found(
    api_as: Callable[..., Any], operator: User
) -> None:
    response = api_as(operator).post("/api/notifications/test", {"user_id": 999999})
    assert response.status_code == 404


# Committed for real: the worker is another process's code and manages its own connection.
@pytest.mark.django_db(transaction=True)
@override_settings(TASKS=DB_TASKS)
def test_operator_test_send_is_queued_here_and_delivered_by_a_worker(
    api_as: Callable[..., Any], operator: User, resident: User
) -> None:
    """The scale-out smoke test's path: one process accepts the request and enqueues, a worker
    delivers, and any process shows the delivery state."""
    no_quiet_hours(resident)
    _token, secret = core_services.api_token_create(actor=operator, name="smoke test")
    response = api_as(token=secret).post(
        "/api/notifications/test",
        {"user_id": resident.pk, "channels": ["inapp", "sms"], "message": "冒烟测试"},
    )
    assert response.status_code == 202
    accepted = response.json()
    assert accepted["delivery_counts"] == {"queued": 1}
    assert DBTaskResult.objects.filter(status="READY").count() == 1
    assert [(d["channel"], d["state"], d["recipient_id"]) for d in accepted["deliveries"]] == [
        ("sms", "queued", resident.pk)
    ]

    call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0)

    shown = api_as(operator).get(f"/api/notifications/dispatches/{accepted['id']}").json()
    assert shown["delivery_counts"] == {"sent": 1}
    assert shown["deliveries"][0]["sent_at"] is not None
    inbox = api_as(resident).get("/api/notifications/").json()
    assert "冒烟测试" in inbox["items"][0]["body"]
    assert inbox["items"][0]["deliveries"][0]["state"] == "sent"
    event = AuditEvent.objects.get(action="notification.send")
    assert event.actor == operator


def test_dispatches_are_for_operators(
    api_as: Callable[..., Any], operator: User, resident: User
) -> None:
    dispatch = services.notification_send(
        recipients=[resident], kind="notify.test", context={}, channels=["inapp"]
    )
    assert api_as(resident).get(f"/api/notifications/dispatches/{dispatch.pk}").status_code == 403
    assert (
        api_as(operator)
        .get(f"/api/notifications/dispatches/{dispatch.pk}")
        .json()["recipient_count"]
        == 1
    )
    assert api_as(operator).get("/api/notifications/dispatches/999999").status_code == 404


def test_session_writes_need_the_csrf_token(resident: User) -> None:
    from django.test import Client

    notify(resident, channels=["inapp"])
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(resident)
    response = browser.post("/api/notifications/read-all", data={}, content_type="application/json")
    assert response.status_code == 403
    assert response["Content-Type"] == PROBLEM
    assert Notification.objects.get(recipient=resident).read_at is None
