"""Statistics on a small known data set, and their CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from civichub.casework import selectors, services
from civichub.casework.models import Case
from civichub.casework.tests.conftest import PIN_B1, Casework
from civichub.core.errors import PermissionDenied

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = dt.datetime(2026, 3, 9, 9, 0, tzinfo=SHANGHAI)


@pytest.fixture
def known(
    cw: Casework, submit: Callable[..., Case], frozen_now: Callable[..., Any]
) -> dict[str, Case]:
    """Six health cases in community A1 over two weeks, one security case in community B1:

    a  replied after 2 h, rated satisfied            (week 1)
    b  replied after 4 h, unsatisfied → reopened     (week 1)
    c  replied after 10 h, rated basically satisfied (week 1)
    d  never answered, past its deadline             (week 2)
    e  merged into a: not counted                    (week 2)
    f  replied after 6 h, not rated                  (week 2)
    g  security case, replied after 1 h, closed      (week 2)
    """

    def send(name: str, received: dt.datetime, **extra: Any) -> Case:
        with frozen_now(received):
            return submit(received_at=received, title=f"case {name}", **extra)

    def reply(case: Case, hours: float, user: Any) -> None:
        with frozen_now(case.created_at + dt.timedelta(hours=hours)):
            services.case_reply(actor=user, case=case, text="答复")

    week2 = MONDAY + dt.timedelta(days=7)
    cases = {
        "a": send("a", MONDAY),
        "b": send("b", MONDAY + dt.timedelta(hours=1)),
        "c": send("c", MONDAY + dt.timedelta(days=1)),
        "d": send("d", week2),
        "e": send("e", week2 + dt.timedelta(hours=2)),
        "f": send("f", week2 + dt.timedelta(days=1)),
        "g": send("g", week2, category_key="security", latitude=PIN_B1[0], longitude=PIN_B1[1]),
    }
    reply(cases["a"], 2, cw.handler)
    reply(cases["b"], 4, cw.handler)
    reply(cases["c"], 10, cw.handler)
    reply(cases["f"], 6, cw.handler)
    reply(cases["g"], 1, cw.police_handler)
    with frozen_now(week2 + dt.timedelta(days=2)):
        services.case_rate(actor=cw.resident, case=cases["a"], value="satisfied")
        # b is reopened with a new deadline in early April, unanswered since.
        services.case_rate(actor=cw.resident, case=cases["b"], value="unsatisfied")
        services.case_rate(actor=cw.resident, case=cases["c"], value="basic")
        services.case_close(actor=cw.police_handler, case=cases["g"])
        services.case_merge(actor=cw.head, case=cases["e"], into=cases["a"])
    return cases


def stats_for(user: Any, **kwargs: Any) -> selectors.Statistics:
    values: dict[str, Any] = {
        "since": dt.date(2026, 3, 9),
        "until": dt.date(2026, 3, 22),
        "now": dt.datetime(2026, 4, 30, tzinfo=SHANGHAI),
    }
    values.update(kwargs)
    return selectors.case_statistics(actor=user, **values)


def test_figures_for_the_whole_city(cw: Casework, known: dict[str, Case]) -> None:
    total = stats_for(cw.dispatcher).total

    assert total.volume == 6  # the merged duplicate is not counted
    assert total.responded == 5 and total.response_rate == pytest.approx(5 / 6, abs=1e-4)
    assert total.resolved == 3  # a and c (rated), g (closed by staff); b reopened
    assert total.resolution_rate == 0.5
    assert total.rated == 3 and total.satisfied == 2
    assert total.satisfaction_rate == pytest.approx(2 / 3, abs=1e-4)
    assert total.median_hours_to_first_reply == 4.0  # of 1, 2, 4, 6, 10
    assert total.overdue == 2  # d never answered; b reopened and unanswered


def test_figures_per_department_and_per_week(cw: Casework, known: dict[str, Case]) -> None:
    stats = stats_for(cw.dispatcher)

    by_department = {g.label: g for g in stats.groups}
    health = by_department[cw.city.health_a.name]
    police = by_department[cw.city.police_city.name]
    assert (health.volume, health.responded, health.resolved) == (5, 4, 2)
    assert health.median_hours_to_first_reply == 5.0  # of 2, 4, 6, 10
    assert (police.volume, police.resolution_rate, police.satisfaction_rate) == (1, 1.0, None)
    assert [(p.label, p.volume) for p in stats.periods] == [("2026-03-09", 3), ("2026-03-16", 3)]


def test_a_week_without_messages_is_a_zero_period_not_skipped(
    cw: Casework, known: dict[str, Case]
) -> None:
    # The known cases fall in the weeks of 9 and 16 March; the weeks around them had none.
    stats = stats_for(cw.dispatcher, since=dt.date(2026, 3, 4), until=dt.date(2026, 3, 29))

    assert [(p.label, p.volume) for p in stats.periods] == [
        ("2026-03-02", 0),
        ("2026-03-09", 3),
        ("2026-03-16", 3),
        ("2026-03-23", 0),
    ]
    assert stats.periods[0].response_rate is None
    by_month = stats_for(cw.dispatcher, period="month", until=dt.date(2026, 5, 3))
    assert [(p.label, p.volume) for p in by_month.periods] == [
        ("2026-03-01", 6),
        ("2026-04-01", 0),
        ("2026-05-01", 0),
    ]


def test_figures_per_community(cw: Casework, known: dict[str, Case]) -> None:
    stats = stats_for(cw.dispatcher, group_by="community", period="month")

    assert {g.label: g.volume for g in stats.groups} == {
        cw.city.community_a1.name: 5,
        cw.city.community_b1.name: 1,
    }
    assert [(p.label, p.volume) for p in stats.periods] == [("2026-03-01", 6)]


def test_department_head_sees_only_their_departments_figures(
    cw: Casework, known: dict[str, Case]
) -> None:
    stats = stats_for(cw.head)

    assert stats.total.volume == 5
    assert [g.label for g in stats.groups] == [cw.city.health_a.name]
    with pytest.raises(PermissionDenied):
        stats_for(cw.handler)


def test_csv_export_has_a_row_for_the_total_each_group_and_each_period(
    cw: Casework, known: dict[str, Case]
) -> None:
    text = selectors.statistics_csv(stats_for(cw.dispatcher))

    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["section"] for r in rows] == ["total", "department", "department", "week", "week"]
    total = rows[0]
    assert total["volume"] == "6" and total["response_rate"] == "0.8333"
    assert total["median_hours_to_first_reply"] == "4.0" and total["overdue"] == "2"
    assert rows[1]["label"] == cw.city.health_a.name and rows[1]["volume"] == "5"


def test_csv_export_neutralises_spreadsheet_formulas() -> None:
    stats = selectors.Statistics(
        since=dt.date(2026, 1, 1),
        until=dt.date(2026, 1, 2),
        group_by="department",
        period="week",
        total=selectors.Figures(key="all", label=""),
        groups=[selectors.Figures(key="1", label="=HYPERLINK(1)")],
        periods=[],
    )

    rows = list(csv.DictReader(io.StringIO(selectors.statistics_csv(stats))))

    assert rows[1]["label"] == "'=HYPERLINK(1)"
