"""The figures as staff see them, scoped by the one permission check, their CSV, and the public
evaluation."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser

from civichub.casework.tests.conftest import Casework
from civichub.core.errors import NotAuthenticated, PermissionDenied, ValidationFailed
from civichub.statistics import selectors

pytestmark = pytest.mark.django_db
MARCH: dict[str, Any] = {"since": dt.date(2026, 3, 1), "until": dt.date(2026, 3, 31)}


def totals(report: selectors.Report) -> dict[str, float | None]:
    return {m.key: f.figure for m, f in report.totals}


def test_the_dispatcher_sees_every_measure_of_the_city(rolled: Casework) -> None:
    report = selectors.figures_report(actor=rolled.dispatcher, period="week", **MARCH)

    figures = totals(report)
    assert figures["casework.received"] == 6
    assert figures["casework.response_hours"] == 4.6
    assert figures["casework.satisfaction"] == 66.7
    assert figures["broadcast.posts"] == 0 and figures["wellbeing.alerts"] == 0
    weeks = {f.label: f.figure for f in report.series if f.figure}
    assert weeks == {"2026-03-09": 3, "2026-03-16": 3}
    assert {f.label: f.figure for f in report.organisations} == {
        rolled.city.health_a.name: 5,
        rolled.city.police_city.name: 1,
    }
    assert {f.label: f.figure for f in report.breakdown} == {"医疗卫生": 5, "治安": 1}


def test_a_department_head_sees_only_their_department(rolled: Casework) -> None:
    report = selectors.figures_report(actor=rolled.head, **MARCH)

    assert totals(report)["casework.received"] == 5
    assert [f.label for f in report.organisations] == [rolled.city.health_a.name]
    with pytest.raises(PermissionDenied):
        selectors.figures_report(
            actor=rolled.head, organisation_id=rolled.city.police_city.pk, **MARCH
        )


def test_a_community_head_sees_what_happened_in_their_community(
    rolled: Casework, make_user: Callable[..., Any]
) -> None:
    head = make_user("community_head", rolled.city.community_b1)

    report = selectors.figures_report(actor=head, **MARCH)

    assert totals(report)["casework.received"] == 1  # the security case in B1
    assert [f.label for f in report.organisations] == [rolled.city.police_city.name]


def test_staff_without_the_permission_and_visitors_are_refused(rolled: Casework) -> None:
    with pytest.raises(PermissionDenied):
        selectors.figures_report(actor=rolled.handler, **MARCH)
    with pytest.raises(PermissionDenied):
        selectors.figures_report(actor=rolled.worker_a1, **MARCH)
    with pytest.raises(NotAuthenticated):
        selectors.figures_csv(actor=AnonymousUser(), **MARCH)  # type: ignore[arg-type]


def test_filters_by_organisation_and_area(rolled: Casework) -> None:
    city = rolled.city
    by_district = selectors.figures_report(
        actor=rolled.dispatcher, organisation_id=city.district_a.pk, **MARCH
    )
    by_area = selectors.figures_report(
        actor=rolled.dispatcher, area_id=city.community_b1.pk, **MARCH
    )

    assert totals(by_district)["casework.received"] == 5  # health sits under district A
    assert totals(by_area)["casework.received"] == 1


def test_bad_ranges_and_measures_are_refused(rolled: Casework) -> None:
    with pytest.raises(ValidationFailed) as error:
        selectors.figures_report(
            actor=rolled.dispatcher, since=dt.date(2026, 3, 2), until=dt.date(2026, 3, 1)
        )
    assert "until" in error.value.errors
    with pytest.raises(ValidationFailed) as error:
        selectors.figures_report(actor=rolled.dispatcher, measure="nope", **MARCH)
    assert "measure" in error.value.errors


def test_csv_has_a_row_per_period_measure_organisation_area_and_service(
    rolled: Casework,
) -> None:
    text = selectors.figures_csv(actor=rolled.head, period="month", **MARCH)

    rows = list(csv.DictReader(io.StringIO(text)))
    received = [r for r in rows if r["measure"] == "casework.received"]
    assert [
        (r["period_start"], r["organisation"], r["area"], r["breakdown"]) for r in received
    ] == [("2026-03-01", rolled.city.health_a.name, rolled.city.community_a1.name, "health")]
    assert received[0]["value"] == "5.0" and received[0]["figure"] == "5.0"
    assert {r["organisation"] for r in rows} == {rolled.city.health_a.name}
    satisfaction = next(r for r in rows if r["measure"] == "casework.satisfaction")
    assert (satisfaction["value"], satisfaction["count"], satisfaction["figure"]) == (
        "2.0",
        "3",
        "66.7",
    )


def test_the_public_evaluation_grades_departments_and_services_by_month(
    rolled: Casework,
) -> None:
    result = selectors.evaluation()

    assert result.month == dt.date(2026, 3, 1) and result.months == [dt.date(2026, 3, 1)]
    assert (result.total.rated, result.total.good, result.total.bad) == (3, 2, 1)
    [health] = result.departments
    assert (health.label, health.rated, health.good_rate) == (rolled.city.health_a.name, 3, 66.7)
    assert [(s.label, s.rated) for s in result.services] == [("医疗卫生", 3)]
    empty = selectors.evaluation(month=dt.date(2026, 2, 1))
    assert empty.total.rated == 0 and empty.departments == []


def test_the_evaluation_leaves_out_groups_with_too_few_ratings(
    rolled: Casework, settings: Any
) -> None:
    settings.CIVICHUB_STATISTICS = {"evaluation_min_ratings": 4}

    result = selectors.evaluation()

    assert result.total.rated == 3 and result.departments == [] and result.services == []
