"""One detection pass over a batch of households: their saved detectors, their readings read
set-based, one vectorised `WellbeingDetector.process` per group of households standing at the
same half hour, then the states saved and what was found raised as alerts.

Readings that arrived late, for half hours already detected, are detected again from the last
day boundary before them (up to `CHECKPOINT_DAYS` back); an alert the first pass already raised
is not raised again (one alert per household, kind and incident).

States travel through the pass as rows of bytes (`detector_state.rows_encode`): a group's rows are
decoded into one stacked state at once and encoded back at once, at each day boundary (a
checkpoint) and at the end. A household's checkpoints are decoded only when it is replayed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

import numpy as np
from django.db import connection
from django.utils import timezone

from civichub.wellbeing import detection
from civichub.wellbeing.models import Alert, AwayPeriod, Household
from civichub.wellbeing.services.detection_runs.grid import (
    GridRequest,
    HouseholdGrid,
    grids_build,
    meters_of,
    readings_fetch,
)
from civichub.wellbeing.services.detection_runs.raising import alert_raise, alerts_new
from civichub.wellbeing.services.detector_state import (
    checkpoint_compress,
    checkpoint_row,
    checkpoints_pack,
    checkpoints_split,
    fresh_row,
    is_row_blob,
    rows_decode,
    rows_encode,
    saved_state,
    state_load,
    state_pack,
)

# Readings that arrive this late or less are detected again from the last day boundary before
# them; older ones are stored (and charted) but not detected again.
CHECKPOINT_DAYS = 3
# The fields of a household a pass reads (a batch's households may be loaded with these only).
PASS_FIELDS = ("id", "consent_withdrawn_at", "detector_state", "detector_checkpoints")


# The deployment's zone is looked up once per pass and handed down: Django's lookup of the
# current zone goes through a context-local variable, dear enough to show at a few per household.


def _aware_slot_start(slot: int, zone: tzinfo) -> datetime:
    return timezone.make_aware(detection.slot_start(slot), zone)


def _local_slot(moment: datetime, zone: tzinfo) -> int:
    return detection.slot_of(timezone.localtime(moment, zone))


@dataclass
class _Member:
    """A household in the pass: its state (a row of bytes at half hour `slot`), its checkpoints,
    its readings grid and what the pass found."""

    household: Household
    meters: np.ndarray  # (1, 3): the utilities it has meters for
    slot: int  # the half hour `row` stands at: the last detected, -1 before the first run
    row: np.ndarray
    # (half hour, compressed row as stored or a new row), oldest first; None: not read yet
    # (only the half hours are known, in `checkpoint_slots`).
    checkpoints: list[tuple[int, bytes | np.ndarray]] | None
    checkpoint_slots: list[int]
    seen: np.ndarray
    done: int
    full: bool  # read from the oldest checkpoint and compared with what was seen
    checkpoints_changed: bool = False
    grid: HouseholdGrid | None = None
    away: np.ndarray = field(default_factory=lambda: np.zeros((1, 0), dtype=bool))
    start: int = 0
    replayed_from: int | None = None  # where a replay over detected half hours began
    found: list[detection.Alert] = field(default_factory=list)

    @property
    def latest(self) -> int:
        assert self.grid is not None
        return self.grid.latest

    @property
    def oldest(self) -> int:
        """The first half hour after the oldest checkpoint (what `seen` starts at)."""
        return self.checkpoint_slots[0] + 1 if self.checkpoint_slots else self.done + 1

    def checkpoints_read(self) -> list[tuple[int, bytes | np.ndarray]]:
        if self.checkpoints is None:
            self.checkpoints = list(checkpoints_split(self.household.detector_checkpoints))
        return self.checkpoints

    def detector(self) -> detection.WellbeingDetector:
        """A detector holding the member's state (to chart an alert)."""
        detector = detection.WellbeingDetector(self.meters)
        detector.state = rows_decode(self.row[np.newaxis], self.slot)
        return detector


def detection_pass(
    households: Sequence[Household], since: Mapping[int, datetime | None]
) -> list[Alert]:
    """Detects `households` (locked by the caller, in its transaction) over their new readings
    and marks them as no longer waiting for detection. `since` is each household's earliest
    reading stored since its last pass, None when unknown: only a household with readings at or
    before the half hours already detected is read from its oldest checkpoint and compared with
    what it saw. A household whose state is saved is marked in the same statement; the others
    with one statement for all."""
    saved: set[int] = set()
    alerts = _pass(households, since, saved)
    rest = [household.pk for household in households if household.pk not in saved]
    if rest:
        detection_clear(rest)
    return alerts


def _pass(
    households: Sequence[Household], since: Mapping[int, datetime | None], saved: set[int]
) -> list[Alert]:
    consenting = [h for h in households if h.consenting]
    if not consenting:
        return []
    meters = meters_of([h.pk for h in consenting])
    utilities: dict[int, list[int]] = {}
    for meter in meters:
        utilities.setdefault(meter.household_id, []).append(meter.utility)
    zone = timezone.get_current_timezone()
    members = [_member(h, utilities.get(h.pk, []), since.get(h.pk), zone) for h in consenting]
    rules = detection.Rules()
    requests = [_request(m) for m in members]
    # A reading's predecessor is needed to tell its interval: the fetch reaches back as far as
    # the data-gap rule (a longer silence is a gap whatever the meter's interval).
    margin = timedelta(hours=rules.gap_hours)
    readings = readings_fetch([m.pk for m in meters], _fetch_after(requests, zone) - margin)
    grids = grids_build(requests, meters, readings, gap_slots=rules.slots(rules.gap_hours))
    ready = []
    for member in members:
        if _prepare(member, grids.get(member.household.pk)):
            ready.append(member)
    if not ready:
        return []
    _away_masks(ready, zone)
    _run(ready)
    return _finish(ready, zone, saved)


def _fetch_after(requests: Sequence[GridRequest], zone: tzinfo) -> datetime:
    """The earliest half hour any household needs (the first reading on, on a first run)."""
    if any(r.window < 0 for r in requests):
        return timezone.make_aware(detection.EPOCH, zone)
    return _aware_slot_start(min(r.window for r in requests), zone)


def _member(
    household: Household, utilities: list[int], since: datetime | None, zone: tzinfo
) -> _Member:
    mask = np.zeros((1, 3), dtype=bool)
    mask[0, utilities] = True
    blob = bytes(household.detector_state) if household.detector_state else b""
    if not blob:
        # A first run: the new state every household starts from, encoded once per kind.
        row = fresh_row((mask[0, 0], mask[0, 1], mask[0, 2]))
        member = _Member(
            household,
            mask,
            -1,
            row,
            [],
            [],
            np.zeros((0, 3)),
            done=-1,
            full=True,
            checkpoints_changed=True,
        )
    elif is_row_blob(blob):
        saved = saved_state(blob)
        member = _Member(
            household,
            mask,
            saved.slot,
            saved.row,
            None,
            saved.checkpoint_slots,
            saved.seen,
            done=saved.slot,
            full=True,
        )
    else:
        # A detector saved in one blob with its checkpoints (the older kind): its checkpoints
        # move to their own column when the pass saves it.
        detector = state_load(household, mask)
        checkpoints: list[tuple[int, bytes | np.ndarray]] = [
            (c.slot, rows_encode(c)[0]) for c in detector.checkpoints
        ]
        member = _Member(
            household,
            mask,
            detector.state.slot,
            rows_encode(detector.state)[0],
            checkpoints,
            [slot for slot, _ in checkpoints],
            detector.seen,
            done=detector.state.slot,
            full=True,
            checkpoints_changed=True,
        )
    done = member.done
    member.full = not (
        since is not None
        and done >= 0
        and _local_slot(since - timedelta(microseconds=1), zone) > done
        and member.seen.shape[0] == done - member.oldest + 1
    )
    return member


def _request(member: _Member) -> GridRequest:
    done = member.done
    if done < 0:
        window = -1
    elif member.full:
        window = member.oldest
    else:
        window = done + 1
    return GridRequest(household=member.household.pk, window=window, done=done)


def _prepare(member: _Member, grid: HouseholdGrid | None) -> bool:
    """The member's grid from its oldest checkpoint, and the half hour to detect from; False
    when there is nothing new."""
    if grid is None:
        return False
    done = member.done
    if done < 0:
        member.slot = grid.window - 1
        member.checkpoints = [(member.slot, member.row.copy())]
        member.checkpoint_slots = [member.slot]
        member.checkpoints_changed = True
        member.grid, member.start = grid, grid.window
        return grid.latest >= grid.window
    if not member.full:
        # Nothing arrived for the half hours already detected: what was seen stands.
        values = np.concatenate([member.seen[np.newaxis], grid.values], axis=1)
        grid = HouseholdGrid(window=member.oldest, latest=grid.latest, values=values)
        member.grid, member.start = grid, done + 1
    else:
        member.grid, member.start = grid, _replay_start(member, grid, done)
        if member.start <= done:
            member.replayed_from = member.start
    return member.start <= grid.latest


def _replay_start(member: _Member, grid: HouseholdGrid, done: int) -> int:
    """The first half hour to detect: the next one, or, when readings changed half hours
    already detected, the last checkpoint before the first of them (the detector goes back
    to it)."""
    seen = member.seen[: done - grid.window + 1]
    before = grid.values[0, : seen.shape[0]]
    same = np.isclose(before, seen, rtol=1e-9, atol=1e-12) | (np.isnan(before) & np.isnan(seen))
    changed = np.flatnonzero(~same.all(axis=1))
    start = member.slot + 1
    if changed.size:
        first_changed = grid.window + int(changed[0])
        kept = [c for c in member.checkpoints_read() if c[0] < first_changed]
        if kept:
            slot, saved = kept[-1]
            member.row = saved.copy() if isinstance(saved, np.ndarray) else checkpoint_row(saved)
            member.slot = slot
            member.checkpoints = kept
            member.checkpoint_slots = [c[0] for c in kept]
            member.checkpoints_changed = True
            start = slot + 1
    return start


def _away_masks(members: list[_Member], zone: tzinfo) -> None:
    """The half hours of each member's grid its household said it was away (one query)."""
    by_pk = {m.household.pk: m for m in members}
    for m in members:
        assert m.grid is not None
        m.away = np.zeros((1, m.grid.latest - m.grid.window + 1), dtype=bool)
    earliest = _aware_slot_start(min(m.grid.window for m in members if m.grid is not None), zone)
    periods = AwayPeriod.objects.filter(
        household_id__in=list(by_pk), cancelled_at__isnull=True, ends_at__gt=earliest
    ).values_list("household_id", "starts_at", "ends_at")
    for household_id, starts_at, ends_at in periods:
        m = by_pk[household_id]
        assert m.grid is not None
        a = max(_local_slot(starts_at, zone) - m.grid.window, 0)
        b = min(_local_slot(ends_at, zone) - m.grid.window, m.away.shape[1])
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
    stacked = detection.WellbeingDetector(np.zeros((0, 3), dtype=bool), detection.Rules())
    stacked.state = rows_decode(np.stack([m.row for m in group]), start - 1)
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
            for member, row in zip(group, rows_encode(stacked.state), strict=True):
                member.checkpoints_read().append((stop, row))
                member.checkpoint_slots.append(stop)
                member.checkpoints_changed = True
        step = stop + 1
    for member, row in zip(group, rows_encode(stacked.state), strict=True):
        member.row, member.slot = row, end


def _cut(array: np.ndarray, member: _Member, step: int, stop: int) -> np.ndarray:
    assert member.grid is not None
    window = member.grid.window
    return array[:, step - window : stop - window + 1]


def _finish(members: list[_Member], zone: tzinfo, saved: set[int]) -> list[Alert]:
    """Saves every member's detector (one statement per household, sent at once; `saved` gets
    their ids) and raises what was found."""
    states, checkpoints = [], []
    for member in members:
        grid = member.grid
        assert grid is not None
        slots = member.checkpoint_slots[-CHECKPOINT_DAYS:]
        seen = grid.values[0, slots[0] + 1 - grid.window :]
        through = timezone.make_aware(detection.slot_end(grid.latest), zone)
        states.append((state_pack(member.slot, slots, seen, member.row), through, member))
        if member.checkpoints_changed:
            kept = member.checkpoints_read()[-CHECKPOINT_DAYS:]
            packed = [
                (slot, checkpoint_compress(saved) if isinstance(saved, np.ndarray) else saved)
                for slot, saved in kept
            ]
            checkpoints.append((checkpoints_pack(packed), member))
    _states_save(states, checkpoints)
    saved.update(member.household.pk for member in members)
    raised: list[Alert] = []
    alerting = [m for m in members if m.found]
    partial = [m for m in alerting if m.household.get_deferred_fields()]
    if partial:
        # Loaded with the fields the pass reads (`PASS_FIELDS`); an alert reads the rest.
        full = Household.objects.in_bulk([m.household.pk for m in partial])
        for member in partial:
            member.household = full[member.household.pk]
    for member in alerting:
        assert member.grid is not None
        found_now = alerts_new(member.household, member.found, replayed_from=member.replayed_from)
        detector = member.detector() if found_now else None
        for found in found_now:
            assert detector is not None
            raised.append(
                alert_raise(
                    member.household, detector, member.grid.values, member.grid.window, found
                )
            )
    return raised


def _states_save(
    states: list[tuple[bytes, datetime, _Member]], checkpoints: list[tuple[bytes, _Member]]
) -> None:
    """The detectors' columns, written with one prepared statement per kind of row (the ORM's
    bulk update builds a CASE per column over the whole batch, which costs more than the
    writes), each household's in one statement that also marks it as no longer due: one new
    row version per household and pass (on PostgreSQL each update writes one)."""
    quote = connection.ops.quote_name
    table = quote(Household._meta.db_table)
    state, through, checkpoint, queued, earliest, pk = (
        quote(name)
        for name in (
            "detector_state",
            "detected_through",
            "detector_checkpoints",
            "detection_queued_at",
            "detection_since",
            "id",
        )
    )
    adapt = connection.ops.adapt_datetimefield_value
    new_checkpoints = {id(m): blob for blob, m in checkpoints}
    plain, with_checkpoints = [], []
    for blob, at, m in states:
        if id(m) in new_checkpoints:
            with_checkpoints.append((blob, adapt(at), new_checkpoints[id(m)], m.household.pk))
        else:
            plain.append((blob, adapt(at), m.household.pk))
    cleared = f"{queued} = NULL, {earliest} = NULL"
    with connection.cursor() as cursor:
        if plain:
            cursor.executemany(
                f"UPDATE {table} SET {state} = %s, {through} = %s, {cleared} WHERE {pk} = %s",  # noqa: S608  # nosec B608
                plain,
            )
        if with_checkpoints:
            cursor.executemany(
                f"UPDATE {table} SET {state} = %s, {through} = %s, {checkpoint} = %s, "  # noqa: S608  # nosec B608
                f"{cleared} WHERE {pk} = %s",
                with_checkpoints,
            )
    for blob, at, m in states:
        m.household.detector_state, m.household.detected_through = blob, at
    for blob, m in checkpoints:
        m.household.detector_checkpoints = blob


def detection_clear(household_ids: Sequence[int]) -> None:
    """Marks households as no longer waiting for detection (their pass is starting)."""
    Household.objects.filter(pk__in=household_ids).update(
        detection_queued_at=None, detection_since=None
    )
