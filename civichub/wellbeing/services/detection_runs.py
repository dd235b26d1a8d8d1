"""Detection runs: the household's detector over its new readings, queued once per household
after ingestion commits; what it finds is raised as alerts and sent to the family.

The queued task lives here, beside the run it calls, so that ingestion can queue it without
importing the tasks module (which calls the services): the imports run one way."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone
from django_tasks import task

from civichub.core.audit import audit_record
from civichub.core.config import module_config
from civichub.core.context import acting
from civichub.wellbeing import detection
from civichub.wellbeing.conf import WellbeingSettings
from civichub.wellbeing.models import Alert, Household, Reading, Utility
from civichub.wellbeing.services.detector_state import UTILITY_INDEX, detector_load, state_dump
from civichub.wellbeing.services.family import family_notify
from civichub.wellbeing.services.incidents import alert_follow_up

# Detection is queued at most once per household at a time: a task queued more than this long
# ago and still not started is taken for lost, and another is queued.
DETECTION_QUEUE_STALE = timedelta(minutes=10)

# Readings that arrive this late or less are detected again from the last day boundary before
# them; older ones are stored (and charted) but not detected again.
CHECKPOINT_DAYS = 3


@task()
def run_detection(household_id: int) -> int:
    """The queued run for one household: thin and idempotent, it resumes from the household's
    last processed half hour."""
    with acting(channel="task"):
        return len(detection_run(household_id=int(household_id)))


def detection_queue(households: list[int]) -> None:
    """Queues detection for the households of a committed batch of readings."""
    # The batch's households are queued in one transaction: one commit, not one per household.
    with transaction.atomic():
        _enqueue_detection(households)


def _enqueue_detection(households: list[int]) -> None:
    """Queues detection for households with new readings, unless a task for that household is
    already queued and not started: that task will read these readings too."""
    now = timezone.now()
    for household_id in households:
        claimed = (
            Household.objects.filter(pk=household_id)
            .exclude(detection_queued_at__gte=now - DETECTION_QUEUE_STALE)
            .update(detection_queued_at=now)
        )
        if claimed:
            run_detection.enqueue(household_id)


def _local_slot(moment: datetime) -> int:
    return detection.slot_of(timezone.localtime(moment))


def _aware_slot_start(slot: int) -> datetime:
    return timezone.make_aware(detection.slot_start(slot))


def detection_run(*, household_id: int) -> list[Alert]:
    """Runs the detector over the half hours that have readings since it last ran, and raises
    what it finds. Readings that arrived late, for half hours already detected, are detected
    again from the last day boundary before them (up to `CHECKPOINT_DAYS` back); an alert the
    first pass already raised is not raised again (one alert per household, kind and
    incident)."""
    # Cleared before reading, so that readings stored from now on queue another run.
    Household.objects.filter(pk=household_id).update(detection_queued_at=None)
    return _detection_pass(household_id)


@dataclass
class _Grid:
    """The household's readings since `window` (the first half hour the detector may go back
    to) up to `latest`, as use per half hour and utility, NaN where there is no reading."""

    window: int
    latest: int
    values: np.ndarray  # (1, latest - window + 1, 3)


@transaction.atomic
def _detection_pass(household_id: int) -> list[Alert]:
    household = Household.objects.select_for_update().get(pk=household_id)
    if not household.consenting:
        return []
    detector = detector_load(household)
    done = detector.state.slot  # last half hour detected, -1 before the first run
    grid = _readings_grid(household, detector, done)
    if grid is None:
        return []
    start = _replay_start(detector, grid, done)
    if start > grid.latest:
        return []
    found = _detect_by_day(detector, grid, start, _away_mask(household, grid))
    detector.checkpoints = detector.checkpoints[-CHECKPOINT_DAYS:]
    oldest = detector.checkpoints[0].slot + 1
    detector.seen = grid.values[0, oldest - grid.window :].copy()

    household.detector_state = state_dump(detector)
    household.detected_through = timezone.make_aware(detection.slot_end(grid.latest))
    household.save(update_fields=["detector_state", "detected_through"])
    raised = []
    for alert in _new_alerts(household, found, replayed_from=start if start <= done else None):
        chart = _chart(detector, grid.values, grid.window, alert.slot)
        evidence = {k: _plain(v) for k, v in alert.evidence.items()}
        followed = (
            alert_follow_up(household, alert, evidence=evidence, chart=chart)
            if alert.follow_up
            else None
        )
        raised.append(followed or _alert_raise(household, alert, evidence, chart))
    return raised


def _readings_grid(
    household: Household, detector: detection.WellbeingDetector, done: int
) -> _Grid | None:
    """The readings the detector may need, from its oldest checkpoint on (from the first
    reading on a first run, when the detector starts there); None when there are none."""
    window = detector.checkpoints[0].slot + 1 if detector.checkpoints else done + 1
    readings = Reading.objects.filter(meter__household=household).order_by("at")
    if done >= 0:
        # A reading covers the interval that ends at its time.
        readings = readings.filter(at__gt=_aware_slot_start(window))
    rows = list(readings.values_list("at", "use", "meter__utility"))
    if not rows:
        return None
    slots_of = [_local_slot(row[0] - timedelta(microseconds=1)) for row in rows]
    if done < 0:
        window = slots_of[0]
        detector.state.slot = window - 1
        detector.checkpoints = [detector.snapshot()]
    latest = max(max(slots_of), done)
    values = np.full((1, latest - window + 1, 3), np.nan)
    for slot, (_moment, use, utility) in zip(slots_of, rows, strict=True):
        column = UTILITY_INDEX[Utility(utility)]
        current = values[0, slot - window, column]
        values[0, slot - window, column] = use + (0.0 if np.isnan(current) else current)
    return _Grid(window=window, latest=latest, values=values)


def _replay_start(detector: detection.WellbeingDetector, grid: _Grid, done: int) -> int:
    """The first half hour to detect: the next one, or, when readings changed half hours
    already detected, the last checkpoint before the first of them (the detector goes back
    to it)."""
    seen = detector.seen[: done - grid.window + 1]
    before = grid.values[0, : seen.shape[0]]
    same = np.isclose(before, seen, rtol=1e-9, atol=1e-12) | (np.isnan(before) & np.isnan(seen))
    changed = np.flatnonzero(~same.all(axis=1))
    start = detector.state.slot + 1
    if changed.size:
        first_changed = grid.window + int(changed[0])
        kept = [c for c in detector.checkpoints if c.slot < first_changed]
        if kept:
            detector.restore(kept[-1])
            detector.checkpoints = kept
            start = kept[-1].slot + 1
    return start


def _away_mask(household: Household, grid: _Grid) -> np.ndarray:
    """The half hours of the grid the household said it was away."""
    away = np.zeros((1, grid.latest - grid.window + 1), dtype=bool)
    for period in household.away.filter(cancelled_at__isnull=True):
        a = max(_local_slot(period.starts_at) - grid.window, 0)
        b = min(_local_slot(period.ends_at) - grid.window, away.shape[1])
        if a < b:
            away[0, a:b] = True
    return away


def _detect_by_day(
    detector: detection.WellbeingDetector, grid: _Grid, start: int, away: np.ndarray
) -> list[detection.Alert]:
    """Runs the detector from `start` to the latest half hour, saving a checkpoint at each day
    boundary."""
    window = grid.window
    found: list[detection.Alert] = []
    step = start
    while step <= grid.latest:
        # Up to the next day boundary, where a checkpoint is saved.
        stop = min(grid.latest, (step // detection.SLOTS_PER_DAY + 1) * detection.SLOTS_PER_DAY - 1)
        found += detector.process(
            grid.values[:, step - window : stop - window + 1],
            step,
            away=away[:, step - window : stop - window + 1],
        )
        if (stop + 1) % detection.SLOTS_PER_DAY == 0:
            detector.checkpoints.append(detector.snapshot())
        step = stop + 1
    return found


def _new_alerts(
    household: Household, found: list[detection.Alert], *, replayed_from: int | None
) -> list[detection.Alert]:
    """An alert is raised once per incident: when half hours were detected again, the alerts of
    each family the first pass raised in them stand for the first ones found again (a follow-up
    may have changed a raised alert's kind within its family). Follow-ups pass: applying one
    again changes nothing."""
    if replayed_from is None:
        return found
    raised: dict[str, int] = {}
    for kind in household.alerts.filter(at__gt=_aware_slot_start(replayed_from)).values_list(
        "kind", flat=True
    ):
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


def _alert_raise(
    household: Household, found: detection.Alert, evidence: dict[str, Any], chart: dict[str, Any]
) -> Alert:
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


def detector_tune(household_id: int, *, false_alarm: bool) -> None:
    """A visit's outcome adjusts the household's learned rules (`WellbeingDetector.tune`)."""
    household = Household.objects.select_for_update().get(pk=household_id)
    if not household.consenting or not household.detector_state:
        return
    detector = detector_load(household)
    detector.tune(0, false_alarm=false_alarm)
    household.detector_state = state_dump(detector)
    household.save(update_fields=["detector_state"])
