"""Donors' measures for the statistics module: requests by component, read once after the last
request counted; the first acceptance and the closing read after the last time counted; call-ups
sent; all under the requesting hospital."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from civichub.donors import services
from civichub.donors.measures import (
    acceptance_measures,
    call_up_measures,
    closing_measures,
    group_names,
    request_measures,
)
from civichub.donors.models import CallUp

pytestmark = pytest.mark.django_db


def _by_measure(contributions: list[Any]) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    for c in contributions:
        out.setdefault(c.measure, []).append((c.organisation_id, c.breakdown, c.value, c.count))
    return out


def test_requests_and_call_ups_are_counted_once_under_the_hospital(
    make_donor: Any, make_request: Any, hospital: Any
) -> None:
    make_donor(km=0.5)
    make_donor(km=0.6)
    request = make_request(component="red_cells", units=2)
    make_request(component="plasma", units=1)
    services.call_up_wave(request_id=request.pk, now=timezone.now())
    later = timezone.now() + dt.timedelta(minutes=1)

    first = request_measures(after="", until=later, limit=100)
    again = request_measures(after=first.watermark, until=later, limit=100)
    calls = call_up_measures(after="", until=later, limit=100)

    by_component = [c for c in first.contributions if c.measure == "donors.requests"]
    assert sorted((c.organisation_id, c.breakdown) for c in by_component) == [
        (hospital.pk, "plasma"),
        (hospital.pk, "red_cells"),
    ]
    assert again.contributions == [] and again.watermark == first.watermark
    groups = [c.breakdown for c in first.contributions if c.measure == "donors.requests_by_group"]
    assert groups == ["A_pos", "A_pos"] and group_names()["A_pos"] == "A RhD 阳性"
    assert [(c.organisation_id, c.breakdown) for c in calls.contributions] == [
        (hospital.pk, "red_cells")
    ] * 2
    # a limit stops a step and says more is left
    step = request_measures(after="", until=later, limit=1)
    assert {c.measure for c in step.contributions} == {
        "donors.requests",
        "donors.requests_by_group",
    }
    assert len(step.contributions) == 2 and step.more


def test_acceptance_and_closing_count_when_they_happen(
    make_donor: Any, make_request: Any, staff: Any, hospital: Any
) -> None:
    make_donor(km=0.5)
    met = make_request(units=1)
    services.call_up_wave(request_id=met.pk, now=timezone.now())
    call_up = CallUp.objects.get(request=met)
    services.call_up_respond(call_up=call_up, accept=True)
    services.call_up_mark(actor=staff["hospital"], call_up=call_up, state="donated")
    cancelled = make_request(component="platelets", units=1)
    services.blood_request_cancel(actor=staff["hospital"], request=cancelled)
    now = timezone.now()

    before = closing_measures(after="", until=now - dt.timedelta(hours=1), limit=100)
    assert before.contributions == [] and before.watermark == ""

    later = now + dt.timedelta(minutes=1)
    accepted = acceptance_measures(after="", until=later, limit=100)
    closed = closing_measures(after="", until=later, limit=100)
    again = closing_measures(after=closed.watermark, until=later, limit=100)

    [(organisation, component, minutes, count)] = _by_measure(accepted.contributions)[
        "donors.acceptance_minutes"
    ]
    assert (organisation, component, count) == (hospital.pk, "red_cells", 1) and minutes >= 0
    figures = _by_measure(closed.contributions)
    assert sorted(figures["donors.fulfilment"]) == [
        (hospital.pk, "platelets", 0.0, 1),
        (hospital.pk, "red_cells", 1.0, 1),
    ]
    assert figures["donors.met"] == [(hospital.pk, "red_cells", 1.0, 1)]
    [(_org, _component, hours, _count)] = figures["donors.met_hours"]
    assert 0 <= hours < 1
    assert again.contributions == [] and again.watermark == closed.watermark
