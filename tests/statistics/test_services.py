"""The rollup: every module's measures added to the daily table from their watermarks, once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from civichub.casework import services as casework
from civichub.casework.models import Case
from civichub.casework.tests.conftest import Casework
from civichub.core.models import AuditEvent
from civichub.statistics.models import DailyFigure, Watermark
from civichub.statistics.services import figures_roll_up
from tests.statistics.conftest import LATER

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


def totals(measure: str, **where: Any) -> tuple[float, int]:
    value = count = 0.0
    for row in DailyFigure.objects.filter(measure=measure, **where):
        value += row.value
        count += row.count
    return round(value, 4), int(count)


def test_casework_rollup_agrees_with_caseworks_own_figures(
    cw: Casework, known: dict[str, Case]
) -> None:
    figures_roll_up(now=LATER)

    assert totals("casework.received") == (6, 6)  # the merged duplicate is not counted
    # first replies after 2, 4, 10, 6 and 1 hours
    assert totals("casework.response_hours") == (23.0, 5)
    assert totals("casework.satisfaction") == (2, 3)  # satisfied, unsatisfied, basic
    assert totals("casework.received", organisation=cw.city.health_a) == (5, 5)
    assert totals("casework.received", area=cw.city.community_b1, breakdown="security") == (1, 1)
    by_day = dict(
        DailyFigure.objects.filter(measure="casework.received", organisation=cw.city.health_a)
        .values_list("day", "value")
        .order_by("day")
    )
    assert by_day == {
        dt.date(2026, 3, 9): 2,
        dt.date(2026, 3, 10): 1,
        dt.date(2026, 3, 16): 1,
        dt.date(2026, 3, 17): 1,
    }


def test_rollup_is_incremental_and_counts_each_row_once(
    cw: Casework, known: dict[str, Case], submit: Callable[..., Case], frozen_now: Any
) -> None:
    first = figures_roll_up(now=LATER)
    mark = Watermark.objects.get(source="casework.cases").position
    rows = DailyFigure.objects.count()

    assert figures_roll_up(now=LATER)["casework.cases"] == 0
    assert Watermark.objects.get(source="casework.cases").position == mark
    assert DailyFigure.objects.count() == rows

    with frozen_now(LATER):
        submit(title="新留言")
    second = figures_roll_up(now=LATER + dt.timedelta(hours=1))

    assert first["casework.cases"] > 0 and second["casework.cases"] == 1
    assert totals("casework.received") == (7, 7)
    assert int(Watermark.objects.get(source="casework.cases").position) > int(mark)
    assert AuditEvent.objects.filter(action="statistics.rollup").exists()


def test_rows_that_have_not_settled_wait_for_the_next_rollup(
    cw: Casework, submit: Callable[..., Case], frozen_now: Any
) -> None:
    with frozen_now(LATER):
        submit()

    figures_roll_up(now=LATER + dt.timedelta(minutes=1))  # younger than settle_minutes
    assert totals("casework.received") == (0, 0)

    figures_roll_up(now=LATER + dt.timedelta(minutes=10))
    assert totals("casework.received") == (1, 1)


def test_a_later_rating_replaces_the_earlier_one(
    cw: Casework, submit: Callable[..., Case], frozen_now: Any
) -> None:
    with frozen_now(LATER):
        case = submit()
        casework.case_reply(actor=cw.handler, case=case, text="答复")
        casework.case_rate(actor=cw.resident, case=case, value="unsatisfied")
    figures_roll_up(now=LATER + dt.timedelta(days=1))
    assert totals("casework.satisfaction") == (0, 1)

    later = LATER + dt.timedelta(days=3)
    with frozen_now(later):
        case.refresh_from_db()
        casework.case_reply(actor=cw.handler, case=case, text="再次答复")
        casework.case_rate(actor=cw.resident, case=case, value="satisfied")
    figures_roll_up(now=later + dt.timedelta(days=1))

    assert totals("casework.satisfaction") == (1, 1)  # one case, its latest rating
    assert totals("casework.satisfaction", day=later.date()) == (1, 1)
    assert totals("casework.satisfaction", day=LATER.date()) == (0, 0)


def test_a_rollup_in_small_steps_gives_the_same_figures(
    cw: Casework, known: dict[str, Case], settings: Any
) -> None:
    settings.CIVICHUB_STATISTICS = {"batch_rows": 2}
    figures_roll_up(now=LATER)

    assert totals("casework.received") == (6, 6)
    assert totals("casework.response_hours") == (23.0, 5)
    assert totals("casework.satisfaction") == (2, 3)


def test_a_duplicate_merged_after_it_was_counted_is_taken_back(
    cw: Casework, submit: Callable[..., Case], frozen_now: Any
) -> None:
    with frozen_now(LATER):
        first = submit(title="路灯不亮")
        duplicate = submit(title="路灯又不亮")
    figures_roll_up(now=LATER + dt.timedelta(hours=1))
    assert totals("casework.received") == (2, 2)

    with frozen_now(LATER + dt.timedelta(days=1)):
        casework.case_merge(actor=cw.head, case=duplicate, into=first)
    figures_roll_up(now=LATER + dt.timedelta(days=2))

    assert totals("casework.received") == (1, 1)
    assert totals("casework.received", day=LATER.date()) == (1, 1)
