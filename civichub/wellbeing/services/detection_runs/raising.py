"""What a detection pass found, raised as alerts and sent to the family: once per incident, with
the chart of the household's last 48 hours against its usual activity."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
from django.utils import timezone

from civichub.core.audit import audit_record
from civichub.core.config import module_config
from civichub.wellbeing import detection
from civichub.wellbeing.conf import WellbeingSettings
from civichub.wellbeing.models import Alert, Household
from civichub.wellbeing.services.family import family_notify
from civichub.wellbeing.services.incidents import alert_follow_up


def alerts_new(
    household: Household, found: list[detection.Alert], *, replayed_from: int | None
) -> list[detection.Alert]:
    """An alert is raised once per incident: when half hours were detected again, the alerts of
    each family the first pass raised in them stand for the first ones found again (a follow-up
    may have changed a raised alert's kind within its family). Follow-ups pass: applying one
    again changes nothing."""
    if replayed_from is None:
        return found
    since = timezone.make_aware(detection.slot_start(replayed_from))
    raised: dict[str, int] = {}
    for kind in household.alerts.filter(at__gt=since).values_list("kind", flat=True):
        family = detection.FAMILY.get(kind, kind)
        raised[family] = raised.get(family, 0) + 1
    fresh = []
    for alert in sorted(found, key=lambda a: a.slot):
        if alert.follow_up:
            fresh.append(alert)
        elif raised.get(alert.family, 0) > 0:
            raised[alert.family] -= 1
        else:
            fresh.append(alert)
    return fresh


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def _chart(
    detector: detection.WellbeingDetector, values: np.ndarray, first: int, slot: int
) -> dict[str, Any]:
    """The last 48 hours of activity by hour against the household's usual chance of activity."""
    end = slot - first + 1
    start = max(end - 96, 0)
    window = values[0, start:end]
    hours = []
    for offset in range(0, window.shape[0] - 1, 2):
        pair = window[offset : offset + 2]
        when = first + start + offset
        how = (when // detection.SLOTS_PER_HOUR) % detection.HOURS_PER_WEEK
        hours.append(
            {
                "at": detection.slot_start(when).isoformat(timespec="minutes"),
                "water_l": None
                if np.isnan(pair[:, detection.WATER]).all()
                else round(1000 * float(np.nansum(pair[:, detection.WATER])), 1),
                "usual": round(float(detector.state.p_active[0, how]), 3),
            }
        )
    return {"hours": hours}


def alert_raise(
    household: Household,
    detector: detection.WellbeingDetector,
    values: np.ndarray,
    first: int,
    found: detection.Alert,
) -> Alert:
    """Raises what the pass found; a follow-up of an open incident updates its alert instead
    (`alert_follow_up`), or is raised as new when that alert was closed meanwhile."""
    evidence = {k: _plain(v) for k, v in found.evidence.items()}
    chart = _chart(detector, values, first, found.slot)
    if found.follow_up:
        followed = alert_follow_up(household, found, evidence=evidence, chart=chart)
        if followed is not None:
            return followed
    minutes = module_config(WellbeingSettings).family_minutes
    alert = Alert.objects.create(
        household=household,
        kind=found.kind,
        severity=found.severity,
        at=timezone.make_aware(found.at),
        explanation=found.explanation,
        evidence=evidence,
        chart=chart,
        family_deadline=timezone.now() + timedelta(minutes=minutes),
    )
    audit_record(actor=None, action="wellbeing.alert.raise", obj=alert)
    family_notify(alert, household, minutes, urgent=found.severity == detection.Severity.URGENT)
    return alert
