"""The working-day calendar: Monday to Friday, minus public holidays, plus make-up working days
(调休上班). Defaults come from the deployment profile (`casework.conf`); `CalendarDay` rows
override them per deployment.

A deadline of N working days runs from the day after receipt: the Nth working day after the day
the case was received, at the end of that day in the deployment's time zone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from civichub.casework import reference
from civichub.casework.conf import casework_settings
from civichub.casework.models import CalendarDay

MAX_SCAN_DAYS = 3660  # no calendar has ten years without a working day


@dataclass(frozen=True)
class WorkingCalendar:
    days_off: frozenset[dt.date]
    days_on: frozenset[dt.date]

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.days_on:
            return True
        if day in self.days_off:
            return False
        return day.weekday() < 5

    def add_working_days(self, start: dt.date, count: int) -> dt.date:
        """The `count`th working day after `start` (`start` itself is not counted)."""
        if count < 0:
            raise ValueError("count must not be negative")
        day = start
        found = 0
        for _ in range(MAX_SCAN_DAYS):
            if found == count:
                return day
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                found += 1
        raise ValueError("the calendar has no working days")

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days in (start, end]: how many working days `end` lies after `start`."""
        if end <= start:
            return 0
        days = 0
        day = start
        while day < end:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                days += 1
        return days


def _parse(values: dict[str, str] | list[str]) -> set[dt.date]:
    return {dt.date.fromisoformat(v) for v in values}


def _read_calendar() -> WorkingCalendar:
    conf = casework_settings()
    days_off = _parse(conf.holidays)
    days_on = _parse(conf.makeup_workdays)
    for day, working in CalendarDay.objects.values_list("date", "working"):
        if working:
            days_on.add(day)
            days_off.discard(day)
        else:
            days_off.add(day)
            days_on.discard(day)
    return WorkingCalendar(days_off=frozenset(days_off), days_on=frozenset(days_on))


_calendar = reference.ProcessCached(_read_calendar)


def calendar() -> WorkingCalendar:
    """The effective calendar: profile defaults, overridden by `CalendarDay` rows; kept in the
    process until a calendar day changes (`casework.reference`)."""
    return _calendar.get()


def end_of_day(day: dt.date) -> dt.datetime:
    tz = timezone.get_default_timezone()
    return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=tz)


def deadline(
    received_at: dt.datetime, working_days: int, cal: WorkingCalendar | None = None
) -> dt.datetime:
    cal = cal or calendar()
    local_day = timezone.localtime(received_at, timezone.get_default_timezone()).date()
    return end_of_day(cal.add_working_days(local_day, working_days))


def extend(
    due_at: dt.datetime, working_days: int, cal: WorkingCalendar | None = None
) -> dt.datetime:
    cal = cal or calendar()
    local_day = timezone.localtime(due_at, timezone.get_default_timezone()).date()
    return end_of_day(cal.add_working_days(local_day, working_days))


def working_days_overdue(
    due_at: dt.datetime, now: dt.datetime, cal: WorkingCalendar | None = None
) -> int:
    """-1 while not overdue; 0 from the moment the deadline passes, then +1 for each working
    day that has begun since the day of the deadline."""
    if now <= due_at:
        return -1
    cal = cal or calendar()
    tz = timezone.get_default_timezone()
    return cal.working_days_between(
        timezone.localtime(due_at, tz).date(), timezone.localtime(now, tz).date()
    )
