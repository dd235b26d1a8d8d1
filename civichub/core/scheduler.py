"""The periodic scheduler: enqueues every module's periodic tasks (`registry.periodic_tasks()`)
once per time slot, however many workers run it.

Time is cut into slots of `every_seconds` counted from the Unix epoch, so every worker computes
the same slot number for the same moment (their clocks are kept by NTP). Before enqueueing, a
scheduler claims the slot by inserting a `PeriodicTaskRun` row; the unique (name, slot)
constraint lets exactly one insert win, and the others get an IntegrityError and move on. The
claim and the enqueue share one transaction: if the enqueue fails (the queue is unreachable), the
claim is rolled back and another scheduler, or this one a moment later, can take the slot.

A slot missed because no worker was running is not caught up: periodic tasks sweep whatever is
due when they run, so the next slot covers it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence

from django.db import (
    DatabaseError,
    IntegrityError,
    close_old_connections,
    connections,
    transaction,
)
from django.utils.module_loading import import_string

from civichub.core.models import PeriodicTaskRun
from civichub.core.registry import PeriodicTask, periodic_tasks

logger = logging.getLogger("civichub.scheduler")

# Claims are only needed while a slot is current; a week of them helps when investigating.
CLAIM_RETENTION = dt.timedelta(days=7)
PRUNE_EVERY_SECONDS = 3600


def slot_of(moment: float, every_seconds: int) -> int:
    """The number of the slot that `moment` (seconds since the epoch) falls in."""
    return int(moment // every_seconds)


def enqueue_task(periodic: PeriodicTask) -> None:
    """Enqueue the django-tasks Task named by `periodic.task`, without arguments."""
    import_string(periodic.task).enqueue()


def claim_and_enqueue(
    periodic: PeriodicTask,
    slot: int,
    enqueue: Callable[[PeriodicTask], None] = enqueue_task,
    *,
    at: dt.datetime | None = None,
) -> bool:
    """Claim `slot` for `periodic` and enqueue it; False when another scheduler has the slot."""
    try:
        with transaction.atomic():
            PeriodicTaskRun.objects.create(
                name=periodic.name, slot=slot, claimed_at=at or dt.datetime.now(tz=dt.UTC)
            )
            enqueue(periodic)
    except IntegrityError:
        return False
    return True


class Scheduler:
    """Enqueues each periodic task at most once per slot. `tick()` does one round; `run()` loops
    until its stop event is set."""

    def __init__(
        self,
        tasks: Sequence[PeriodicTask] | None = None,
        *,
        enqueue: Callable[[PeriodicTask], None] = enqueue_task,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tasks = list(periodic_tasks() if tasks is None else tasks)
        for periodic in self.tasks:
            if periodic.every_seconds < 1:
                raise ValueError(f"periodic task {periodic.name}: every_seconds must be >= 1")
        self.enqueue = enqueue
        self.clock = clock
        # The last slot this scheduler has settled per task, so that it asks the database once
        # per slot rather than once per tick.
        self._settled: dict[str, int] = {}
        self._last_prune = 0.0

    def tick(self, now: float | None = None) -> list[str]:
        """Claim and enqueue every task whose current slot is not settled yet; returns the names
        this scheduler enqueued."""
        moment = self.clock() if now is None else now
        enqueued: list[str] = []
        for periodic in self.tasks:
            slot = slot_of(moment, periodic.every_seconds)
            if self._settled.get(periodic.name) == slot:
                continue
            try:
                won = claim_and_enqueue(
                    periodic, slot, self.enqueue, at=dt.datetime.fromtimestamp(moment, tz=dt.UTC)
                )
            except Exception:
                # Leave the slot unsettled: the next tick tries again.
                logger.exception("could not enqueue periodic task %s", periodic.name)
                continue
            self._settled[periodic.name] = slot
            if won:
                enqueued.append(periodic.name)
                logger.info("enqueued periodic task %s (slot %s)", periodic.name, slot)
        return enqueued

    def prune(self, now: float | None = None) -> int:
        """Delete claims older than the retention period; returns how many."""
        moment = self.clock() if now is None else now
        cutoff = dt.datetime.fromtimestamp(moment, tz=dt.UTC) - CLAIM_RETENTION
        deleted, _ = PeriodicTaskRun.objects.filter(claimed_at__lt=cutoff).delete()
        return deleted

    def seconds_to_next_slot(self, now: float | None = None) -> float:
        moment = self.clock() if now is None else now
        if not self.tasks:
            return 60.0
        return min(t.every_seconds - (moment % t.every_seconds) for t in self.tasks)

    def run(self, stop: threading.Event, *, max_sleep: float = 5.0) -> None:
        """Loop until `stop` is set. Database errors (a restart, a lost connection) are logged
        and retried; they never end the loop."""
        names = ", ".join(f"{t.name}/{t.every_seconds}s" for t in self.tasks) or "none"
        logger.info("scheduler started; periodic tasks: %s", names)
        try:
            while not stop.is_set():
                close_old_connections()
                try:
                    self.tick()
                    if self.clock() - self._last_prune >= PRUNE_EVERY_SECONDS:
                        self._last_prune = self.clock()
                        self.prune()
                except DatabaseError:
                    logger.exception("scheduler: database error; retrying")
                    close_old_connections()
                # Wake just after the next slot starts, and at least every max_sleep seconds so
                # that a stop request is noticed promptly.
                stop.wait(min(max_sleep, self.seconds_to_next_slot() + 0.01))
        finally:
            connections.close_all()
            logger.info("scheduler stopped")
