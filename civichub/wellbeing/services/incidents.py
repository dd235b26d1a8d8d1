"""One alert per incident: a later kind of the same incident (the detector's follow-up, see
`detection.Alert.follow_up`) updates the household's open alert of that family instead of
raising a second one — its evidence, its chart and, when the new kind is graver, its kind,
severity and explanation, and then the family is told again at the graver level."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from civichub.core.audit import audit_record
from civichub.core.config import module_config
from civichub.wellbeing import detection
from civichub.wellbeing.conf import WellbeingSettings
from civichub.wellbeing.models import Alert, AlertStatus, Household
from civichub.wellbeing.services.family import family_notify_due


def _open_alert(household: Household, family: str) -> Alert | None:
    kinds = [kind for kind, its in detection.FAMILY.items() if its == family]
    return (
        household.alerts.select_for_update()
        .filter(kind__in=kinds)
        .exclude(status=AlertStatus.CLOSED)
        .order_by("-at", "-pk")
        .first()
    )


def alert_follow_up(
    household: Household, found: detection.Alert, *, evidence: dict[str, Any], chart: dict[str, Any]
) -> Alert | None:
    """Updates the open alert of `found`'s incident; None when there is none (it was closed:
    the caller raises a new alert). Idempotent: a follow-up seen again (readings detected
    again after late ones came) changes nothing."""
    alert = _open_alert(household, found.family)
    if alert is None:
        return None
    follow_ups = list(alert.evidence.get("follow_ups", []))
    if any(item.get("kind") == found.kind for item in follow_ups) or alert.kind == found.kind:
        return alert
    at = timezone.make_aware(found.at)
    follow_ups.append(
        {"kind": found.kind, "at": at.isoformat(), "explanation": found.explanation, **evidence}
    )
    graver = detection.SEVERITY_RANK[found.severity] > detection.SEVERITY_RANK[alert.severity]
    alert.evidence = {**alert.evidence, "follow_ups": follow_ups, "updated_at": at.isoformat()}
    alert.chart = chart
    fields = ["evidence", "chart"]
    if graver:
        alert.kind, alert.severity, alert.explanation = (
            found.kind,
            found.severity,
            found.explanation,
        )
        fields += ["kind", "severity", "explanation"]
    alert.save(update_fields=fields)
    audit_record(
        actor=None,
        action="wellbeing.alert.follow_up",
        obj=alert,
        changes={"kind": found.kind, "graver": graver},
    )
    if graver and alert.status == AlertStatus.FAMILY:
        # Everyone told so far hears again, at the graver level (`family_notify_due` stores
        # how many have been sent this round).
        alert.family_notified = 0
        minutes = module_config(WellbeingSettings).family_minutes
        family_notify_due(
            alert,
            household,
            minutes,
            urgent=found.severity == detection.Severity.URGENT,
            now=timezone.now(),
            round_key=f".{found.kind}",
        )
    return alert
