"""The demo's history of a message: backdated, in order, and never in the future."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from random import Random

from django.utils import timezone

from civichub.casework import demo, services
from civichub.casework.models import Case
from civichub.casework.tests.conftest import Casework


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
