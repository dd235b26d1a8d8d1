"""Delivering: claims, leases, retries with backoff, the sweep, and the race between a retry and
a success, on the real database."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from civichub.core.models import AuditEvent, User
from civichub.notify import services, tasks
from civichub.notify.channels import ChannelAdapter, LoggingSmsAdapter, TemporaryDeliveryError
from civichub.notify.models import (
    Delivery,
    DeliveryState,
    FailureKind,
    NotificationPreference,
    SmsLog,
)
from civichub.notify.tests.conftest import (
    DB_TASKS,
    IMMEDIATE_TASKS,
    local_now,
    no_quiet_hours,
    profile,
    wait_while_locked,
)


def queue_sms(recipient: User, capture: Any, *, priority: str = "normal") -> Delivery:
    """One queued SMS delivery; its task is left unrun."""
    with capture(execute=False):
        services.notification_send(
            recipients=[recipient],
            kind="notify.test",
            context={"sender": "运维"},
            channels=["sms"],
            priority=priority,
        )
    return Delivery.objects.get(notification__recipient=recipient, channel="sms")


@pytest.fixture
def queued(resident: User, django_capture_on_commit_callbacks: Any) -> Delivery:
    no_quiet_hours(resident)
    return queue_sms(resident, django_capture_on_commit_callbacks)


def refreshed(delivery: Delivery) -> Delivery:
    return Delivery.objects.get(pk=delivery.pk)


# Claims and leases ----------------------------------------------------------------------------


def test_two_claims_on_one_delivery_give_it_to_one_worker(queued: Delivery) -> None:
    first = services.delivery_claim(delivery_ids=[queued.pk])
    second = services.delivery_claim(delivery_ids=[queued.pk])
    assert [d.pk for d in first.deliveries] == [queued.pk]
    assert second.deliveries == []
    row = refreshed(queued)
    assert (row.state, row.lease_token, row.attempts) == (DeliveryState.SENDING, first.token, 1)


def test_a_worker_whose_lease_ran_out_does_not_send(queued: Delivery) -> None:
    claim = services.delivery_claim(
        delivery_ids=[queued.pk], now=timezone.now() - dt.timedelta(hours=1)
    )
    outcome = services.delivery_attempt(
        delivery=claim.deliveries[0],
        token=claim.token,
        expires_at=claim.expires_at,
        adapter=LoggingSmsAdapter(),
    )
    assert outcome == "lapsed"
    assert not SmsLog.objects.exists()


def test_a_retry_racing_a_success_sends_once(queued: Delivery) -> None:
    # Worker A claims, then stalls past its lease; the sweep takes the delivery back and worker
    # B sends it. When A wakes up it must neither send again nor overwrite B's result.
    stalled = services.delivery_claim(delivery_ids=[queued.pk])
    later = stalled.expires_at + dt.timedelta(seconds=1)
    with override_settings(TASKS=DB_TASKS):
        sweep = services.delivery_sweep(now=later)
    assert sweep.reclaimed == 1
    retry = services.delivery_claim(delivery_ids=[queued.pk], now=later)
    assert retry.token != stalled.token
    assert (
        services.delivery_attempt(
            delivery=retry.deliveries[0],
            token=retry.token,
            expires_at=timezone.now() + dt.timedelta(minutes=5),
            adapter=LoggingSmsAdapter(),
        )
        == "sent"
    )

    # A's own clock says its lease still holds; the row says otherwise.
    assert timezone.now() < stalled.expires_at
    assert (
        services.delivery_attempt(
            delivery=stalled.deliveries[0],
            token=stalled.token,
            expires_at=stalled.expires_at,
            adapter=LoggingSmsAdapter(),
        )
        == "lapsed"
    )
    assert not services.delivery_mark_sent(delivery=stalled.deliveries[0], token=stalled.token)
    assert SmsLog.objects.count() == 1
    row = refreshed(queued)
    assert (row.state, row.attempts) == (DeliveryState.SENT, 2)


def test_mark_sent_only_while_the_claim_holds(queued: Delivery) -> None:
    claim = services.delivery_claim(delivery_ids=[queued.pk])
    with override_settings(TASKS=DB_TASKS):
        services.delivery_sweep(now=claim.expires_at)
    assert not services.delivery_mark_sent(delivery=claim.deliveries[0], token=claim.token)
    assert refreshed(queued).state == DeliveryState.QUEUED


class SlowSms(LoggingSmsAdapter):
    """Holds each send open a little, so that competing workers overlap."""

    def send(self, delivery: Delivery) -> None:
        time.sleep(0.01)
        super().send(delivery)


@pytest.mark.django_db(transaction=True)
@override_settings(TASKS=DB_TASKS, SMS_ADAPTER=f"{__name__}.SlowSms")
def test_workers_racing_over_the_same_deliveries_send_each_exactly_once(
    make_user: Callable[..., User],
) -> None:
    recipients = [make_user(None, None, phone=f"1370000{i:04d}") for i in range(30)]
    for user in recipients:
        no_quiet_hours(user)
    services.notification_send(
        recipients=recipients, kind="notify.test", context={"sender": "运维"}, channels=["sms"]
    )
    ids = list(Delivery.objects.order_by("pk").values_list("pk", flat=True))
    workers = 4
    start = threading.Barrier(workers)
    outcomes: list[dict[str, int]] = []
    errors: list[BaseException] = []

    def worker(order: list[int]) -> None:
        try:
            start.wait()
            with connection.execute_wrapper(wait_while_locked):
                outcomes.append(tasks.deliveries_send.call(order))
        except BaseException as exc:  # surfaced below; a thread cannot fail the test itself
            errors.append(exc)
        finally:
            connection.close()

    # Two workers walk the ids forwards, two backwards, so they meet in the middle.
    threads = [
        threading.Thread(target=worker, args=(ids if n % 2 else ids[::-1],)) for n in range(workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sum(o.get("sent", 0) for o in outcomes) == 30
    assert SmsLog.objects.count() == 30
    assert sorted(SmsLog.objects.values_list("delivery_id", flat=True)) == ids
    assert set(Delivery.objects.values_list("state", "attempts")) == {(DeliveryState.SENT, 1)}


# Retries ------------------------------------------------------------------------------------


class GatewayDown(ChannelAdapter):
    def send(self, delivery: Delivery) -> None:
        raise TemporaryDeliveryError("gateway timeout")


@profile(notification_backoff_seconds=30)
def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    for attempt in range(1, 6):
        ceiling = 30 * 2 ** (attempt - 1)
        delays = {services.retry_delay(attempt).total_seconds() for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered
    assert services.retry_delay(40) <= dt.timedelta(seconds=services.MAX_BACKOFF_SECONDS)


@override_settings(SMS_ADAPTER=f"{__name__}.GatewayDown", TASKS=IMMEDIATE_TASKS)
@profile(notification_max_attempts=3, notification_backoff_seconds=60)
def test_temporary_failures_are_retried_with_backoff_then_fail_permanently(
    queued: Delivery, django_capture_on_commit_callbacks: Any
) -> None:
    tasks.deliveries_send.call([queued.pk])
    gaps = []
    for attempt in (1, 2):
        row = refreshed(queued)
        assert (row.state, row.failure, row.attempts) == (
            DeliveryState.FAILED,
            FailureKind.TEMPORARY,
            attempt,
        )
        assert row.next_attempt_at is not None
        gap = (row.next_attempt_at - row.updated_at).total_seconds()
        assert 60 * 2 ** (attempt - 1) / 2 <= gap <= 60 * 2 ** (attempt - 1)
        gaps.append(gap)
        # Not yet due: the sweep leaves it alone. Due: the sweep sends it again.
        with django_capture_on_commit_callbacks(execute=True):
            assert (
                services.delivery_sweep(now=row.next_attempt_at - dt.timedelta(seconds=1)).requeued
                == 0
            )
        with django_capture_on_commit_callbacks(execute=True):
            assert services.delivery_sweep(now=row.next_attempt_at).requeued == 1
    row = refreshed(queued)
    assert (row.state, row.failure, row.attempts) == (
        DeliveryState.FAILED,
        FailureKind.PERMANENT,
        3,
    )
    assert row.next_attempt_at is None
    assert row.last_error == "gateway timeout"
    with django_capture_on_commit_callbacks(execute=True):
        assert services.delivery_sweep(now=timezone.now() + dt.timedelta(days=30)).requeued == 0


@override_settings(SMS_ADAPTER=f"{__name__}.GatewayDown")
@profile(notification_backoff_seconds=30)  # the first retry comes 15-30 s later
def test_a_retry_that_would_wake_the_recipient_waits_for_quiet_hours_to_end(
    resident: User, django_capture_on_commit_callbacks: Any
) -> None:
    now = local_now()
    ends = (now + dt.timedelta(hours=2)).replace(microsecond=0)
    NotificationPreference.objects.create(
        user=resident,
        quiet_start=(now + dt.timedelta(seconds=5)).time(),
        quiet_end=ends.time(),
        time_zone="Asia/Shanghai",
    )
    delivery = queue_sms(resident, django_capture_on_commit_callbacks)
    assert delivery.state == DeliveryState.QUEUED  # quiet hours had not begun
    tasks.deliveries_send.call([delivery.pk])
    assert refreshed(delivery).next_attempt_at == ends


@override_settings(SMS_ADAPTER=f"{__name__}.GatewayDown")
def test_an_emergency_retry_ignores_quiet_hours(
    resident: User, django_capture_on_commit_callbacks: Any
) -> None:
    now = local_now()
    NotificationPreference.objects.create(
        user=resident,
        quiet_start=(now - dt.timedelta(hours=1)).time(),
        quiet_end=(now + dt.timedelta(hours=3)).time(),
        time_zone="Asia/Shanghai",
    )
    delivery = queue_sms(resident, django_capture_on_commit_callbacks, priority="emergency")
    tasks.deliveries_send.call([delivery.pk])
    next_at = refreshed(delivery).next_attempt_at
    assert next_at is not None and next_at < timezone.now() + dt.timedelta(minutes=2)


def test_an_adapter_bug_is_retried_like_an_outage(queued: Delivery) -> None:
    class Broken(ChannelAdapter):
        def send(self, delivery: Delivery) -> None:
            raise KeyError("template variable")

    claim = services.delivery_claim(delivery_ids=[queued.pk])
    outcome = services.delivery_attempt(
        delivery=claim.deliveries[0],
        token=claim.token,
        expires_at=claim.expires_at,
        adapter=Broken(),
    )
    assert outcome == FailureKind.TEMPORARY
    assert "KeyError" in refreshed(queued).last_error


# The sweep ----------------------------------------------------------------------------------


@override_settings(TASKS=DB_TASKS)
def test_the_sweep_sends_deferred_deliveries_when_quiet_hours_end(
    resident: User, django_capture_on_commit_callbacks: Any
) -> None:
    now = local_now()
    NotificationPreference.objects.create(
        user=resident,
        quiet_start=(now - dt.timedelta(hours=1)).time(),
        quiet_end=(now + dt.timedelta(hours=1)).time(),
        time_zone="Asia/Shanghai",
    )
    delivery = queue_sms(resident, django_capture_on_commit_callbacks)
    assert delivery.state == DeliveryState.DEFERRED and delivery.next_attempt_at is not None
    with django_capture_on_commit_callbacks(execute=True):
        assert services.delivery_sweep().requeued == 0
    assert not DBTaskResult.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        result = services.delivery_sweep(now=delivery.next_attempt_at)
    assert (result.requeued, result.tasks) == (1, 1)
    assert refreshed(delivery).state == DeliveryState.QUEUED
    assert DBTaskResult.objects.get().args_kwargs["args"] == [[delivery.pk]]
    assert AuditEvent.objects.filter(action="notification.sweep").count() == 1


@override_settings(TASKS=DB_TASKS)
@profile(notification_max_attempts=2)
def test_the_sweep_takes_back_leases_of_dead_workers_and_gives_up_after_the_last_attempt(
    queued: Delivery, django_capture_on_commit_callbacks: Any
) -> None:
    claim = services.delivery_claim(delivery_ids=[queued.pk])
    with django_capture_on_commit_callbacks(execute=True):
        assert services.delivery_sweep(now=claim.expires_at).reclaimed == 1
    row = refreshed(queued)
    assert (row.state, row.lease_token, row.attempts) == (DeliveryState.QUEUED, "", 1)

    claim = services.delivery_claim(delivery_ids=[queued.pk])  # attempt 2, and the worker dies
    with django_capture_on_commit_callbacks(execute=True):
        assert services.delivery_sweep(now=claim.expires_at).abandoned == 1
    row = refreshed(queued)
    assert (row.state, row.failure) == (DeliveryState.FAILED, FailureKind.PERMANENT)


class WorkerKilled(BaseException):
    """Stands in for kill -9: not an Exception, so nothing on the way out records an outcome."""


class DyingAdapter(LoggingSmsAdapter):
    def __init__(self, sends_before_death: int) -> None:
        self.left = sends_before_death

    def send(self, delivery: Delivery) -> None:
        if self.left == 0:
            raise WorkerKilled
        self.left -= 1
        super().send(delivery)


@override_settings(TASKS=DB_TASKS)
@profile(notification_lease_seconds=30)
def test_a_worker_killed_mid_task_leaves_the_rest_of_its_chunk_to_the_sweep_after_the_lease(
    make_user: Callable[..., User], django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    people = [make_user(None, None, phone=f"1390000{n:04d}") for n in range(45)]
    for person in people:
        no_quiet_hours(person)
    with django_capture_on_commit_callbacks(execute=False):
        services.notification_send(
            recipients=people, kind="notify.test", context={"sender": "运维"}, channels=["sms"]
        )
    ids = sorted(Delivery.objects.values_list("pk", flat=True))
    adapter = DyingAdapter(sends_before_death=7)
    monkeypatch.setattr("civichub.notify.services.delivering.adapter_for", lambda _c: adapter)
    with pytest.raises(WorkerKilled):
        services.delivery_batch_send(delivery_ids=ids)
    assert SmsLog.objects.count() == 7
    # Every delivery the dead worker had not finished is under its lease, none left queued
    # without a task for the hour-long stale sweep.
    states = list(Delivery.objects.values_list("state", flat=True))
    assert states.count(DeliveryState.SENT) == 7
    assert states.count(DeliveryState.SENDING) == 38
    lease_end = max(
        at
        for at in Delivery.objects.filter(state=DeliveryState.SENDING).values_list(
            "lease_expires_at", flat=True
        )
        if at is not None
    )
    assert lease_end <= timezone.now() + dt.timedelta(seconds=30)
    with django_capture_on_commit_callbacks(execute=True):
        result = services.delivery_sweep(now=lease_end)
    assert (result.reclaimed, result.requeued) == (38, 0)
    monkeypatch.undo()
    for task in DBTaskResult.objects.all():
        tasks.deliveries_send.call(*task.args_kwargs["args"])
    assert Delivery.objects.filter(state=DeliveryState.SENT).count() == 45
    assert SmsLog.objects.count() == 45


@profile(notification_lease_seconds=30)
def test_a_live_worker_renews_its_lease_so_a_slow_batch_is_not_taken_back(
    queued: Delivery,
) -> None:
    claim = services.delivery_claim(delivery_ids=[queued.pk])
    assert claim.lease_seconds == 30
    started = claim.expires_at - dt.timedelta(seconds=30)
    assert not claim.renewal_due(started + dt.timedelta(seconds=9))
    assert claim.renewal_due(started + dt.timedelta(seconds=11))
    assert services.delivery_claim_renew(claim=claim, now=started + dt.timedelta(seconds=20)) == 1
    assert claim.expires_at == started + dt.timedelta(seconds=50)
    # The sweep at the original end of the lease finds nothing to take back.
    assert services.delivery_sweep(now=started + dt.timedelta(seconds=31)).reclaimed == 0
    assert refreshed(queued).lease_expires_at == claim.expires_at
    # A worker that stalled past its lease cannot renew it.
    assert services.delivery_claim_renew(claim=claim, now=claim.expires_at) == 0


def test_a_delivery_task_renews_its_lease_between_sends(
    make_user: Callable[..., User], django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    people = [make_user(None, None, phone=f"1380000{n:04d}") for n in range(3)]
    for person in people:
        no_quiet_hours(person)
    with django_capture_on_commit_callbacks(execute=False):
        services.notification_send(
            recipients=people, kind="notify.test", context={"sender": "运维"}, channels=["sms"]
        )
    renewals: list[int] = []
    real_renew = services.delivering.delivery_claim_renew

    def renew(*, claim: services.Claim) -> int:
        renewals.append(real_renew(claim=claim))
        return renewals[-1]

    monkeypatch.setattr(services.delivering.Claim, "renewal_due", lambda self, now: True)
    monkeypatch.setattr(services.delivering, "delivery_claim_renew", renew)
    ids = list(Delivery.objects.values_list("pk", flat=True))
    assert services.delivery_batch_send(delivery_ids=ids) == {"sent": 3}
    assert renewals == [3, 2, 1]  # each renewal covers what the worker has still to send


def test_the_lease_has_a_floor() -> None:
    with profile(notification_lease_seconds=0):
        assert services.claim_lease_seconds() == 5


@override_settings(TASKS=DB_TASKS)
def test_the_sweep_enqueues_again_a_queued_delivery_whose_task_was_lost(
    queued: Delivery, django_capture_on_commit_callbacks: Any
) -> None:
    assert not DBTaskResult.objects.exists()  # the send's task never reached the queue
    soon = timezone.now() + dt.timedelta(minutes=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.delivery_sweep(now=soon).requeued == 0  # might still be in flight
    later = timezone.now() + dt.timedelta(seconds=services.STALE_QUEUE_SECONDS + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.delivery_sweep(now=later).requeued == 1
    assert DBTaskResult.objects.get().args_kwargs["args"] == [[queued.pk]]


@override_settings(TASKS=DB_TASKS)
def test_the_periodic_sweep_task_runs_the_sweep(
    queued: Delivery, django_capture_on_commit_callbacks: Any
) -> None:
    Delivery.objects.filter(pk=queued.pk).update(enqueued_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        result = tasks.deliveries_sweep.call()
    assert result == {"requeued": 1, "reclaimed": 0, "abandoned": 0, "tasks": 1, "unsealed": 0}
    assert AuditEvent.objects.get(action="notification.sweep").actor_label == "system:task"


# The task ------------------------------------------------------------------------------------


def test_running_a_delivery_task_twice_sends_once(queued: Delivery) -> None:
    first = tasks.deliveries_send.call([queued.pk])
    second = tasks.deliveries_send.call([queued.pk])
    assert first == {"sent": 1}
    assert second == {"not_claimed": 1}
    assert SmsLog.objects.count() == 1
    event = AuditEvent.objects.get(action="notification.deliver")
    assert event.changes == {"outcomes": {"sent": 1}, "deliveries": [queued.pk]}
    assert event.actor_label == "system:task"


@pytest.mark.django_db(transaction=True)  # the worker manages its own connection
@override_settings(TASKS=DB_TASKS)
def test_the_database_worker_delivers_what_the_web_process_enqueued(resident: User) -> None:
    no_quiet_hours(resident)
    services.notification_send(
        recipients=[resident], kind="notify.test", context={"sender": "运维"}, channels=["sms"]
    )
    assert DBTaskResult.objects.filter(status="READY").count() == 1
    call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0)
    assert Delivery.objects.get(notification__recipient=resident).state == DeliveryState.SENT
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"
