"""Detector states stacked for one vectorised pass over many households, and split back: the
batch gives each household exactly what its own detector gives."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest

from civichub.testing.wellbeing_simulation import Incident, simulate
from civichub.wellbeing.detection import SLOTS_PER_DAY, DetectorState, WellbeingDetector
from civichub.wellbeing.detection.batch import split, stack, take
from civichub.wellbeing.models import Household
from civichub.wellbeing.services import detector_state

pytestmark = pytest.mark.once  # the same on any database: the SQLite run runs it

DAY = SLOTS_PER_DAY


def _assert_same_state(left: DetectorState, right: DetectorState) -> None:
    for field in dataclasses.fields(DetectorState):
        a, b = getattr(left, field.name), getattr(right, field.name)
        if isinstance(a, dict):
            assert a.keys() == b.keys(), field.name
            for key in a:
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{field.name}.{key}")
        else:
            np.testing.assert_array_equal(a, b, err_msg=field.name)


def test_a_batch_pass_over_many_households_equals_each_households_own_pass() -> None:
    """Eight households with different pasts (different days of learning, one falls, one leaves
    the stove on) are detected one by one, and again side by side from their stacked states:
    every alert and every array of every state is the same."""
    households, days = 8, 30
    incidents = [
        Incident(household=2, kind="no_use", start=25 * DAY + 20, hours=16),
        Incident(household=5, kind="stove", start=26 * DAY + 24, hours=5),
    ]
    sim = simulate(households, days, seed=11, incidents=incidents)
    alone = [WellbeingDetector(sim.meters[h : h + 1]) for h in range(households)]
    # A different past for each: household h has seen (20 + h % 3) days before the batch starts.
    start = 23 * DAY
    for h, detector in enumerate(alone):
        first = (3 - h % 3) * DAY
        detector.process(sim.readings[h : h + 1, first:start], first)
    before = [detector.snapshot() for detector in alone]

    expected = []
    for h, detector in enumerate(alone):
        for found in detector.process(
            sim.readings[h : h + 1, start:], start, away=sim.away[h : h + 1, start:]
        ):
            expected.append((h, found.kind, found.slot, found.evidence))

    batch = WellbeingDetector(sim.meters)
    batch.state = stack(before)
    raised = batch.process(sim.readings[:, start:], start, away=sim.away[:, start:])
    got = [(a.household, a.kind, a.slot, a.evidence) for a in raised]
    assert {"no_use", "gas_long_flow"} <= {kind for _, kind, _, _ in expected}
    assert sorted(got, key=repr) == sorted(expected, key=repr)
    for h, state in enumerate(split(batch.state)):
        _assert_same_state(state, alone[h].state)


def test_take_copies_rows_so_households_no_longer_share_arrays() -> None:
    sim = simulate(3, 2, seed=3)
    detector = WellbeingDetector(sim.meters)
    detector.process(sim.readings[:, :DAY], 0)
    picked = take(detector.state, [2, 0])
    np.testing.assert_array_equal(picked.meters, sim.meters[[2, 0]])
    picked.ring[:] = -1.0
    for array in picked.active.values():
        array[:] = True
    assert (detector.state.ring >= 0).all()
    assert not any(array.all() for array in detector.state.active.values())
    assert picked.slot == detector.state.slot


def test_households_at_different_half_hours_are_not_stacked() -> None:
    sim = simulate(2, 2, seed=3)
    ahead, behind = WellbeingDetector(sim.meters[:1]), WellbeingDetector(sim.meters[1:])
    ahead.process(sim.readings[:1, :DAY], 0)
    behind.process(sim.readings[1:, : DAY - 1], 0)
    with pytest.raises(ValueError, match="slot"):
        stack([ahead.state, behind.state])


def test_a_saved_detector_reads_back_the_same_also_from_the_older_numpy_archive() -> None:
    """The detector is saved as one compressed blob; one saved as a NumPy archive before is
    still read."""
    sim = simulate(1, 3, seed=5)
    detector = WellbeingDetector(sim.meters)
    detector.checkpoints = [detector.snapshot()]
    detector.process(sim.readings[:, : 2 * DAY], 0)
    detector.checkpoints.append(detector.snapshot())
    detector.seen = sim.readings[0, : 2 * DAY].copy()
    arrays = detector_state._state_arrays(detector.state)
    arrays["checkpoints"] = np.array(len(detector.checkpoints))
    for n, checkpoint in enumerate(detector.checkpoints):
        arrays.update(detector_state._state_arrays(checkpoint, f"checkpoint{n}__"))
    arrays["seen"] = detector.seen
    archive = io.BytesIO()
    np.savez_compressed(archive, **arrays)
    for blob in (detector_state.state_dump(detector), archive.getvalue()):
        loaded = detector_state.state_load(Household(detector_state=blob), sim.meters)
        _assert_same_state(loaded.state, detector.state)
        assert len(loaded.checkpoints) == 2
        for got, saved in zip(loaded.checkpoints, detector.checkpoints, strict=True):
            _assert_same_state(got, saved)
        np.testing.assert_array_equal(loaded.seen, detector.seen)
