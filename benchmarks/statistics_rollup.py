"""Benchmark of the statistics module: the rollup is incremental, so its cost is the new rows,
never the history, and a figures page reads only the daily table.

    python benchmarks/statistics_rollup.py [--cases N] [--quick]

On SQLite in a temporary data directory (removed afterwards): a small city, N cases with their
history inserted in bulk (every case submitted, two in three answered, one in three rated, one
in four closed) spread over a year, then

- `statistics.rollup_first_seconds` / `statistics.rollup_events_per_second`: the first rollup,
  over every event;
- `statistics.rollup_nothing_new_ms`: a second rollup at once (finds nothing);
- `statistics.rollup_100_new_cases_ms`: a rollup after 100 more cases;
- `statistics.figures_report_ms` / `statistics.evaluation_ms`: the staff figures of the whole
  city over a year by week, and the public evaluation of the latest month, read from the daily
  table (`statistics.daily_rows` rows).

Prints `name: value` lines on stdout (progress on stderr). (Named so as not to shadow the
standard library's `statistics` when run as a script.)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.common import line, migrate_database, note, print_machine  # noqa: E402


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="1,000 cases: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.cases = 1_000
    return args


def insert_cases(count: int, start: dt.datetime, first: int, city: Any, category: Any) -> None:
    """Cases and their history in bulk, as intake and handling would have left them."""
    from civichub.casework.models import Case, CaseEvent, EventKind

    cases = []
    for n in range(count):
        at = start + dt.timedelta(minutes=(n * 523) % (365 * 24 * 60))
        cases.append(
            Case(
                tracking_number=f"B-{first + n:09d}",
                kind="complaint",
                title="路灯不亮",
                text="小区路灯坏了。",
                jurisdiction=city.city,
                community=city.community_a1 if n % 2 else city.community_b1,
                department=city.health_a if n % 3 else city.police_city,
                category=category,
                created_at=at,
            )
        )
    made = Case.objects.bulk_create(cases, batch_size=2000)
    events = []
    for n, case in enumerate(made):
        at = case.created_at
        events.append(CaseEvent(case=case, kind=EventKind.SUBMITTED, created_at=at))
        if n % 3:
            reply_at = at + dt.timedelta(hours=1 + n % 40)
            events.append(CaseEvent(case=case, kind=EventKind.REPLY, created_at=reply_at))
        if n % 3 == 1:
            value = ("satisfied", "basic", "unsatisfied")[n % 7 % 3]
            events.append(
                CaseEvent(
                    case=case,
                    kind=EventKind.RATED,
                    created_at=at + dt.timedelta(hours=60),
                    data={"value": value, "round": 1},
                )
            )
        if n % 4 == 1:
            closed_at = at + dt.timedelta(hours=61)
            events.append(CaseEvent(case=case, kind=EventKind.CLOSED, created_at=closed_at))
    CaseEvent.objects.bulk_create(events, batch_size=2000)


def measure(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.utils import timezone

    from civichub.casework import services as casework
    from civichub.casework.models import CaseEvent
    from civichub.statistics import selectors
    from civichub.statistics.models import DailyFigure
    from civichub.statistics.services import figures_roll_up
    from civichub.testing.city import build_city, staff_user

    migrate_database()
    print_machine(sqlite=True)
    city = build_city()
    category = casework.category_create(
        actor=None, key="lights", name="路灯", department=city.health_a, keywords=["路灯"]
    )
    now = timezone.now()
    start = now - dt.timedelta(days=366)
    note(f"inserting {args.cases} cases")
    insert_cases(args.cases, start, 0, city, category)
    events = CaseEvent.objects.count()
    line("statistics.cases", args.cases)
    line("statistics.case_events", events)

    began = time.perf_counter()
    figures_roll_up(now=now + dt.timedelta(days=3))
    first = time.perf_counter() - began
    line("statistics.rollup_first_seconds", f"{first:.2f}")
    line("statistics.rollup_events_per_second", f"{events / first:.0f}")

    began = time.perf_counter()
    figures_roll_up(now=now + dt.timedelta(days=3))
    line("statistics.rollup_nothing_new_ms", f"{(time.perf_counter() - began) * 1000:.1f}")

    insert_cases(100, now - dt.timedelta(days=1), args.cases, city, category)
    began = time.perf_counter()
    figures_roll_up(now=now + dt.timedelta(days=3))
    line("statistics.rollup_100_new_cases_ms", f"{(time.perf_counter() - began) * 1000:.1f}")
    line("statistics.daily_rows", DailyFigure.objects.count())

    dispatcher = staff_user("case_dispatcher", city.city)
    today = timezone.localdate()
    began = time.perf_counter()
    selectors.figures_report(
        actor=dispatcher, since=today - dt.timedelta(days=365), until=today, period="week"
    )
    line("statistics.figures_report_ms", f"{(time.perf_counter() - began) * 1000:.1f}")
    began = time.perf_counter()
    selectors.evaluation()
    line("statistics.evaluation_ms", f"{(time.perf_counter() - began) * 1000:.1f}")


def main() -> None:
    args = arguments()
    data_dir = tempfile.mkdtemp(prefix="civichub-bench-statistics-")
    os.environ.update(
        CIVICHUB_DATA_DIR=data_dir, DJANGO_SETTINGS_MODULE="civichub.settings", CIVICHUB_TESTING=""
    )
    os.environ.pop("DATABASE_URL", None)
    try:
        measure(args)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
