"""The anchors' measures per service and department: the share of applications for fully
online services, visits needed, time to decision against the promised limit, satisfaction;
scoped to the reader's departments, on a staff page with charts and a CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from civichub.core.errors import PermissionDenied
from civichub.core.models import AuditEvent
from civichub.portal import performance, services
from civichub.portal.models import Application, Service
from civichub.portal.tests.conftest import Portal
from civichub.testing.city import staff_user

pytestmark = pytest.mark.django_db


def _submit(portal: Portal, name: str) -> Application:
    service = Service.objects.get(published__name=name)
    assert service.published is not None
    answers = {f["key"]: "x" for f in service.published.content.get("form", [])}
    pdf = SimpleUploadedFile("a.pdf", b"%PDF-1.4\n%x\n", content_type="application/pdf")
    return services.application_submit(
        actor=portal.applicant, service=service, answers=answers, consent=True, materials=[pdf]
    )


def _figures(portal: Portal, handler: Any) -> tuple[Application, Application]:
    quick = _submit(portal, "最低生活保障申请")
    services.application_approve(actor=handler, application=quick)
    services.application_rate(actor=portal.applicant, application=quick, rating=4)
    late = _submit(portal, "最低生活保障申请")
    # decided after its promised deadline had passed
    Application.objects.filter(pk=late.pk).update(due_at=timezone.now() - dt.timedelta(days=1))
    services.application_refuse(actor=handler, application=late, reason="不符合条件")
    services.application_rate(actor=portal.applicant, application=late, rating=1)
    _submit(portal, "最低生活保障申请")  # still open
    return quick, late


def test_measures_count_online_share_visits_time_against_the_limit_and_satisfaction(
    portal: Portal, handler: Any
) -> None:
    _figures(portal, handler)
    departments = performance.performance(actor=handler)
    assert [d.key for d in departments] == [portal.departments["civil_affairs"].code]
    department = departments[0]
    row = next(s for s in department.children if s.name == "最低生活保障申请")
    service = Service.objects.get(published__name="最低生活保障申请")
    assert service.published is not None
    visits = int(service.published.content["visits"])
    assert row.applications == 3 and row.decided == 2
    assert row.on_time == 1 and row.on_time_share == 50.0
    assert row.mean_rating == 2.5 and row.ratings == 2
    assert row.visits == visits and row.mean_visits == float(visits)
    assert row.online_share == (100.0 if row.fully_online else 0.0)
    assert row.mean_days is not None and 0 <= row.mean_days < 1
    assert department.applications == 3 and department.on_time_share == 50.0


def test_other_departments_and_residents_do_not_see_the_measures(
    portal: Portal, handler: Any
) -> None:
    _figures(portal, handler)
    police = staff_user("department_handler", portal.departments["public_security"])
    assert all(d.applications == 0 for d in performance.performance(actor=police))
    with pytest.raises(PermissionDenied):
        performance.performance(actor=portal.applicant)


def test_the_staff_page_draws_charts_and_exports_csv(portal: Portal, handler: Any) -> None:
    _figures(portal, handler)
    client = Client()
    client.force_login(handler)
    page = client.get("/services/measures/")
    assert page.status_code == 200
    body = page.content.decode()
    assert 'id="chart-on-time-title"' in body and "最低生活保障申请" in body
    exported = client.get("/services/measures/", {"format": "csv"})
    rows = list(csv.reader(io.StringIO(exported.content.decode())))
    dibao = next(r for r in rows if r[2] == "最低生活保障申请")
    assert dibao[7] == "3" and dibao[11] == "50.0" and dibao[14] == "2.5"
    assert AuditEvent.objects.filter(action="portal.measures.export").count() == 1
    client.force_login(portal.applicant)
    assert client.get("/services/measures/").status_code == 403
