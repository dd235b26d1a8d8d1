"""The statistics API at /api/statistics/: every response is checked against docs/openapi.json."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from civichub.casework.tests.conftest import Casework

pytestmark = pytest.mark.django_db
MARCH = {"since": "2026-03-01", "until": "2026-03-31"}


def test_measures_lists_every_modules_declared_measures(
    cw: Casework, api_as: Callable[..., Any]
) -> None:
    answer = api_as(cw.dispatcher).get("/api/statistics/measures")

    assert answer.status_code == 200
    keys = [m["key"] for m in answer.json()]
    assert keys[:4] == [
        "casework.received",
        "casework.response_hours",
        "casework.resolution_hours",
        "casework.satisfaction",
    ]
    assert {"broadcast.posts", "broadcast.views", "wellbeing.alerts", "wellbeing.visits"} <= set(
        keys
    )


def test_figures_in_the_callers_scope(rolled: Casework, api_as: Callable[..., Any]) -> None:
    city = api_as(rolled.dispatcher).get(
        "/api/statistics/figures", measure="casework.satisfaction", period="month", **MARCH
    )
    department = api_as(rolled.head).get("/api/statistics/figures", **MARCH)

    assert city.status_code == 200, city.content
    body = city.json()
    satisfaction = next(t for t in body["totals"] if t["key"] == "casework.satisfaction")
    assert (satisfaction["value"], satisfaction["count"], satisfaction["figure"]) == (2, 3, 66.7)
    assert [(s["key"], s["figure"]) for s in body["series"]] == [("2026-03-01", 66.7)]
    received = next(t for t in department.json()["totals"] if t["key"] == "casework.received")
    assert received["figure"] == 5


def test_figures_refuse_the_unauthorised_and_bad_input(
    rolled: Casework, api_as: Callable[..., Any]
) -> None:
    assert api_as(None).get("/api/statistics/figures", **MARCH).status_code == 401
    assert api_as(rolled.handler).get("/api/statistics/figures", **MARCH).status_code == 403
    other = api_as(rolled.head).get(
        "/api/statistics/figures", organisation=rolled.city.police_city.pk, **MARCH
    )
    assert other.status_code == 403
    backwards = api_as(rolled.dispatcher).get(
        "/api/statistics/figures", since="2026-03-31", until="2026-03-01"
    )
    assert backwards.status_code == 422 and "until" in backwards.json()["errors"]
    huge = api_as(rolled.dispatcher).get("/api/statistics/figures", organisation=2**64, **MARCH)
    assert huge.status_code == 422


def test_the_evaluation_is_public(rolled: Casework, api_as: Callable[..., Any]) -> None:
    answer = api_as(None).get("/api/statistics/evaluation")

    assert answer.status_code == 200
    body = answer.json()
    assert body["month"] == "2026-03" and body["months"] == ["2026-03"]
    assert body["total"] == {
        "key": "all",
        "label": "",
        "rated": 3,
        "good": 2,
        "bad": 1,
        "good_rate": 66.7,
    }
    assert [d["label"] for d in body["departments"]] == [rolled.city.health_a.name]
    assert api_as(None).get("/api/statistics/evaluation", month="2026-13").status_code == 422
    empty = api_as(None).get("/api/statistics/evaluation", month="2025-01").json()
    assert empty["total"]["rated"] == 0
