"""The portal's measures for the statistics module: applications submitted by service,
decisions by outcome, days to decision and the share approved, read once from the
applications' history after the last event counted, under the service's department."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from civichub.portal import services
from civichub.portal.measures import application_measures, decision_names, service_names
from civichub.portal.models import Service
from civichub.portal.tests.conftest import Portal

pytestmark = pytest.mark.django_db


def _submit(portal: Portal, service: Service) -> Any:
    pdf = SimpleUploadedFile("材料.pdf", b"%PDF-1.4\n%test\n", content_type="application/pdf")
    return services.application_submit(
        actor=portal.applicant, service=service, answers={}, consent=True, materials=[pdf]
    )


def test_applications_and_decisions_are_counted_once_under_the_department(
    portal: Portal, handler: Any
) -> None:
    service = Service.objects.get(published__name="最低生活保障申请")
    approved = _submit(portal, service)
    refused = _submit(portal, service)
    services.application_accept(actor=handler, application=approved)
    services.application_approve(actor=handler, application=approved)
    services.application_refuse(actor=handler, application=refused, reason="收入高于低保标准")
    later = timezone.now() + dt.timedelta(minutes=1)

    first = application_measures(after="", until=later, limit=100)
    again = application_measures(after=first.watermark, until=later, limit=100)

    department = service.department_id
    figures: dict[str, list[tuple[Any, ...]]] = {}
    for c in first.contributions:
        figures.setdefault(c.measure, []).append((c.organisation_id, c.breakdown, c.value))
    assert figures["portal.submitted"] == [(department, service.code, 1.0)] * 2
    assert sorted(figures["portal.decided"]) == [
        (department, "approved", 1.0),
        (department, "refused", 1.0),
    ]
    assert sorted(value for _org, _key, value in figures["portal.approval"]) == [0.0, 1.0]
    assert all(0 <= days < 1 for _org, _key, days in figures["portal.decision_days"])
    # both decided the day they came in, well before the promised limit
    assert figures["portal.on_time"] == [(department, service.code, 1.0)] * 2
    assert again.contributions == [] and again.watermark == first.watermark
    assert service_names()[service.code] == "最低生活保障申请"
    assert set(decision_names()) == {"approved", "refused"}


def test_events_not_yet_settled_wait_for_a_later_step(portal: Portal) -> None:
    service = Service.objects.get(published__name="最低生活保障申请")
    _submit(portal, service)
    _submit(portal, service)

    early = application_measures(after="", until=timezone.now() - dt.timedelta(minutes=1), limit=9)
    assert early.contributions == [] and early.watermark == "0"
    step = application_measures(after="", until=timezone.now() + dt.timedelta(minutes=1), limit=1)
    assert len(step.contributions) == 1 and step.more
