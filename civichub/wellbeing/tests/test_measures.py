"""Wellbeing's measures for the statistics module: alerts by kind and visits by outcome, each
read once after its watermark, counted under the household's community, with no personal data."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from civichub.wellbeing import services
from civichub.wellbeing.measures import alert_measures, visit_measures
from civichub.wellbeing.models import Alert, VisitOutcome, VisitTask
from civichub.wellbeing.tests.test_services import home  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def _alert(household: Any, kind: str) -> Alert:
    now = timezone.now()
    return Alert.objects.create(  # as detection raises one
        household=household,
        kind=kind,
        severity="urgent",
        at=now,
        explanation="12 hours without water",
        family_deadline=now,
    )


def test_alerts_by_kind_are_counted_once_after_the_watermark(
    home: dict[str, Any],  # noqa: F811
) -> None:
    household = home["household"]
    _alert(household, "no_use")
    _alert(household, "gas_long_flow")
    later = timezone.now() + timedelta(minutes=1)

    first = alert_measures(after="", until=later, limit=100)
    again = alert_measures(after=first.watermark, until=later, limit=100)

    assert sorted(c.breakdown for c in first.contributions) == ["gas_long_flow", "no_use"]
    community = home["city"].community_a1.pk
    assert {(c.organisation_id, c.area_id) for c in first.contributions} == {(community, community)}
    assert again.contributions == [] and again.watermark == first.watermark
    assert (
        alert_measures(after="", until=timezone.now() - timedelta(hours=1), limit=9).watermark
        == "0"
    )


def test_visits_by_outcome_are_counted_when_recorded(
    home: dict[str, Any],  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    worker = home["worker"]
    alert = _alert(home["household"], "no_use")
    with django_capture_on_commit_callbacks():
        services.alerts_escalate(now=timezone.now() + timedelta(minutes=16))
    task = VisitTask.objects.get(alert=alert)
    services.visit_accept(actor=worker, task=task)
    later = timezone.now() + timedelta(minutes=1)
    assert visit_measures(after="", until=later, limit=10).contributions == []

    services.visit_record(actor=worker, task=task, outcome=VisitOutcome.HOSPITAL, real=True)
    later = timezone.now() + timedelta(minutes=1)
    first = visit_measures(after="", until=later, limit=10)
    again = visit_measures(after=first.watermark, until=later, limit=10)

    assert [c.breakdown for c in first.contributions] == ["hospital"]
    assert first.watermark.endswith(f"|{task.pk}")
    assert again.contributions == [] and again.watermark == first.watermark
