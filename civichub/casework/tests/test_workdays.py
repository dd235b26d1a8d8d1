"""Deadlines on the working-day calendar: weekends, public holidays, make-up working days."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from civichub.casework import services, workdays
from civichub.casework.workdays import WorkingCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: str, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), SHANGHAI)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("received", "days", "due"),
    [
        # An ordinary week: Tuesday + 3 working days is Friday.
        ("2026-03-10", 3, "2026-03-13"),
        # Friday + 3 skips the weekend.
        ("2026-03-13", 3, "2026-03-18"),
        # Before the Spring Festival: Fri 13 Feb, then Sat 14 Feb is a make-up working day, the
        # holiday runs 15-23 Feb, so the working days are 14, 24 and 25 Feb.
        ("2026-02-13", 3, "2026-02-25"),
        # Received on the holiday itself: Tue 17 Feb + 3 → 24, 25, 26 Feb.
        ("2026-02-17", 3, "2026-02-26"),
        # National Day: Wed 30 Sep + 3 → 8, 9 Oct, then Sat 10 Oct is a make-up working day.
        ("2026-09-30", 3, "2026-10-10"),
        # A complaint before May Day: Thu 30 Apr + 13 working days, with 1-5 May off and
        # Saturday 9 May worked: 6, 7, 8, 9, 11-15, 18-21 May.
        ("2026-04-30", 13, "2026-05-21"),
    ],
)
def test_deadline_counts_working_days_across_holidays_and_make_up_days(
    received: str, days: int, due: str
) -> None:
    deadline = workdays.deadline(at(received), days)

    assert deadline.astimezone(SHANGHAI).date() == dt.date.fromisoformat(due)
    assert deadline.astimezone(SHANGHAI).time() == dt.time(23, 59, 59)


@pytest.mark.django_db
def test_calendar_rows_override_the_profile_defaults() -> None:
    services.calendar_day_set(actor=None, date=dt.date(2026, 3, 11), working=False, name="防汛")
    services.calendar_day_set(actor=None, date=dt.date(2026, 2, 14), working=False, name="改休")

    calendar = workdays.calendar()

    assert not calendar.is_working_day(dt.date(2026, 3, 11))
    assert not calendar.is_working_day(dt.date(2026, 2, 14))
    assert workdays.deadline(at("2026-03-10"), 3).astimezone(SHANGHAI).date() == dt.date(
        2026, 3, 16
    )


@pytest.mark.django_db
def test_deployment_profile_sets_the_deadline_per_kind(cw: Any, settings: Any) -> None:
    settings.CIVICHUB_CASEWORK = {"deadline_working_days": {"consultation": 1}}
    received = at("2026-03-10")

    consultation = services.case_submit(
        actor=cw.resident, kind="consultation", text="咨询", received_at=received
    ).case
    complaint = services.case_submit(
        actor=cw.resident, kind="complaint", text="投诉", received_at=received
    ).case

    assert consultation.due_at is not None and complaint.due_at is not None
    assert consultation.due_at.astimezone(SHANGHAI).date() == dt.date(2026, 3, 11)
    assert complaint.due_at.astimezone(SHANGHAI).date() == dt.date(2026, 3, 27)


def test_working_days_overdue_counts_from_the_deadline_day() -> None:
    calendar = WorkingCalendar(days_off=frozenset(), days_on=frozenset())
    due = at("2026-03-13", 23)  # a Friday

    assert workdays.working_days_overdue(due, at("2026-03-13", 22), calendar) == -1
    assert workdays.working_days_overdue(due, at("2026-03-14"), calendar) == 0  # Saturday
    assert workdays.working_days_overdue(due, at("2026-03-16"), calendar) == 1  # Monday
    assert workdays.working_days_overdue(due, at("2026-03-18"), calendar) == 3
