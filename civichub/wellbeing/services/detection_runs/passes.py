"""One detection pass over a batch of households: their saved detectors, their readings read
set-based, one vectorised `WellbeingDetector.process` per group of households standing at the
same half hour, then the states saved and what was found raised as alerts.

Readings that arrived late, for half hours already detected, are detected again from the last
day boundary before them (up to `CHECKPOINT_DAYS` back); an alert the first pass already raised
is not raised again (one alert per household, kind and incident)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from django.utils import timezone

from civichub.wellbeing import detection
from civichub.wellbeing.detection.batch import split, stack, take
from civichub.wellbeing.models import Alert, AwayPeriod, Household
from civichub.wellbeing.services.detection_runs.grid import (
    GridRequest,
    HouseholdGrid,
    grids_build,
    meters_of,
    readings_fetch,
)
from civichub.wellbeing.services.detection_runs.raising import alert_raise, alerts_new
from civichub.wellbeing.services.detector_state import state_dump, state_load

# Readings that arrive this late or less are detected again from the last day boundary before
# them; older ones are stored (and charted) but not detected again.
CHECKPOINT_DAYS = 3


def _aware_slot_start(slot: int) -> datetime:
    return timezone.make_aware(detection.slot_start(slot))


def _local_slot(moment: datetime) -> int:
    return detection.slot_of(timezone.localtime(moment))


@dataclass
class _Member:
    """A household in the pass: its detector, its readings grid and what the pass found."""

    household: Household
    detector: detection.WellbeingDetector
    done: int
    full: bool  # read from the oldest checkpoint and compared with what was seen
    grid: HouseholdGrid | None = None
    away: np.ndarray = field(default_factory=lambda: np.zeros((1, 0), dtype=bool))
    start: int = 0
    replayed_from: int | None = None  # where a replay over detected half hours began
    found: list[detection.Alert] = field(default_factory=list)

    @property
    def latest(self) -> int:
        assert self.grid is not None
        return self.grid.latest


def detection_pass(
    households: Sequence[Household], since: Mapping[int, datetime | None]
) -> list[Alert]:
    """Detects `households` (locked by the caller, in its transaction) over their new readings.
    `since` is each household's earliest reading stored since its last pass, None when unknown:
    only a household with readings at or before the half hours already detected is read from
    its oldest checkpoint and compared with what it saw."""
    consenting = [h for h in households if h.consenting]
    if not consenting:
        return []
    meters = meters_of([h.pk for h in consenting])
    utilities: dict[int, list[int]] = {}
    for meter in meters:
        utilities.setdefault(meter.household_id, []).append(meter.utility)
    members = [_member(h, utilities.get(h.pk, []), since.get(h.pk)) for h in consenting]
    rules = detection.Rules()
    requests = [_request(m) for m in members]
    # A reading's predecessor is needed to tell its interval: the fetch reaches back as far as
    # the data-gap rule (a longer silence is a gap whatever the meter's interval).
    margin = timedelta(hours=rules.gap_hours)
    readings = readings_fetch([m.pk for m in meters], _fetch_after(requests) - margin)
    grids = grids_build(requests, meters, readings, gap_slots=rules.slots(rules.gap_hours))
    ready = []
    for member in members:
        if _prepare(member, grids.get(member.household.pk)):
            ready.append(member)
    if not ready:
        return []
    _away_masks(ready)
    _run(ready)
    return _finish(ready)


def _fetch_after(requests: Sequence[GridRequest]) -> datetime:
    """The earliest half hour any household needs (the first reading on, on a first run)."""
    if any(r.window < 0 for r in requests):
        return timezone.make_aware(detection.EPOCH)
    return min(_aware_slot_start(r.window) for r in requests)


def _member(household: Household, utilities: list[int], since: datetime | None) -> _Member:
    mask = np.zeros((1, 3), dtype=bool)
    mask[0, utilities] = True
    detector = state_load(household, mask)
    done = detector.state.slot  # last half hour detected, -1 before the first run
    oldest = detector.checkpoints[0].slot + 1 if detector.checkpoints else done + 1
    fast = (
        since is not None
        and done >= 0
        and _local_slot(since - timedelta(microseconds=1)) > done
        and detector.seen.shape[0] == done - oldest + 1
    )
    return _Member(household=household, detector=detector, done=done, full=not fast)


def _request(member: _Member) -> GridRequest:
    detector, done = member.detector, member.done
    if done < 0:
        window = -1
    elif member.full:
        window = detector.checkpoints[0].slot + 1 if detector.checkpoints else done + 1
    else:
        window = done + 1
    return GridRequest(household=member.household.pk, window=window, done=done)


def _prepare(member: _Member, grid: HouseholdGrid | None) -> bool:
    """The member's grid from its oldest checkpoint, and the half hour to detect from; False
    when there is nothing new."""
    if grid is None:
        return False
    detector, done = member.detector, member.done
    if done < 0:
        detector.state.slot = grid.window - 1
        detector.checkpoints = [detector.snapshot()]
        member.grid, member.start = grid, grid.window
        return grid.latest >= grid.window
    if not member.full:
        # Nothing arrived for the half hours already detected: what was seen stands.
        oldest = detector.checkpoints[0].slot + 1 if detector.checkpoints else done + 1
        values = np.concatenate([detector.seen[np.newaxis], grid.values], axis=1)
        grid = HouseholdGrid(window=oldest, latest=grid.latest, values=values)
        member.grid, member.start = grid, done + 1
    else:
        member.grid, member.start = grid, _replay_start(detector, grid, done)
        if member.start <= done:
            member.replayed_from = member.start
    return member.start <= grid.latest


def _replay_start(detector: detection.WellbeingDetector, grid: HouseholdGrid, done: int) -> int:
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


def _away_masks(members: list[_Member]) -> None:
    """The half hours of each member's grid its household said it was away (one query)."""
    by_pk = {m.household.pk: m for m in members}
    for m in members:
        assert m.grid is not None
        m.away = np.zeros((1, m.grid.latest - m.grid.window + 1), dtype=bool)
    earliest = min(_aware_slot_start(m.grid.window) for m in members if m.grid is not None)
    periods = AwayPeriod.objects.filter(
        household_id__in=list(by_pk), cancelled_at__isnull=True, ends_at__gt=earliest
    ).values_list("household_id", "starts_at", "ends_at")
    for household_id, starts_at, ends_at in periods:
        m = by_pk[household_id]
        assert m.grid is not None
        a = max(_local_slot(starts_at) - m.grid.window, 0)
        b = min(_local_slot(ends_at) - m.grid.window, m.away.shape[1])
        if a < b:
            m.away[0, a:b] = True


def _run(members: list[_Member]) -> None:
    """Runs the members side by side: those standing at the same half hour share one stacked
    detector up to the latest half hour all of them can go to; those that can go further then
    join the group standing there."""
    waiting: dict[int, list[_Member]] = {}
    for member in members:
        waiting.setdefault(member.start, []).append(member)
    while waiting:
        start = min(waiting)
        group = waiting.pop(start)
        end = min(m.latest for m in group)
        _run_group(group, start, end)
        for member in group:
            if member.latest > end:
                member.start = end + 1
                waiting.setdefault(end + 1, []).append(member)


def _run_group(group: list[_Member], start: int, end: int) -> None:
    """One stacked detector from `start` to `end`, saving a checkpoint at each day boundary."""
    first = group[0].detector
    stacked = detection.WellbeingDetector(np.zeros((0, 3), dtype=bool), first.rules)
    stacked.state = stack([m.detector.state for m in group])
    step = start
    while step <= end:
        # Up to the next day boundary, where a checkpoint is saved.
        stop = min(end, (step // detection.SLOTS_PER_DAY + 1) * detection.SLOTS_PER_DAY - 1)
        values = np.concatenate([_cut(m.grid.values, m, step, stop) for m in group if m.grid])
        away = np.concatenate([_cut(m.away, m, step, stop) for m in group])
        for alert in stacked.process(values, step, away=away):
            member = group[alert.household]
            alert.household = 0
            member.found.append(alert)
        if (stop + 1) % detection.SLOTS_PER_DAY == 0:
            for member, saved in zip(group, split(stacked.state), strict=True):
                member.detector.checkpoints.append(saved)
        step = stop + 1
    if len(group) == 1:
        group[0].detector.state = take(stacked.state, slice(0, 1))
        return
    for member, state in zip(group, split(stacked.state), strict=True):
        member.detector.state = state


def _cut(array: np.ndarray, member: _Member, step: int, stop: int) -> np.ndarray:
    assert member.grid is not None
    window = member.grid.window
    return array[:, step - window : stop - window + 1]


def _finish(members: list[_Member]) -> list[Alert]:
    """Saves every member's detector (one statement per chunk) and raises what was found."""
    updated = []
    for member in members:
        detector, grid = member.detector, member.grid
        assert grid is not None
        detector.checkpoints = detector.checkpoints[-CHECKPOINT_DAYS:]
        oldest = detector.checkpoints[0].slot + 1
        detector.seen = grid.values[0, oldest - grid.window :].copy()
        household = member.household
        household.detector_state = state_dump(detector)
        household.detected_through = timezone.make_aware(detection.slot_end(grid.latest))
        updated.append(household)
    Household.objects.bulk_update(updated, ["detector_state", "detected_through"], batch_size=200)
    raised: list[Alert] = []
    for member in members:
        if not member.found:
            continue
        assert member.grid is not None
        found_now = alerts_new(member.household, member.found, replayed_from=member.replayed_from)
        for found in found_now:
            raised.append(
                alert_raise(
                    member.household, member.detector, member.grid.values, member.grid.window, found
                )
            )
    return raised


def detection_clear(household_ids: Sequence[int]) -> None:
    """Marks households as no longer waiting for detection (their pass is starting)."""
    Household.objects.filter(pk__in=household_ids).update(
        detection_queued_at=None, detection_since=None
    )
