"""The set-based send (`notification_broadcast`) decides exactly what the per-person send
(`notification_send`) decides, for every kind of recipient a small city has."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django_tasks_db.models import DBTaskResult

from civichub.core import services as core_services
from civichub.core.errors import Conflict
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
from civichub.notify.tests.conftest import local_now, profile

pytestmark = pytest.mark.usefixtures("db_tasks")

CHANNELS = ["inapp", "email", "sms", "push"]


def push_to(user: User, n: int) -> None:
    PushSubscription.objects.create(
        user=user, endpoint=f"https://push.example.org/{n}", p256dh="k", auth="a"
    )


@pytest.fixture
def small_city(city: Any, make_user: Callable[..., User]) -> list[User]:
    """Recipients of every sort: reachable on some channels or none, with and without
    preferences (switched-off category, hard opt-out, own quiet hours now, quiet hours off, own
    time zone), another language, inactive."""
    now = local_now().replace(second=0, microsecond=0)

    def resident(username: str, resident_phone: str, **kwargs: Any) -> User:
        record = core_services.resident_create(
            actor=None, name=username, community=city.community_a1, phone=resident_phone
        )
        return make_user(None, None, username=username, resident=record, **kwargs)

    users = [
        make_user(None, None, username="plain", email="a@example.org", phone="13800000001"),
        make_user(None, None, username="email_only", email="b@example.org"),
        make_user(None, None, username="unreachable"),
        make_user(None, None, username="english", phone="13800000003", language="en"),
        make_user(None, None, username="odd_language", phone="13800000004", language="fr"),
        resident("resident_phone", "13900000005"),
        resident("both_phones", "13900000006", phone="13800000006"),
        make_user(None, None, username="pushed", email="c@example.org"),
        make_user(None, None, username="alert_sms_off", phone="13800000008"),
        make_user(None, None, username="sms_blocked", phone="13800000009", email="d@example.org"),
        make_user(None, None, username="quiet_now", phone="13800000010", email="e@example.org"),
        make_user(None, None, username="never_quiet", phone="13800000011"),
        make_user(None, None, username="far_away", phone="13800000012"),
        make_user(None, None, username="pushed_quiet", phone="13800000013"),
    ]
    by_name = {u.username: u for u in users}
    push_to(by_name["pushed"], 1)
    push_to(by_name["pushed_quiet"], 2)
    NotificationPreference.objects.create(
        user=by_name["alert_sms_off"], channels={"system": {"sms": False}}
    )
    NotificationPreference.objects.create(user=by_name["sms_blocked"], blocked_channels=["sms"])
    for name in ("quiet_now", "pushed_quiet"):
        NotificationPreference.objects.create(
            user=by_name[name],
            quiet_start=(now - dt.timedelta(hours=1)).time(),
            quiet_end=(now + dt.timedelta(hours=1)).time(),
            time_zone="Asia/Shanghai",
        )
    NotificationPreference.objects.create(user=by_name["never_quiet"], quiet_hours_enabled=False)
    # Quiet now in New York, whatever the hour: two hours around New York's present (never
    # around Shanghai's, 12 or 13 hours away), so the recipient's own time zone decides. A
    # window of 00:00-23:59 left the minute before midnight out.
    new_york = local_now("America/New_York")
    NotificationPreference.objects.create(
        user=by_name["far_away"],
        quiet_start=(new_york - dt.timedelta(hours=1)).time(),
        quiet_end=(new_york + dt.timedelta(hours=1)).time(),
        time_zone="America/New_York",
    )
    inactive = make_user(None, None, username="inactive", phone="13800000099")
    inactive.is_active = False
    inactive.save(update_fields=["is_active"])
    return [*users, inactive]


def outcome(dispatch: Dispatch) -> dict[str, Any]:
    """What a send decided, without the ids: inbox rows and deliveries per recipient."""
    return {
        "recipients": dispatch.recipient_count,
        "deliveries": dispatch.delivery_count,
        "inbox": sorted(
            Notification.objects.filter(dispatch=dispatch).values_list(
                "recipient__username", "language", "dedupe_key"
            )
        ),
        "deliveries_by_recipient": sorted(
            Delivery.objects.filter(notification__dispatch=dispatch).values_list(
                "notification__recipient__username",
                "channel",
                "state",
                "next_attempt_at",
                "attempts",
                "failure",
            ),
            key=repr,
        ),
    }


def both_ways(
    recipients: Any, *, priority: str, channels: list[str] = CHANNELS
) -> tuple[dict[str, Any], dict[str, Any]]:
    context = {"sender": "运维", "message": "演练"}
    per_person = services.notification_send(
        recipients=recipients,
        kind="notify.test",
        context=context,
        channels=channels,
        priority=priority,
    )
    set_based = services.notification_broadcast(
        recipients=recipients,
        kind="notify.test",
        context=context,
        channels=channels,
        priority=priority,
    )
    return outcome(per_person), outcome(set_based)


@pytest.mark.parametrize("priority", ["normal", "emergency"])
def test_set_based_send_gives_the_same_inbox_rows_and_deliveries_as_the_per_person_send(
    small_city: list[User], priority: str
) -> None:
    recipients = User.objects.filter(pk__in=[u.pk for u in small_city])
    with profile(quiet_hours_default="off"):
        per_person, set_based = both_ways(recipients, priority=priority)
    assert set_based == per_person
    deliveries = {
        (name, channel): state for name, channel, state, *_ in per_person["deliveries_by_recipient"]
    }
    # The comparison covers each rule, so a rule both paths ignored would show here.
    assert ("inactive", "sms") not in deliveries
    assert ("unreachable", "email") not in deliveries
    assert deliveries[("resident_phone", "sms")] == DeliveryState.QUEUED
    assert deliveries[("pushed", "push")] == DeliveryState.QUEUED
    assert ("sms_blocked", "sms") not in deliveries  # a hard opt-out holds even in emergencies
    if priority == "emergency":
        assert deliveries[("alert_sms_off", "sms")] == DeliveryState.QUEUED
        assert deliveries[("quiet_now", "sms")] == DeliveryState.QUEUED
    else:
        assert ("alert_sms_off", "sms") not in deliveries
        assert deliveries[("quiet_now", "sms")] == DeliveryState.DEFERRED
        assert deliveries[("pushed_quiet", "push")] == DeliveryState.DEFERRED
        assert deliveries[("far_away", "sms")] == DeliveryState.DEFERRED
    assert ("odd_language", "zh-hans", "") in per_person["inbox"]
    assert ("english", "en", "") in per_person["inbox"]


def test_deployment_quiet_hours_defer_everyone_without_preferences_the_same_way(
    small_city: list[User],
) -> None:
    now = local_now()
    hours = f"{(now - dt.timedelta(hours=2)):%H:%M}-{(now + dt.timedelta(hours=2)):%H:%M}"
    recipients = User.objects.filter(pk__in=[u.pk for u in small_city])
    with profile(quiet_hours_default=hours):
        per_person, set_based = both_ways(recipients, priority="normal")
    assert set_based == per_person
    states = {(n, c): s for n, c, s, *_ in set_based["deliveries_by_recipient"]}
    assert states[("plain", "sms")] == DeliveryState.DEFERRED
    assert states[("never_quiet", "sms")] == DeliveryState.QUEUED


def test_a_queryset_of_user_ids_works_like_a_queryset_of_users(small_city: list[User]) -> None:
    ids = User.objects.filter(username__in=["plain", "english"]).values_list("pk", flat=True)
    dispatch = services.notification_broadcast(
        recipients=ids, kind="notify.test", context={"sender": "运维"}, channels=["sms"]
    )
    assert sorted(
        Notification.objects.filter(dispatch=dispatch).values_list("recipient__username", flat=True)
    ) == ["english", "plain"]


def test_queued_deliveries_are_enqueued_after_commit_in_chunks_and_the_send_audited_once(
    small_city: list[User], django_capture_on_commit_callbacks: Any
) -> None:
    recipients = User.objects.filter(pk__in=[u.pk for u in small_city])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        dispatch = services.notification_broadcast(
            recipients=recipients,
            kind="notify.test",
            context={"sender": "运维"},
            channels=CHANNELS,
            priority="emergency",
        )
    assert not DBTaskResult.objects.exists()
    for callback in callbacks:
        callback()
    queued = Delivery.objects.filter(notification__dispatch=dispatch, state=DeliveryState.QUEUED)
    enqueued: list[int] = []
    for result in DBTaskResult.objects.filter(task_path__endswith="deliveries_send"):
        enqueued.extend(result.args_kwargs["args"][0])
        assert result.priority == services.EMERGENCY_TASK_PRIORITY
    assert sorted(enqueued) == sorted(queued.values_list("pk", flat=True))
    audit = AuditEvent.objects.get(action="notification.send", object_id=str(dispatch.pk))
    assert audit.changes["recipients"] == dispatch.recipient_count == len(small_city) - 1


def test_a_dedupe_key_notifies_nobody_twice(small_city: list[User]) -> None:
    first = User.objects.filter(username__in=["plain", "english"])
    services.notification_send(
        recipients=first, kind="notify.test", context={}, channels=["sms"], dedupe_key="k1"
    )
    everyone = User.objects.filter(pk__in=[u.pk for u in small_city])
    dispatch = services.notification_broadcast(
        recipients=everyone, kind="notify.test", context={}, channels=["sms"], dedupe_key="k1"
    )
    assert dispatch.recipient_count == len(small_city) - 1 - 2
    assert Notification.objects.filter(dedupe_key="k1").count() == len(small_city) - 1
    again = services.notification_broadcast(
        recipients=everyone, kind="notify.test", context={}, channels=["sms"], dedupe_key="k1"
    )
    assert again.recipient_count == 0
    assert not Delivery.objects.filter(notification__dispatch=again).exists()


def test_a_clash_on_the_dedupe_key_is_a_conflict(
    small_city: list[User], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A concurrent send with the same key that commits first makes the unique index refuse."""
    from django.db.models import QuerySet

    everyone = User.objects.filter(pk__in=[u.pk for u in small_city])
    services.notification_send(recipients=everyone, kind="notify.test", context={}, dedupe_key="k")
    # Hide the earlier rows from the dedupe filter, as a not-yet-committed concurrent send would.
    original = QuerySet.exclude

    def blind_exclude(self: QuerySet[Any], *args: Any, **kwargs: Any) -> QuerySet[Any]:
        return self if self.model is User else original(self, *args, **kwargs)

    monkeypatch.setattr(QuerySet, "exclude", blind_exclude)
    with pytest.raises(Conflict) as caught:
        services.notification_broadcast(
            recipients=everyone, kind="notify.test", context={}, dedupe_key="k"
        )
    assert "dedupe_key" in caught.value.errors
