from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django_tasks_db.models import DBTaskResult

from civichub.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from civichub.core.models import AuditEvent, User
from civichub.notify import services
from civichub.notify.models import (
    Delivery,
    DeliveryState,
    Dispatch,
    Notification,
    NotificationPreference,
    PushSubscription,
)
from civichub.notify.tests.conftest import (
    BrowserKeys,
    local_now,
    no_quiet_hours,
    profile,
    wait_while_locked,
)

pytestmark = pytest.mark.usefixtures("db_tasks")


def send(recipients: Any, **kwargs: Any) -> Dispatch:
    kwargs.setdefault("kind", "notify.test")
    kwargs.setdefault("context", {"sender": "运维", "message": ""})
    return services.notification_send(recipients=recipients, **kwargs)


def deliveries_of(user: User) -> dict[str, Delivery]:
    return {d.channel: d for d in Delivery.objects.filter(notification__recipient=user)}


def enqueued_delivery_ids() -> list[int]:
    ids: list[int] = []
    for result in DBTaskResult.objects.filter(task_path__endswith="deliveries_send"):
        ids.extend(result.args_kwargs["args"][0])
    return sorted(ids)


# The inbox row and the deliveries ------------------------------------------------------------


def test_send_creates_an_inbox_row_and_one_delivery_per_outside_channel(
    resident: User, operator: User
) -> None:
    no_quiet_hours(resident)
    dispatch = send([resident], channels=["inapp", "email", "sms"], actor=operator)
    notification = Notification.objects.get(recipient=resident)
    assert notification.dispatch == dispatch
    assert notification.read_at is None
    assert notification.subject == "测试通知"
    assert "由运维发出" in notification.body
    assert {c: d.state for c, d in deliveries_of(resident).items()} == {
        "email": DeliveryState.QUEUED,
        "sms": DeliveryState.QUEUED,
    }
    assert (dispatch.recipient_count, dispatch.delivery_count) == (1, 2)


def test_the_recipients_language_picks_the_text(resident: User, english_resident: User) -> None:
    send([resident, english_resident], channels=["inapp"])
    chinese = Notification.objects.get(recipient=resident)
    english = Notification.objects.get(recipient=english_resident)
    assert (chinese.language, chinese.subject) == ("zh-hans", "测试通知")
    assert (english.language, english.subject) == ("en", "Test notification")


def test_default_channels_come_from_the_kind(resident: User) -> None:
    no_quiet_hours(resident)
    send([resident], kind="core.password_changed", context={"name": "王芳", "changed_at": "今天"})
    assert set(deliveries_of(resident)) == {"email"}


def test_a_channel_that_cannot_reach_the_recipient_gets_no_delivery(
    make_user: Callable[..., User],
) -> None:
    bare = make_user(None, None)  # no email, no phone, no push subscription
    no_quiet_hours(bare)
    dispatch = send([bare], channels=["email", "sms", "push"])
    assert Notification.objects.filter(recipient=bare).count() == 1
    assert deliveries_of(bare) == {}
    assert dispatch.delivery_count == 0


def test_the_residents_phone_is_used_when_the_account_has_none(
    city: Any, make_user: Callable[..., User]
) -> None:
    from civichub.core import services as core_services

    person = core_services.resident_create(
        actor=None, name="李四", community=city.community_a1, phone="13900000009"
    )
    account = make_user(None, None, resident=person)
    no_quiet_hours(account)
    send([account], channels=["sms"])
    assert set(deliveries_of(account)) == {"sms"}


def test_inactive_accounts_are_not_notified(make_user: Callable[..., User]) -> None:
    gone = make_user(None, None, email="gone@example.org")
    gone.is_active = False
    gone.save()
    dispatch = send([gone], channels=["email"])
    assert dispatch.recipient_count == 0
    assert not Notification.objects.filter(recipient=gone).exists()


def test_recipients_listed_twice_are_notified_once(resident: User) -> None:
    dispatch = send([resident, resident.pk, resident], channels=["inapp"])
    assert dispatch.recipient_count == 1


def test_unknown_kind_priority_or_channel_is_refused(resident: User) -> None:
    with pytest.raises(ValidationFailed) as kind:
        send([resident], kind="nope.never")
    with pytest.raises(ValidationFailed) as priority:
        send([resident], priority="urgent")
    with pytest.raises(ValidationFailed) as channel:
        send([resident], channels=["pigeon"])
    assert set(kind.value.errors) == {"kind"}
    assert set(priority.value.errors) == {"priority"}
    assert set(channel.value.errors) == {"channels"} and "pigeon" in channel.value.message
    assert not Dispatch.objects.exists()


def test_dedupe_key_notifies_each_recipient_once(resident: User, english_resident: User) -> None:
    send([resident], channels=["inapp"], dedupe_key="case-42-overdue")
    again = send([resident, english_resident], channels=["inapp"], dedupe_key="case-42-overdue")
    assert again.recipient_count == 1
    assert Notification.objects.filter(recipient=resident).count() == 1
    assert Notification.objects.filter(recipient=english_resident).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_sends_with_one_dedupe_key_notify_once(resident: User) -> None:
    """The second send either sees the first one's rows (SQLite: writers queue) or collides with
    them on the unique index (PostgreSQL) and reports a conflict; never a second notification."""
    inserted, committed = threading.Event(), threading.Event()
    # Keyed by thread: after the commit either thread may record its outcome first.
    outcomes: dict[str, str] = {}

    def first() -> None:
        try:
            with transaction.atomic():
                send([resident], channels=["inapp"], dedupe_key="flood-warning-7")
                inserted.set()
                time.sleep(0.3)
            outcomes["first"] = "sent"
        finally:
            committed.set()
            connection.close()

    def second() -> None:
        inserted.wait(10)
        try:
            with connection.execute_wrapper(wait_while_locked):
                dispatch = send([resident], channels=["inapp"], dedupe_key="flood-warning-7")
            outcomes["second"] = "deduped" if dispatch.recipient_count == 0 else "sent twice"
        except Conflict:
            outcomes["second"] = "conflict"
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcomes["first"] == "sent"
    assert outcomes["second"] in {"deduped", "conflict"}
    assert Notification.objects.filter(recipient=resident).count() == 1


def test_one_audit_row_per_send_call(
    resident: User, english_resident: User, operator: User
) -> None:
    dispatch = send([resident, english_resident], channels=["inapp", "email"], actor=operator)
    events = AuditEvent.objects.filter(action="notification.send")
    assert events.count() == 1
    event = events.get()
    assert event.actor == operator
    assert event.object_id == str(dispatch.pk)
    assert event.changes["recipients"] == 2
    assert event.changes["channels"] == ["inapp", "email"]


# Preferences ----------------------------------------------------------------------------


def test_a_switched_off_channel_is_skipped_for_that_category_only(resident: User) -> None:
    NotificationPreference.objects.create(
        user=resident, quiet_hours_enabled=False, channels={"system": {"sms": False}}
    )
    send([resident], channels=["email", "sms"])  # notify.test is in "system"
    assert set(deliveries_of(resident)) == {"email"}
    send([resident], kind="core.password_changed", context={}, channels=["sms"])  # "account"
    assert Delivery.objects.filter(notification__recipient=resident, channel="sms").count() == 1


def test_emergency_overrides_switched_off_channels(resident: User) -> None:
    NotificationPreference.objects.create(
        user=resident,
        quiet_hours_enabled=False,
        channels={"system": {"sms": False, "email": False}},
    )
    send([resident], channels=["email", "sms"], priority="emergency")
    assert set(deliveries_of(resident)) == {"email", "sms"}


def test_a_hard_opt_out_holds_even_in_an_emergency(resident: User) -> None:
    NotificationPreference.objects.create(
        user=resident, quiet_hours_enabled=False, blocked_channels=["sms"]
    )
    send([resident], channels=["email", "sms"], priority="emergency")
    assert set(deliveries_of(resident)) == {"email"}
    assert Notification.objects.filter(recipient=resident).count() == 1  # the inbox still has it


def test_preference_update_saves_validates_and_audits(resident: User) -> None:
    preference = services.preference_update(
        actor=resident,
        channels={"service": {"sms": False}},
        blocked_channels=["push"],
        quiet_hours_enabled=True,
        quiet_start=dt.time(23),
        quiet_end=dt.time(6),
        time_zone="Europe/London",
    )
    assert preference.quiet_hours() == (dt.time(23), dt.time(6))
    assert not preference.channel_enabled("service", "sms")
    event = AuditEvent.objects.get(action="notification.preference_update")
    assert event.actor == resident
    assert event.changes["time_zone"] == ["", "Europe/London"]

    with pytest.raises(ValidationFailed) as caught:
        services.preference_update(
            actor=resident,
            channels={"gossip": {"sms": True}, "service": {"fax": True}},
            blocked_channels=["inapp"],
            quiet_hours_enabled=True,
            quiet_start=dt.time(1),
            quiet_end=None,
            time_zone="Nowhere/City",
        )
    assert set(caught.value.errors) == {"channels", "blocked_channels", "quiet_hours", "time_zone"}
    assert NotificationPreference.objects.get(user=resident).time_zone == "Europe/London"


# Quiet hours --------------------------------------------------------------------------------


def quiet_around_now(user: User) -> dt.datetime:
    """Gives the user quiet hours from an hour ago to an hour ahead; returns when they end."""
    now = local_now().replace(second=0, microsecond=0)
    NotificationPreference.objects.update_or_create(
        user=user,
        defaults={
            "quiet_hours_enabled": True,
            "quiet_start": (now - dt.timedelta(hours=1)).time(),
            "quiet_end": (now + dt.timedelta(hours=1)).time(),
            "time_zone": "Asia/Shanghai",
        },
    )
    return now + dt.timedelta(hours=1)


def test_quiet_hours_defer_push_sms_and_email_until_they_end(
    resident: User, browser_keys: BrowserKeys
) -> None:
    PushSubscription.objects.create(
        user=resident,
        endpoint="https://push.example.org/1",
        p256dh=browser_keys.p256dh,
        auth=browser_keys.auth,
    )
    ends = quiet_around_now(resident)
    send([resident], channels=["inapp", "email", "sms", "push"])
    deliveries = deliveries_of(resident)
    assert {d.state for d in deliveries.values()} == {DeliveryState.DEFERRED}
    assert set(deliveries) == {"email", "sms", "push"}
    assert {d.next_attempt_at for d in deliveries.values()} == {ends}
    assert Notification.objects.filter(recipient=resident).exists()  # the inbox is immediate
    assert enqueued_delivery_ids() == []


def test_emergency_bypasses_quiet_hours(
    resident: User, django_capture_on_commit_callbacks: Any
) -> None:
    quiet_around_now(resident)
    with django_capture_on_commit_callbacks(execute=True):
        send([resident], channels=["email", "sms"], priority="emergency")
    deliveries = deliveries_of(resident)
    assert {d.state for d in deliveries.values()} == {DeliveryState.QUEUED}
    assert enqueued_delivery_ids() == sorted(d.pk for d in deliveries.values())
    priorities = set(DBTaskResult.objects.values_list("priority", flat=True))
    assert priorities == {services.EMERGENCY_TASK_PRIORITY}


def test_deployment_default_quiet_hours_apply_to_users_who_never_chose(resident: User) -> None:
    now = local_now()
    start = (now - dt.timedelta(hours=2)).strftime("%H:%M")
    end = (now + dt.timedelta(hours=2)).strftime("%H:%M")
    with profile(quiet_hours_default=f"{start}-{end}"):
        send([resident], channels=["sms"])
    assert deliveries_of(resident)["sms"].state == DeliveryState.DEFERRED


# Queueing -----------------------------------------------------------------------------------


def test_deliveries_are_enqueued_only_after_the_transaction_commits(
    resident: User, django_capture_on_commit_callbacks: Any
) -> None:
    no_quiet_hours(resident)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        send([resident], channels=["email", "sms"])
    assert enqueued_delivery_ids() == []
    assert len(callbacks) == 2  # one per channel
    for callback in callbacks:
        callback()
    assert enqueued_delivery_ids() == sorted(d.pk for d in deliveries_of(resident).values())


def test_a_rolled_back_send_enqueues_nothing(
    resident: User, django_capture_on_commit_callbacks: Any
) -> None:
    no_quiet_hours(resident)

    def send_then_fail() -> None:
        with transaction.atomic():
            send([resident], channels=["email"])
            raise RuntimeError("the caller's transaction fails after sending")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        pytest.raises(RuntimeError, send_then_fail)
    assert callbacks == []
    assert not Delivery.objects.exists()
    assert enqueued_delivery_ids() == []


def bulk_residents(count: int) -> list[int]:
    """A factory for many recipients at once: accounts inserted in bulk (creating 5,000 through
    user_create would test the account service, not the outbox)."""
    password = make_password(None)
    User.objects.bulk_create(
        [
            User(
                username=f"bulk{i:05d}",
                password=password,
                phone=f"139{i:08d}",
                email=f"bulk{i}@example.org",
                language="en" if i % 10 == 0 else "zh-hans",
            )
            for i in range(count)
        ],
        batch_size=1000,
    )
    ids = list(User.objects.filter(username__startswith="bulk").values_list("pk", flat=True))
    NotificationPreference.objects.bulk_create(
        [NotificationPreference(user_id=pk, quiet_hours_enabled=False) for pk in ids],
        batch_size=1000,
    )
    return ids


def test_bulk_send_to_5000_recipients_is_bulk_and_batched(
    operator: User,
    django_capture_on_commit_callbacks: Any,
    django_assert_max_num_queries: Any,
) -> None:
    ids = bulk_residents(5000)
    recipients = User.objects.filter(username__startswith="bulk")
    with django_capture_on_commit_callbacks(execute=True), django_assert_max_num_queries(40):
        dispatch = send(recipients, channels=["inapp", "sms"], actor=operator)
    assert dispatch.recipient_count == 5000
    assert dispatch.delivery_count == 5000
    assert Notification.objects.filter(dispatch=dispatch).count() == 5000
    assert Notification.objects.filter(dispatch=dispatch, language="en").count() == 500
    deliveries = Delivery.objects.filter(notification__dispatch=dispatch)
    assert deliveries.filter(channel="sms", state=DeliveryState.QUEUED).count() == 5000
    # One task per chunk of deliveries, not one per delivery, and each delivery in exactly one.
    tasks = DBTaskResult.objects.filter(task_path__endswith="deliveries_send")
    assert tasks.count() == 5000 // services.DELIVERY_TASK_CHUNK
    assert enqueued_delivery_ids() == sorted(deliveries.values_list("pk", flat=True))
    assert AuditEvent.objects.filter(action="notification.send").count() == 1
    assert len(ids) == 5000


# The operator's test send ---------------------------------------------------------------------


def test_only_operators_may_send_a_test_notification(
    resident: User, operator: User, city: Any, make_user: Callable[..., User]
) -> None:
    worker = make_user("community_worker", city.community_a1)
    with pytest.raises(PermissionDenied):
        services.notification_test_send(actor=worker, recipient=resident, channels=["inapp"])
    dispatch = services.notification_test_send(
        actor=operator, recipient=resident, channels=["inapp"], message="请确认收到"
    )
    assert dispatch.kind == "notify.test"
    assert "请确认收到" in Notification.objects.get(recipient=resident).body


# Reading ------------------------------------------------------------------------------------


def test_mark_read_is_idempotent_and_audited_once(resident: User) -> None:
    send([resident], channels=["inapp"])
    notification = Notification.objects.get(recipient=resident)
    services.notification_mark_read(actor=resident, notification_id=notification.pk)
    first = Notification.objects.get(pk=notification.pk).read_at
    services.notification_mark_read(actor=resident, notification_id=notification.pk)
    assert first is not None
    assert Notification.objects.get(pk=notification.pk).read_at == first
    assert AuditEvent.objects.filter(action="notification.read").count() == 1


def test_nobody_can_mark_someone_elses_notification_read(
    resident: User, english_resident: User
) -> None:
    send([resident], channels=["inapp"])
    notification = Notification.objects.get(recipient=resident)
    with pytest.raises(NotFound):
        services.notification_mark_read(actor=english_resident, notification_id=notification.pk)
    assert Notification.objects.get(pk=notification.pk).read_at is None


def test_mark_all_read_touches_only_the_actors_notifications(
    resident: User, english_resident: User
) -> None:
    for _ in range(3):
        send([resident, english_resident], channels=["inapp"])
    assert services.notification_mark_all_read(actor=resident) == 3
    assert not Notification.objects.filter(recipient=resident, read_at__isnull=True).exists()
    assert (
        Notification.objects.filter(recipient=english_resident, read_at__isnull=True).count() == 3
    )
    event = AuditEvent.objects.get(action="notification.read_all")
    assert event.changes == {"count": 3}


# Push subscriptions ---------------------------------------------------------------------------


@pytest.mark.usefixtures("push_service_dns")
def test_push_subscription_is_validated_saved_and_moves_with_the_browser(
    resident: User, english_resident: User, browser_keys: BrowserKeys
) -> None:
    endpoint = "https://fcm.googleapis.com/fcm/send/abc"
    services.push_subscription_save(
        actor=resident, endpoint=endpoint, p256dh=browser_keys.p256dh, auth=browser_keys.auth
    )
    services.push_subscription_save(
        actor=english_resident,
        endpoint=endpoint,
        p256dh=browser_keys.p256dh,
        auth=browser_keys.auth,
    )
    assert PushSubscription.objects.get(endpoint=endpoint).user == english_resident
    assert AuditEvent.objects.filter(action="push_subscription.save").count() == 2

    with pytest.raises(ValidationFailed) as caught:
        services.push_subscription_save(
            actor=resident, endpoint="http://10.0.0.1/internal", p256dh="AAAA", auth="not-16-bytes"
        )
    assert set(caught.value.errors) == {"endpoint", "p256dh", "auth"}

    assert services.push_subscription_delete(actor=english_resident, endpoint=endpoint)
    assert not PushSubscription.objects.exists()
