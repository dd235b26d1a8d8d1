"""The worker's phone pages: the visit page shows the explanation, evidence and chart, and its
forms accept the visit and record the outcome."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from civichub.core.models import AuditEvent
from civichub.wellbeing import services
from civichub.wellbeing.models import VisitStatus, VisitTask
from civichub.wellbeing.tests.test_services import home, quiet_day  # noqa: F401

pytestmark = pytest.mark.django_db


def test_a_worker_sees_the_alert_and_records_the_visit(home: dict[str, Any]) -> None:  # noqa: F811
    services.readings_ingest(actor=home["feed"], rows=quiet_day())
    services.detection_run(household_id=home["household"].pk)
    services.alerts_escalate(now=timezone.now() + timedelta(minutes=30))
    task = VisitTask.objects.get(alert__kind="no_use")
    client = Client()
    client.force_login(home["worker"])
    listing = client.get("/wellbeing/visits/")
    assert "王秀英" in listing.content.decode()
    page = client.get(f"/wellbeing/visits/{task.pk}/").content.decode()
    assert "<svg" in page and "wb-bar" in page
    assert task.alert.explanation in page
    assert AuditEvent.objects.filter(action="wellbeing.visit.view").exists()
    client.post(f"/wellbeing/visits/{task.pk}/accept/")
    client.post(
        f"/wellbeing/visits/{task.pk}/outcome/", {"outcome": "fine", "real": "no", "note": "好"}
    )
    task.refresh_from_db()
    assert (task.status, task.outcome, task.real) == (VisitStatus.VISITED, "fine", False)


def test_a_worker_of_another_community_cannot_open_the_visit(
    home: dict[str, Any],  # noqa: F811
    make_user: Any,
) -> None:
    services.readings_ingest(actor=home["feed"], rows=quiet_day())
    services.detection_run(household_id=home["household"].pk)
    services.alerts_escalate(now=timezone.now() + timedelta(minutes=30))
    task = VisitTask.objects.first()
    assert task is not None
    stranger = make_user("community_worker", home["city"].community_b1)
    client = Client()
    client.force_login(stranger)
    assert client.get(f"/wellbeing/visits/{task.pk}/").status_code == 403
