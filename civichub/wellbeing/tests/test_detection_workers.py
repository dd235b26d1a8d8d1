"""The worker's detection over batches of households: reading intervals as meters send them,
waiting for every meter, and several workers sharing the due households."""

from __future__ import annotations

import json
import struct
import threading
import zlib
from datetime import datetime
from typing import Any

import numpy as np
import pytest
from django.db import connection, connections

from civichub.core import services as core
from civichub.testing.city import staff_user
from civichub.testing.wellbeing_simulation import simulate
from civichub.wellbeing import services
from civichub.wellbeing.detection import ELECTRICITY, SLOTS_PER_DAY, WATER, WellbeingDetector
from civichub.wellbeing.models import Household
from civichub.wellbeing.services import MeterSpec, detection_runs, detector_state
from civichub.wellbeing.services.detection_runs import passes
from civichub.wellbeing.tests.test_services import at

MASK = np.array([[True, True, False]])


def _enrol(city: Any, n: int) -> list[int]:
    worker = staff_user("community_worker", city.community_a1)
    ids = []
    for h in range(n):
        resident = core.resident_create(actor=None, name=f"住户{h}", community=city.community_a1)
        household = services.household_enrol(
            actor=None,
            resident=resident,
            worker=worker,
            consent_by="resident",
            meters=[
                MeterSpec("water", f"W{h}", cumulative=False),
                MeterSpec("electricity", f"E{h}", cumulative=True),
            ],
        )
        ids.append(household.pk)
    return ids


def _seen(household_id: int) -> np.ndarray:
    return detector_state.state_load(Household.objects.get(pk=household_id), MASK).seen


@pytest.mark.django_db
def test_hourly_values_are_split_in_two_and_quarter_hours_sum_into_their_half_hour(
    city: Any,
) -> None:
    """Water read every hour, electricity every 15 minutes: each half hour gets half an hourly
    value, and the two quarter hours' use of each half hour."""
    [household] = _enrol(city, 1)
    rows = [{"meter_id": "W0", "at": at(60 * k), "value": 0.02 * k} for k in range(1, 13)]
    rows += [{"meter_id": "E0", "at": at(15 * k), "value": 100 + 0.01 * k} for k in range(0, 49)]
    services.readings_ingest(actor=None, rows=rows)
    services.detection_run(household_id=household)
    seen = _seen(household)
    # The first hourly value covers 00:30-01:30, the 12th 11:30-12:30: 24 half hours.
    water = seen[:, WATER]
    np.testing.assert_allclose(water[:24], np.repeat([0.01 * k for k in range(1, 13)], 2))
    # Electricity from the second quarter hour on: 0.01 kWh a quarter, 0.02 a half hour.
    np.testing.assert_allclose(seen[1:24, ELECTRICITY], 0.02)


@pytest.mark.django_db
def test_detection_waits_for_every_meter_but_not_for_one_silent_past_the_data_gap_rule(
    city: Any,
) -> None:
    """Electricity has reported until 12:30 and water only until 06:30: the household is detected
    through 06:30 (what happened later cannot be decided yet). Once the water meter has been
    silent longer than the data-gap rule (6 h), detection goes on without it and the data-gap
    alert fires."""
    [household] = _enrol(city, 1)
    water = [{"meter_id": "W0", "at": at(30 * k), "value": 0.01} for k in range(0, 13)]
    power = [{"meter_id": "E0", "at": at(30 * k), "value": 100 + 0.1 * k} for k in range(0, 25)]
    services.readings_ingest(actor=None, rows=water + power)
    services.detection_run(household_id=household)
    detected = Household.objects.get(pk=household).detected_through
    assert detected == datetime.fromisoformat(at(30 * 12))
    assert _seen(household).shape[0] == 13  # 00:00-06:30: the first reading covers 00:00-00:30

    later = [{"meter_id": "E0", "at": at(30 * k), "value": 100 + 0.1 * k} for k in range(25, 40)]
    services.readings_ingest(actor=None, rows=later)
    kinds = [a.kind for a in services.detection_run(household_id=household)]
    assert "data_gap" in kinds
    detected = Household.objects.get(pk=household).detected_through
    assert detected == datetime.fromisoformat(at(30 * 39))
    assert _seen(household).shape[0] == 40


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_share_the_due_households_without_doing_one_twice(
    city: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers run the queued detection at once on PostgreSQL: each claims its own batches
    (the other's locked rows are skipped, not waited for), together they do every household,
    and none is done twice."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has one writer at a time")
    ids = _enrol(city, 12)
    rows = [
        {"meter_id": f"{utility}{h}", "at": at(30 * k), "value": 0.01 * k}
        for k in range(0, 20)
        for h in range(12)
        for utility in ("W", "E")
    ]
    services.readings_ingest(actor=None, rows=rows)
    assert Household.objects.filter(detection_queued_at__isnull=False).count() == 12

    done: dict[str, list[int]] = {"a": [], "b": []}
    both_inside = threading.Barrier(2, timeout=20)
    original = passes.detection_pass

    def recorded(households: Any, since: Any) -> Any:
        name = threading.current_thread().name
        if not done[name]:
            both_inside.wait()  # both workers hold a claimed batch at the same time
        done[name] += [h.pk for h in households]
        return original(households, since)

    monkeypatch.setattr(detection_runs, "detection_pass", recorded)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            services.detection_due_run(batch=4)
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, name=name) for name in done]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert done["a"] and done["b"]
    assert sorted(done["a"] + done["b"]) == sorted(ids)
    assert not Household.objects.filter(detection_queued_at__isnull=False).exists()
    assert Household.objects.filter(detected_through__isnull=False).count() == 12


def _day_rows(meter: str, steps: range) -> list[dict[str, Any]]:
    """Water drawn every other half hour, or an electricity register rising unevenly."""
    if meter.startswith("W"):
        return [{"meter_id": meter, "at": at(30 * k), "value": 0.01 * (k % 2)} for k in steps]
    return [
        {"meter_id": meter, "at": at(30 * k), "value": 100 + 0.05 * k + 0.01 * (k % 3)}
        for k in steps
    ]


@pytest.mark.django_db
def test_checkpoints_are_decoded_only_when_a_late_reading_makes_the_detector_go_back(
    city: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The day-boundary checkpoints are kept apart from the state: passes whose readings follow
    what was detected decode none; a late reading for a half hour already detected makes the
    detector go back to the last checkpoint before it, and it ends where a household whose
    readings all came on time ends."""
    decoded: list[int] = []
    decode = passes.checkpoint_row

    def counting(payload: bytes) -> np.ndarray:
        decoded.append(1)
        return decode(payload)

    monkeypatch.setattr(passes, "checkpoint_row", counting)
    late, on_time = _enrol(city, 2)
    # Four days first, so that the first run's own checkpoint is no longer kept (a pass from it
    # reads the meters' opening readings as gaps and goes back to it).
    late_step = 170  # the fourth day, 13:00
    first = range(0, 200)
    rows = _day_rows("E0", first) + _day_rows("E1", first) + _day_rows("W1", first)
    rows += _day_rows("W0", range(0, late_step)) + _day_rows("W0", range(late_step + 1, 200))
    services.readings_ingest(actor=None, rows=rows)
    for household in (late, on_time):
        services.detection_run(household_id=household)
    then = range(200, 210)
    rows = [r for meter in ("E0", "E1", "W0", "W1") for r in _day_rows(meter, then)]
    services.readings_ingest(actor=None, rows=rows)
    for household in (late, on_time):
        services.detection_run(household_id=household)
    assert decoded == []
    stored = Household.objects.get(pk=late)
    assert len(detector_state.checkpoints_split(stored.detector_checkpoints)) == 3

    services.readings_ingest(actor=None, rows=_day_rows("W0", range(late_step, late_step + 1)))
    services.detection_run(household_id=late)
    assert decoded == [1]
    replayed = detector_state.state_load(Household.objects.get(pk=late), MASK)
    expected = detector_state.state_load(Household.objects.get(pk=on_time), MASK)
    np.testing.assert_array_equal(replayed.seen, expected.seen)
    assert [c.slot for c in replayed.checkpoints] == [c.slot for c in expected.checkpoints]
    for got, want in zip(
        [replayed.state, *replayed.checkpoints],
        [expected.state, *expected.checkpoints],
        strict=True,
    ):
        assert got.slot == want.slot
        np.testing.assert_array_equal(
            detector_state.rows_encode(got), detector_state.rows_encode(want)
        )


@pytest.mark.django_db
def test_a_detector_saved_in_one_blob_is_read_and_saved_with_its_checkpoints_apart(
    city: Any,
) -> None:
    """A detector saved before checkpoints had their own column (state, checkpoints and seen in
    one blob) goes on from where it was; the pass saves its checkpoints in their column."""
    old, new = _enrol(city, 2)
    first = range(0, 200)
    rows = [r for meter in ("E0", "E1", "W0", "W1") for r in _day_rows(meter, first)]
    services.readings_ingest(actor=None, rows=rows)
    for household in (old, new):
        services.detection_run(household_id=household)
    saved = detector_state.state_load(Household.objects.get(pk=old), MASK)
    Household.objects.filter(pk=old).update(
        detector_state=detector_state.state_dump(saved), detector_checkpoints=None
    )
    then = range(200, 250)
    rows = [r for meter in ("E0", "E1", "W0", "W1") for r in _day_rows(meter, then)]
    services.readings_ingest(actor=None, rows=rows)
    for household in (old, new):
        services.detection_run(household_id=household)
    stored = Household.objects.get(pk=old)
    assert stored.detector_state is not None
    assert detector_state.is_row_blob(bytes(stored.detector_state))
    assert len(detector_state.checkpoints_split(stored.detector_checkpoints)) == 3
    got = detector_state.state_load(stored, MASK)
    want = detector_state.state_load(Household.objects.get(pk=new), MASK)
    np.testing.assert_array_equal(got.seen, want.seen)
    for a, b in zip([got.state, *got.checkpoints], [want.state, *want.checkpoints], strict=True):
        assert a.slot == b.slot
        np.testing.assert_array_equal(detector_state.rows_encode(a), detector_state.rows_encode(b))


def test_a_state_saved_before_a_field_was_added_is_read_with_that_fields_start() -> None:
    """A state whose saved layout lacks a field the detector has now (one added since) is read
    field by field by name: the missing field starts as a new state's, the others are kept."""
    sim = simulate(1, 2, seed=5)
    detector = WellbeingDetector(sim.meters)
    detector.process(sim.readings[:, :SLOTS_PER_DAY], 0)
    detector.state.sensitivity[:] = 1.5
    detector.state.p_active[:] = 0.25
    row = detector_state.rows_encode(detector.state)[0]
    layout = detector_state._layout()
    older = [f for f in layout.fields if f.name != "sensitivity"]
    head = json.dumps(
        [[f.name, f.dtype.str, list(f.shape)] for f in older], separators=(",", ":")
    ).encode()
    body = b"".join(row[f.offset : f.offset + f.size].tobytes() for f in older)
    payload = zlib.compress(struct.pack("<I", len(head)) + head + body)
    read = detector_state.checkpoint_row(payload)
    state = detector_state.rows_decode(read[np.newaxis], detector.state.slot)
    np.testing.assert_array_equal(state.sensitivity, [1.0])
    np.testing.assert_array_equal(state.p_active, detector.state.p_active)
    np.testing.assert_array_equal(state.ring, detector.state.ring)


def test_states_and_checkpoints_saved_with_zlib_are_still_read() -> None:
    """States and checkpoints are compressed with LZ4 now; those saved with zlib before read
    the same."""
    sim = simulate(1, 2, seed=5)
    detector = WellbeingDetector(sim.meters)
    detector.process(sim.readings[:, :SLOTS_PER_DAY], 0)
    row = detector_state.rows_encode(detector.state)[0]
    seen = sim.readings[0, :SLOTS_PER_DAY]
    blob = detector_state.state_pack(SLOTS_PER_DAY - 1, [SLOTS_PER_DAY - 1], seen, row)
    assert blob.startswith(detector_state._MAGIC3)
    body = detector_state._lz4_decompress(blob[len(detector_state._MAGIC3) :])
    older = detector_state._MAGIC2 + zlib.compress(body, 1)
    assert detector_state.is_row_blob(older)
    for saved in (detector_state.saved_state(blob), detector_state.saved_state(older)):
        assert saved.slot == SLOTS_PER_DAY - 1
        assert saved.checkpoint_slots == [SLOTS_PER_DAY - 1]
        np.testing.assert_array_equal(saved.seen, seen)
        np.testing.assert_array_equal(saved.row, row)
    payload = detector_state.checkpoint_compress(row)
    head = detector_state._layout().head
    zlib_payload = zlib.compress(struct.pack("<I", len(head)) + head + row.tobytes(), 1)
    for stored in (payload, zlib_payload):
        np.testing.assert_array_equal(detector_state.checkpoint_row(stored), row)
