"""Detection runs: the households' detectors over their new readings, in batches.

Ingestion marks the households of a committed batch of readings as due (with the earliest new
reading of each) and queues one `detect_due` task; a worker running it takes due households in
batches, each batch claimed and detected in one transaction, until none is left. Several
workers share the work without doing a household twice: on PostgreSQL a batch's rows are locked
(`FOR UPDATE SKIP LOCKED`, so another worker takes the next ones) and SQLite has one writer at a
time. A worker that dies mid-batch rolls its transaction back, so the batch stays due; the
periodic `detect_due` picks it up.

The queued tasks live here, beside the runs they call, so that ingestion can queue them without
importing the tasks module (which calls the services): the imports run one way."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone
from django_tasks import task

from civichub.core.context import acting
from civichub.wellbeing.models import Alert, Household
from civichub.wellbeing.services.detection_runs.passes import (
    CHECKPOINT_DAYS,
    PASS_FIELDS,
    detection_pass,
)
from civichub.wellbeing.services.detector_state import detector_blobs, detector_load
from civichub.wellbeing.services.sql import in_list

# Households per pass: enough that the detector's step is spread over many, few enough that a
# batch's transaction (and on SQLite the write lock) is held for a second or two.
DETECTION_BATCH = 500
# A task stops taking batches after this long and queues its successor, so that a worker is
# not held by one task while ingestion keeps households due.
DETECTION_TASK_SECONDS = 60.0
# Households per query, well under every database's limit on query parameters.
_CHUNK = 5000

__all__ = [
    "CHECKPOINT_DAYS",
    "DETECTION_BATCH",
    "DetectionReport",
    "detect_due",
    "detection_due_run",
    "detection_queue",
    "detection_run",
    "detector_tune",
    "run_detection",
]


@dataclass
class DetectionReport:
    households: int = 0
    batches: int = 0
    alerts: int = 0


@task()
def detect_due() -> dict[str, int]:
    """The worker's detection: due households in batches until none is left (also periodic, so
    that a lost task delays detection by a minute at most)."""
    with acting(channel="task"):
        report = detection_due_run()
    return {"households": report.households, "batches": report.batches, "alerts": report.alerts}


@task()
def run_detection(household_id: int) -> int:
    """One household's run (tasks queued before batches, and the demo): thin and idempotent, it
    resumes from the household's last processed half hour."""
    with acting(channel="task"):
        return len(detection_run(household_id=int(household_id)))


def detection_queue(since: Mapping[int, datetime]) -> None:
    """Marks the households of a committed batch of readings as due (`since`: each one's
    earliest new reading) and queues the worker's detection."""
    # One transaction: one commit, not one per statement.
    with transaction.atomic():
        _enqueue_detection(since)


def _enqueue_detection(since: Mapping[int, datetime]) -> None:
    """Households already due are not queued again: the run that takes them will read these
    readings too. Each keeps the earliest reading stored since its last pass, which tells the
    pass whether half hours already detected must be detected again."""
    quote = connection.ops.quote_name
    table = quote(Household._meta.db_table)
    queued, earliest_column = quote("detection_queued_at"), quote("detection_since")
    adapt = connection.ops.adapt_datetimefield_value
    now = adapt(timezone.now())
    households = sorted(since)
    newly_due = 0
    # A feed's batch shares a few earliest times: one statement per time and chunk.
    by_time: dict[datetime, list[int]] = {}
    for household_id, earliest in since.items():
        by_time.setdefault(earliest, []).append(household_id)
    with connection.cursor() as cursor:
        for first in range(0, len(households), _CHUNK):
            where, params = in_list(households[first : first + _CHUNK])
            cursor.execute(
                f"UPDATE {table} SET {queued} = %s WHERE id {where} AND {queued} IS NULL",  # noqa: S608  # nosec B608
                [now, *params],
            )
            newly_due += cursor.rowcount
        for earliest, ids in by_time.items():
            for first in range(0, len(ids), _CHUNK):
                where, params = in_list(ids[first : first + _CHUNK])
                cursor.execute(
                    f"UPDATE {table} SET {earliest_column} = %s WHERE id {where} "  # noqa: S608  # nosec B608
                    f"AND ({earliest_column} IS NULL OR {earliest_column} > %s)",
                    [adapt(earliest), *params, adapt(earliest)],
                )
    if newly_due:
        detect_due.enqueue()


def detection_due_run(
    *, batch: int = DETECTION_BATCH, seconds: float = DETECTION_TASK_SECONDS
) -> DetectionReport:
    """Detects due households, `batch` at a time, until none is left or `seconds` have passed
    (then another task is queued for the rest)."""
    report = DetectionReport()
    began = time.monotonic()
    while True:
        taken, alerts = detection_batch_run(batch=batch)
        if not taken:
            return report
        report.households += taken
        report.batches += 1
        report.alerts += len(alerts)
        if time.monotonic() - began > seconds:
            detect_due.enqueue()
            return report


@transaction.atomic
def detection_batch_run(*, batch: int = DETECTION_BATCH) -> tuple[int, list[Alert]]:
    """Claims up to `batch` due households, longest waiting first, and detects them in one pass;
    returns how many it took and the alerts raised. Households another worker holds are
    skipped, not waited for."""
    due = (
        Household.objects.filter(detection_queued_at__isnull=False)
        .order_by("detection_queued_at", "pk")
        .select_for_update(skip_locked=True)
        # What the pass reads of each; a household it raises an alert for is read in full.
        .only(*PASS_FIELDS, "detection_since")
    )
    households = list(due[:batch])
    if not households:
        return 0, []
    since = {household.pk: household.detection_since for household in households}
    return len(households), detection_pass(households, since)


@transaction.atomic
def detection_run(*, household_id: int) -> list[Alert]:
    """Runs one household's detector over the half hours that have readings since it last ran,
    and raises what it finds (the pass of `detection_batch_run`, for one household)."""
    household = Household.objects.select_for_update().get(pk=household_id)
    return detection_pass([household], {household_id: None})


def detector_tune(household_id: int, *, false_alarm: bool) -> None:
    """A visit's outcome adjusts the household's learned rules (`WellbeingDetector.tune`)."""
    household = Household.objects.select_for_update().get(pk=household_id)
    if not household.consenting or not household.detector_state:
        return
    detector = detector_load(household)
    detector.tune(0, false_alarm=false_alarm)
    household.detector_state, household.detector_checkpoints = detector_blobs(detector)
    household.save(update_fields=["detector_state", "detector_checkpoints"])
