"""Tasks: thin and idempotent; a failing routing task leaves the message in place."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from django_tasks import TaskResultStatus
from django_tasks.signals import task_enqueued

from civichub.casework import services, tasks
from civichub.casework.models import Case, CaseStatus
from civichub.casework.tests.conftest import Casework
from civichub.core.registry import periodic_tasks
from civichub.notify import tasks as notify_tasks

pytestmark = pytest.mark.django_db


def test_failing_routing_task_fails_but_the_message_stays_received(cw: Casework) -> None:
    case = services.case_submit(actor=cw.resident, kind="complaint", text="医院挂号难").case

    with mock.patch("civichub.casework.routing.classify", side_effect=RuntimeError("boom")):
        result = tasks.route_case.enqueue(case.pk)

    case.refresh_from_db()
    assert result.status == TaskResultStatus.FAILED
    assert case.status == CaseStatus.RECEIVED and case.routing_attempts == 1
    assert tasks.route_case.enqueue(case.pk).status == TaskResultStatus.SUCCESSFUL
    case.refresh_from_db()
    assert case.status == CaseStatus.ASSIGNED


def test_acknowledgement_task_is_idempotent(cw: Casework) -> None:
    from civichub.notify.models import Notification

    case = services.case_submit(actor=cw.resident, kind="help", text="求助").case

    tasks.acknowledge_case.enqueue(case.pk)
    tasks.acknowledge_case.enqueue(case.pk)

    assert (
        Notification.objects.filter(
            recipient=cw.resident, dispatch__kind="casework.case_received"
        ).count()
        == 1
    )


def test_periodic_tasks_are_declared_and_run(
    cw: Casework, submit: Callable[..., Case], frozen_now: Callable[..., Any]
) -> None:
    names = {p.name: p.task for p in periodic_tasks()}
    assert names["casework.sweep"] == "civichub.casework.tasks.sweep_cases"
    assert names["casework.escalate"] == "civichub.casework.tasks.escalate_overdue_cases"
    case = submit()
    assert case.due_at is not None

    with frozen_now(case.due_at + dt.timedelta(hours=2)):
        escalated = tasks.escalate_overdue_cases.enqueue()
        swept = tasks.sweep_cases.enqueue()

    assert escalated.return_value == {"checked": 1, "escalated": 1}
    assert swept.return_value == {"routed": 0, "failed": 0, "acknowledged": 0}


def test_intake_enqueues_one_task_that_routes_then_acknowledges(
    cw: Casework, django_capture_on_commit_callbacks: Any
) -> None:
    from civichub.notify.models import Notification

    enqueued: list[str] = []

    def record(sender: Any, task_result: Any, **_: Any) -> None:
        enqueued.append(task_result.task.name)

    task_enqueued.connect(record)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            case = services.case_submit(actor=cw.resident, kind="complaint", text="医院挂号难").case
    finally:
        task_enqueued.disconnect(record)

    # Intake itself enqueues one task. Running it sends the acknowledgement, whose deliveries are
    # notify's own tasks: enqueued at once outside the resident's quiet hours, held during them,
    # so their number depends on the clock and is not this test's concern.
    assert enqueued[0] == tasks.after_intake.name
    assert [name for name in enqueued if name != notify_tasks.deliveries_send.name] == [
        tasks.after_intake.name
    ]
    case.refresh_from_db()
    assert case.status == CaseStatus.ASSIGNED and case.extra.get("acknowledged") is True
    assert Notification.objects.filter(
        recipient=cw.resident, dispatch__kind="casework.case_received"
    ).exists()


def test_after_intake_still_acknowledges_when_routing_fails(cw: Casework) -> None:
    case = services.case_submit(actor=cw.resident, kind="complaint", text="医院挂号难").case

    with mock.patch("civichub.casework.routing.classify", side_effect=RuntimeError("boom")):
        result = tasks.after_intake.enqueue(case.pk)

    case.refresh_from_db()
    assert result.status == TaskResultStatus.FAILED
    assert case.status == CaseStatus.RECEIVED and case.routing_attempts == 1
    assert case.extra.get("acknowledged") is True
