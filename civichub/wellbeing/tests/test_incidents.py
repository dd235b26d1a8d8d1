"""One alert per incident in the database: a later kind of the same incident updates the open
alert, escalates it when graver (and the family hears again), and is applied once."""

from __future__ import annotations

from typing import Any

import pytest

from civichub.core.models import AuditEvent
from civichub.notify.models import Notification
from civichub.wellbeing import detection
from civichub.wellbeing.models import Alert, AlertStatus
from civichub.wellbeing.services.incidents import alert_follow_up
from civichub.wellbeing.tests.test_services import _alert, home  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db


def _found(kind: str, slot: int) -> detection.Alert:
    return detection.Alert(
        household=0, kind=kind, slot=slot, evidence={"quiet_h": 13.0}, follow_up=True
    )


def test_a_graver_kind_of_the_same_incident_escalates_the_open_alert_once(
    home: dict[str, Any],  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    raised = _alert(home, django_capture_on_commit_callbacks)
    # The incident was opened by a warning: no first use this morning.
    Alert.objects.filter(pk=raised.pk).update(
        kind=detection.Kind.NO_FIRST_USE, severity=detection.Severity.WARNING
    )
    household = home["household"]
    before = Notification.objects.filter(recipient=home["daughter"]).count()
    slot = detection.slot_of(raised.at) + 4
    found = _found(detection.Kind.NO_USE, slot)
    found.evidence = {
        "water_12h_l": 0.0,
        "hours": 12.0,
        "limit_l": 10.0,
        "since_use_h": 14.0,
    }
    with django_capture_on_commit_callbacks(execute=True):
        updated = alert_follow_up(
            household, found, evidence=found.evidence, chart={"hours": [{"at": "x"}]}
        )
    assert updated is not None and updated.pk == raised.pk
    updated.refresh_from_db()
    assert (updated.kind, updated.severity) == (detection.Kind.NO_USE, detection.Severity.URGENT)
    assert updated.explanation == found.explanation
    assert [f["kind"] for f in updated.evidence["follow_ups"]] == [detection.Kind.NO_USE]
    assert updated.chart == {"hours": [{"at": "x"}]}
    assert household.alerts.count() == 1
    assert AuditEvent.objects.filter(
        action="wellbeing.alert.follow_up", object_id=str(updated.pk)
    ).exists()
    # The family hears again, now urgently.
    assert Notification.objects.filter(recipient=home["daughter"]).count() == before + 1

    # The same follow-up again (readings detected again) changes nothing.
    with django_capture_on_commit_callbacks(execute=True):
        again = alert_follow_up(household, found, evidence=found.evidence, chart={})
    assert again is not None
    again.refresh_from_db()
    assert again.evidence == updated.evidence and again.chart == updated.chart
    assert Notification.objects.filter(recipient=home["daughter"]).count() == before + 1


def test_a_follow_up_of_a_closed_incident_asks_for_a_new_alert(
    home: dict[str, Any],  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    raised = _alert(home, django_capture_on_commit_callbacks)
    Alert.objects.filter(pk=raised.pk).update(status=AlertStatus.CLOSED)
    found = _found(detection.Kind.INACTIVITY, detection.slot_of(raised.at) + 2)
    assert alert_follow_up(home["household"], found, evidence={}, chart={}) is None


def test_a_follow_up_of_a_milder_kind_keeps_the_alert_s_severity(
    home: dict[str, Any],  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    raised = _alert(home, django_capture_on_commit_callbacks)
    found = _found(detection.Kind.NO_FIRST_USE, detection.slot_of(raised.at) + 2)
    found.evidence = {"usual_first": "07:00", "now": "10:30"}
    updated = alert_follow_up(home["household"], found, evidence=found.evidence, chart={})
    assert updated is not None
    updated.refresh_from_db()
    assert (updated.kind, updated.severity) == (detection.Kind.NO_USE, detection.Severity.URGENT)
    assert updated.evidence["follow_ups"][0]["kind"] == detection.Kind.NO_FIRST_USE
