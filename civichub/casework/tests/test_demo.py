"""The demo's history of a message: backdated, in order, and never in the future; and a history
that leaves no work queued ahead of the first real message."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from random import Random
from typing import Any

import pytest
from django.utils import timezone

from civichub.casework import demo, services
from civichub.casework.models import Case, CaseStatus
from civichub.casework.tests.conftest import Casework
from civichub.core import services as core_services


def test_a_recent_demo_message_has_no_reply_dated_in_the_future(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    case = submit()
    services.case_assign(actor=cw.head, case=case, assignee=cw.handler)
    services.case_reply(actor=cw.handler, case=case, text="已处理。")
    services.case_rate(actor=cw.resident, case=case, value="satisfied")
    received = timezone.now() - dt.timedelta(hours=3)

    for seed in range(20):  # steps of 2 to 60 hours each would end days ahead of now
        demo._backdate(case, received, Random(seed))
        case.refresh_from_db()
        times = list(case.events.order_by("pk").values_list("created_at", flat=True))
        now = timezone.now()
        assert times == sorted(times) and times[0] == received
        assert all(t <= now for t in times), (seed, max(times) - now)
        assert case.first_replied_at is not None and case.first_replied_at <= now
        assert case.closed_at is not None and case.closed_at <= now


def test_an_old_demo_message_keeps_its_hours_to_days_between_steps(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    case = submit()
    services.case_assign(actor=cw.head, case=case, assignee=cw.handler)
    services.case_reply(actor=cw.handler, case=case, text="已处理。")
    received = timezone.now() - dt.timedelta(days=30)
    demo._backdate(case, received, Random(1))
    times = list(case.events.order_by("pk").values_list("created_at", flat=True))
    gaps = [b - a for a, b in zip(times[2:], times[3:], strict=False)]
    assert gaps and all(dt.timedelta(hours=2) <= g <= dt.timedelta(hours=60) for g in gaps)


def test_the_demo_history_queues_no_routing_and_tells_nobody_again(
    city: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    # Each demo message is routed as it is written; a task per message after commit would sit
    # ahead of a visitor's first message (300 of them took the worker about 10 s) and tell
    # their senders of months-old messages as if they had just arrived.
    monkeypatch.setitem(demo.MESSAGES, "small", 12)
    # A department for every category of the demo's taxonomy, as the demo city has.
    for n, function in enumerate({row[4] for row in demo.TAXONOMY} - {"health"}, start=1):
        if function != "public_security":
            core_services.organisation_create(
                actor=None,
                kind="department",
                name=f"{function} 局",
                code=f"T1.D{n + 1}",
                parent=city.city,
                function=function,
            )
    with django_capture_on_commit_callbacks() as callbacks:
        demo.seed(city=city.city, size="small")

    assert Case.objects.count() == 12
    assert not Case.objects.filter(status=CaseStatus.RECEIVED).exists()
    assert all(extra.get("acknowledged") for extra in Case.objects.values_list("extra", flat=True))
    assert not [c for c in callbacks if "after_intake" in repr(c)]
    assert services.cases_sweep(now=timezone.now() + dt.timedelta(days=1)).acknowledged == 0


def test_a_message_sent_is_routed_after_commit_unless_its_caller_routes_it(
    cw: Casework, django_capture_on_commit_callbacks: Any
) -> None:
    message = {"actor": cw.resident, "kind": "help", "title": "路灯坏了", "text": "楼下路灯坏了。"}
    with django_capture_on_commit_callbacks() as scheduled:
        services.case_submit(**message)
    with django_capture_on_commit_callbacks() as left:
        services.case_submit(**message, schedule_routing=False)

    assert [c for c in scheduled if "after_intake" in repr(c)]
    assert not [c for c in left if "after_intake" in repr(c)]
