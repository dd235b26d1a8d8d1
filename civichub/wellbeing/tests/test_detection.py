"""The detector on synthetic households with injected incidents: each fixed rule, the learned
routine, away periods, and missing readings told apart from no use."""

from __future__ import annotations

import dataclasses
import functools
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from django.apps import apps
from django.utils import timezone

from civichub.testing.wellbeing_simulation import Incident, Simulation, simulate
from civichub.wellbeing import services, tasks
from civichub.wellbeing.detection import (
    ELECTRICITY,
    GAS,
    SLOTS_PER_DAY,
    SLOTS_PER_HOUR,
    WATER,
    Alert,
    Kind,
    Rules,
    Severity,
    WellbeingDetector,
    slot_end,
    slot_of,
)
from civichub.wellbeing.models import Household
from civichub.wellbeing.services import detector_state
from civichub.wellbeing.tests.test_services import START, at, home, quiet_day  # noqa: F401

pytestmark = pytest.mark.once  # the same on any database: the SQLite run runs it

WEEKS = 5
MASK = np.array([[True, True, False]])  # the test home: water and electricity meters
DAY = SLOTS_PER_DAY
# Incidents start after the learning weeks, on a Wednesday at 10:00.
ONSET = 4 * 7 * DAY + 2 * DAY + 10 * SLOTS_PER_HOUR


def run(sim, rules: Rules | None = None, batch: int = 48) -> list[Alert]:
    detector = WellbeingDetector(sim.meters, rules)
    alerts: list[Alert] = []
    slots = sim.readings.shape[1]
    for start in range(0, slots, batch):
        alerts += detector.process(
            sim.readings[:, start : start + batch],
            start,
            away=sim.away[:, start : start + batch],
        )
    return alerts


def kinds_for(alerts: list[Alert], household: int, after: int = 0) -> dict[str, int]:
    first: dict[str, int] = {}
    for alert in alerts:
        if alert.household == household and alert.slot >= after:
            first.setdefault(alert.kind, alert.slot)
    return first


# Incident starts other than ONSET, before the routine is learned or at another hour.
SECOND_WEEK = 7 * DAY + 10 * SLOTS_PER_HOUR  # a Monday at 10:00
WEDNESDAY = 4 * 7 * DAY + 2 * DAY  # 00:00
WEDNESDAY_NIGHT = WEDNESDAY + 1 * SLOTS_PER_HOUR  # 01:00
WEDNESDAY_EVENING = WEDNESDAY + 20 * SLOTS_PER_HOUR  # 20:00
# Every (kind, hours, start) that `incident_run` is asked for below.
INCIDENTS: tuple[tuple[str, float, int], ...] = (
    ("no_use", 30, ONSET),
    ("no_use", 30, WEDNESDAY_EVENING),
    ("no_use_lamp", 30, ONSET),
    ("away_marked", 72, ONSET),
    ("away_unmarked", 72, ONSET),
    ("leak", 30, SECOND_WEEK),
    ("leak", 30, ONSET),
    ("stove", 5, SECOND_WEEK),
    ("stove", 5, ONSET),
    ("shifted", 5, WEDNESDAY),
    ("fault", 20, ONSET),
    ("night", 3, WEDNESDAY_NIGHT),
    ("stuck", 36, ONSET),
)


def _incident_sim(kind: str, hours: float, start: int) -> Any:
    incidents = [Incident(household=0, kind=kind, start=start, hours=hours)]
    sim = simulate(4, WEEKS * 7, seed=1, incidents=incidents)
    sim.meters[0, GAS] = True  # household 0 cooks with gas in every scenario
    if np.isnan(sim.readings[0, :, GAS]).all():
        sim.readings[0, :, GAS] = 0.0
        if kind == "stove":
            sim.readings[0, start : start + int(hours * SLOTS_PER_HOUR), GAS] = 0.06
    return sim


@functools.cache
def _incident_runs() -> dict[tuple[str, float, int], tuple[Any, list[Alert]]]:
    """Every scenario's four households simulated, then detected side by side in one pass:
    households are independent (a batch pass over many equals each one's own pass,
    test_detection_batch), and the detector's time goes on its steps, nearly the same for 52
    households as for 4. Each scenario gets its own alerts, numbered from its household 0."""
    sims = [_incident_sim(*incident) for incident in INCIDENTS]
    together = Simulation(
        readings=np.concatenate([sim.readings for sim in sims]),
        away=np.concatenate([sim.away for sim in sims]),
        meters=np.concatenate([sim.meters for sim in sims]),
        incidents=[],
        usual_wake=np.concatenate([sim.usual_wake for sim in sims]),
    )
    alerts = run(together)
    runs: dict[tuple[str, float, int], tuple[Any, list[Alert]]] = {}
    for n, (incident, sim) in enumerate(zip(INCIDENTS, sims, strict=True)):
        first = n * len(sim.meters)
        rows = range(first, first + len(sim.meters))
        own = [
            dataclasses.replace(a, household=a.household - first)
            for a in alerts
            if a.household in rows
        ]
        runs[incident] = (sim, own)
    return runs


def incident_run(kind: str, hours: float, start: int = ONSET) -> tuple[Any, list[Alert]]:
    """The simulation of four households, household 0 with the incident, and the alerts."""
    return _incident_runs()[(kind, hours, start)]


def test_households_without_incidents_rarely_alert_the_family() -> None:
    """Fewer than 2 urgent or warning alerts per 100 household-months once the routine is learned,
    through outings, link outages, nights without a toilet visit and the seasons' drift (the
    benchmark prints the rate over 10,000 households)."""
    sim = simulate(200, WEEKS * 7, seed=7)
    alerts = run(sim)
    learned_from = 3 * 7 * DAY
    loud = [a for a in alerts if a.severity != Severity.INFO and a.slot >= learned_from]
    household_months = 200 * (WEEKS * 7 - 21) / 30
    assert len(loud) / household_months * 100 < 2


def test_no_water_for_twelve_hours_raises_no_use_within_the_window() -> None:
    _, alerts = incident_run("no_use", 30)
    first = kinds_for(alerts, 0, after=ONSET)
    assert Kind.NO_USE in first
    assert first[Kind.NO_USE] - ONSET <= 12 * SLOTS_PER_HOUR + 1


def test_a_lamp_left_on_does_not_hide_no_use() -> None:
    """After a fall the television may stay on: electricity above standby but steady. Only a
    change between half hours (something switched) counts as someone about."""
    _, alerts = incident_run("no_use_lamp", 30)
    first = kinds_for(alerts, 0, after=ONSET)
    assert first[Kind.NO_USE] - ONSET <= 12 * SLOTS_PER_HOUR + 1


def test_an_afternoon_out_is_not_inactivity() -> None:
    """Two and a half hours out shopping, at hours when this household is usually busy at home,
    raise nothing."""
    sim = simulate(4, WEEKS * 7, seed=12)
    out = slice(ONSET + 4 * SLOTS_PER_HOUR, ONSET + 6 * SLOTS_PER_HOUR + 1)  # 14:00-16:30
    sim.readings[:, out, WATER] = 0.0
    sim.readings[:, out, GAS] = np.where(sim.meters[:, GAS, None], 0.0, np.nan)
    sim.readings[:, out, ELECTRICITY] = sim.readings[:, ONSET - 7 * SLOTS_PER_HOUR, ELECTRICITY][
        :, None
    ]
    alerts = [a for a in run(sim) if ONSET <= a.slot < ONSET + DAY]
    assert [a for a in alerts if a.severity != Severity.INFO] == []


def test_learned_routine_notices_a_quiet_morning_before_the_fixed_rule() -> None:
    _, alerts = incident_run("no_use", 30)
    first = kinds_for(alerts, 0, after=ONSET)
    assert first[Kind.INACTIVITY] < first[Kind.NO_USE]


def test_a_late_start_is_not_raised_on_top_of_an_alert_that_nobody_is_about() -> None:
    """A fall in the evening: the no-use alert has gone out; the next morning's missing first
    use is the same incident, not a second alert."""
    evening = WEDNESDAY_EVENING
    _, alerts = incident_run("no_use", 30, start=evening)
    first = kinds_for(alerts, 0, after=evening)
    assert Kind.NO_USE in first or Kind.INACTIVITY in first
    assert Kind.NO_FIRST_USE not in first


def test_marked_away_period_silences_no_use() -> None:
    _, alerts = incident_run("away_marked", 72)
    first = kinds_for(alerts, 0, after=ONSET)
    assert Kind.NO_USE not in first
    assert Kind.INACTIVITY not in first
    assert Kind.NO_FIRST_USE not in first


def test_unmarked_absence_still_raises_no_use() -> None:
    _, alerts = incident_run("away_unmarked", 72)
    assert Kind.NO_USE in kinds_for(alerts, 0, after=ONSET)


def test_water_in_every_half_hour_for_a_day_is_continuous_flow() -> None:
    """Before the routine is learned, the fixed rule: water in every half hour for 24 hours."""
    start = SECOND_WEEK
    _, alerts = incident_run("leak", 30, start=start)
    first = kinds_for(alerts, 0, after=start)
    # The run may have begun with ordinary draws just before the leak.
    assert 22 * SLOTS_PER_HOUR <= first[Kind.CONTINUOUS_FLOW] - start < 24 * SLOTS_PER_HOUR
    assert Kind.CONTINUOUS_FLOW not in kinds_for(alerts, 1)


def test_a_leak_running_through_hours_that_are_usually_dry_is_caught_sooner() -> None:
    """Once the routine is learned, water in every half hour through the evening and the night
    (when this household draws water rarely) is improbable long before 24 hours pass."""
    _, alerts = incident_run("leak", 30)
    first = kinds_for(alerts, 0, after=ONSET)
    assert 3 * SLOTS_PER_HOUR <= first[Kind.CONTINUOUS_FLOW] - ONSET < 20 * SLOTS_PER_HOUR
    assert all(Kind.CONTINUOUS_FLOW not in kinds_for(alerts, h) for h in (1, 2, 3))


def test_gas_flowing_for_three_hours_is_a_stove_left_on_by_the_fixed_rule() -> None:
    """Before the routine is learned only the deployment's rule (3 hours) speaks."""
    start = SECOND_WEEK
    sim, alerts = incident_run("stove", 5, start=start)
    first = kinds_for(alerts, 0, after=start)
    # Three hours of gas; a half hour in which the person also ran 20 litres of water (the
    # gas may be heating it) neither counts nor breaks the run.
    water = sim.readings[0, start : first[Kind.GAS_LONG_FLOW] + 1, WATER]
    hot = int((np.nan_to_num(water) >= 0.02).sum())
    assert first[Kind.GAS_LONG_FLOW] - start == 3 * SLOTS_PER_HOUR - 1 + hot


def test_gas_flowing_an_hour_past_the_usual_cooking_is_a_stove_left_on() -> None:
    """This household cooks for half an hour at a time, so a stove on for 1.5 hours is enough."""
    _, alerts = incident_run("stove", 5)
    first = kinds_for(alerts, 0, after=ONSET)
    assert first[Kind.GAS_LONG_FLOW] - ONSET == 3 - 1
    assert not [a for a in alerts if a.kind == Kind.GAS_LONG_FLOW and a.slot < ONSET]


def test_getting_up_much_later_than_usual_is_no_first_use() -> None:
    start = WEDNESDAY
    _, alerts = incident_run("shifted", 5, start=start)
    assert Kind.NO_FIRST_USE in kinds_for(alerts, 0, after=start)
    assert Kind.NO_FIRST_USE not in kinds_for(alerts, 1, after=start)


def test_a_morning_lost_in_transit_is_not_a_late_start() -> None:
    """The link is down from 04:00 to 11:00, while the household gets up as usual and goes out
    until 13:00: its first use is unknown, not late."""
    sim = simulate(2, WEEKS * 7, seed=13)
    day = 4 * 7 * DAY + 2 * DAY
    sim.readings[:, day + 4 * SLOTS_PER_HOUR : day + 11 * SLOTS_PER_HOUR, :] = np.nan
    out = slice(day + 11 * SLOTS_PER_HOUR, day + 13 * SLOTS_PER_HOUR)
    sim.readings[:, out, WATER] = 0.0
    sim.readings[:, out, GAS] = np.where(sim.meters[:, GAS, None], 0.0, np.nan)
    sim.readings[:, out, ELECTRICITY] = sim.readings[:, day + 3 * SLOTS_PER_HOUR, ELECTRICITY][
        :, None
    ]
    first = kinds_for(run(sim), 0, after=day)
    assert Kind.NO_FIRST_USE not in first
    assert first[Kind.DATA_GAP] == day + 10 * SLOTS_PER_HOUR - 1


def test_missing_readings_are_a_data_gap_not_no_use() -> None:
    _, alerts = incident_run("fault", 20)
    first = kinds_for(alerts, 0, after=ONSET)
    assert Kind.DATA_GAP in first
    assert Kind.NO_USE not in first
    alert = next(a for a in alerts if a.kind == Kind.DATA_GAP and a.household == 0)
    assert alert.evidence["utility"] == "water"
    assert "not the same as no use" in alert.explanation


def test_more_than_two_cubic_metres_a_day_is_high_use() -> None:
    sim = simulate(2, 7, seed=3)
    sim.readings[0, 2 * DAY : 3 * DAY, WATER] += 0.05
    first = kinds_for(run(sim), 0)
    assert Kind.HIGH_USE in first
    assert Kind.HIGH_USE not in kinds_for(run(sim), 1)


def test_being_up_at_night_with_the_lights_on_is_night_activity() -> None:
    night = WEDNESDAY_NIGHT
    _, alerts = incident_run("night", 3, start=night)
    first = kinds_for(alerts, 0, after=night)
    # An hour and a half of activity; the first switch counts once a second corroborates it.
    assert 3 - 1 <= first[Kind.NIGHT_ACTIVITY] - night <= 3


def test_a_heater_left_on_through_the_night_is_not_night_activity() -> None:
    """Electricity well above standby all night but steady: nobody switched anything on."""
    sim = simulate(2, WEEKS * 7, seed=4)
    evening = 4 * 7 * DAY + DAY + 21 * SLOTS_PER_HOUR  # Tuesday 21:00 to Wednesday 07:00
    sim.readings[0, evening : evening + 10 * SLOTS_PER_HOUR, ELECTRICITY] += 0.4
    assert Kind.NIGHT_ACTIVITY not in kinds_for(run(sim), 0, after=evening)


def test_toilet_flushes_in_the_dark_are_not_night_activity() -> None:
    sim = simulate(2, WEEKS * 7, seed=4)
    night = 4 * 7 * DAY + 2 * DAY + 1 * SLOTS_PER_HOUR  # Wednesday 01:00
    sim.readings[0, night : night + 2 * SLOTS_PER_HOUR, WATER] = 0.006
    assert Kind.NIGHT_ACTIVITY not in kinds_for(run(sim), 0, after=night)


def test_activity_at_a_rare_night_hour_is_flagged() -> None:
    sim = simulate(2, WEEKS * 7, seed=4)
    night = 4 * 7 * DAY + 2 * DAY + 2 * SLOTS_PER_HOUR  # Wednesday 02:00
    sim.readings[0, night : night + 3 * SLOTS_PER_HOUR, WATER] = 0.02
    sim.readings[0, night : night + 3 * SLOTS_PER_HOUR, ELECTRICITY] += 0.5
    first = kinds_for(run(sim), 0, after=night)
    assert first[Kind.NIGHT_ACTIVITY] - night < 2 * SLOTS_PER_HOUR


def test_a_lasting_drop_in_electricity_is_a_level_change() -> None:
    sim = simulate(2, WEEKS * 7, seed=5)
    change = 4 * 7 * DAY
    sim.readings[0, change:, ELECTRICITY] *= 6
    first = kinds_for(run(sim), 0, after=change)
    assert first[Kind.LEVEL_CHANGE] - change <= 3 * DAY
    alert = next(a for a in run(sim) if a.kind == Kind.LEVEL_CHANGE)
    assert alert.evidence["utility"] == "electricity"


def test_daily_water_falling_to_a_quarter_is_a_level_change() -> None:
    """Someone who has stopped washing and cooking: a quarter of the usual water, day after
    day. A change this large is reported after two days."""
    sim = simulate(2, WEEKS * 7, seed=5)
    change = 4 * 7 * DAY
    sim.readings[0, change:, WATER] *= 0.25
    alerts = run(sim)
    first = kinds_for(alerts, 0, after=change)
    assert first[Kind.LEVEL_CHANGE] - change == 2 * DAY - 1
    alert = next(a for a in alerts if a.kind == Kind.LEVEL_CHANGE and a.household == 0)
    assert alert.evidence["utility"] == "water"
    assert alert.evidence["ratio"] < 0.5
    assert Kind.LEVEL_CHANGE not in kinds_for(alerts, 1)


def test_one_day_without_cooking_is_not_a_level_change() -> None:
    sim = simulate(4, WEEKS * 7, seed=14)
    sim.meters[:, GAS] = True
    sim.readings[:, :, GAS] = np.nan_to_num(sim.readings[:, :, GAS])
    day = 4 * 7 * DAY
    sim.readings[:, day : day + DAY, GAS] = 0.0
    alerts = run(sim)
    assert not [a for a in alerts if a.kind == Kind.LEVEL_CHANGE and a.slot >= day]


def test_a_stuck_electricity_meter_is_a_fault_not_inactivity() -> None:
    _, alerts = incident_run("stuck", 36)
    first = kinds_for(alerts, 0, after=ONSET)
    assert first[Kind.METER_FAULT] - ONSET == 24 * SLOTS_PER_HOUR - 1
    assert Kind.INACTIVITY not in first
    assert Kind.NO_USE not in first


def test_a_meter_stuck_at_zero_is_a_fault_and_a_fault_flag_is_too() -> None:
    sim = simulate(2, 7, seed=6)
    sim.readings[0, 2 * DAY : 4 * DAY, ELECTRICITY] = 0.0
    assert Kind.METER_FAULT in kinds_for(run(sim), 0)
    detector = WellbeingDetector(sim.meters)
    fault = np.zeros(sim.readings.shape, dtype=bool)
    fault[1, 10, WATER] = True
    alerts = detector.process(sim.readings, 0, fault=fault)
    flagged = [a for a in alerts if a.kind == Kind.METER_FAULT and a.household == 1]
    assert flagged[0].evidence == {"utility": "water", "reason": "fault flag on the reading"}


def test_the_routine_adapts_to_a_changed_life() -> None:
    """A household that starts getting up three hours later every day stops being told off for it
    within a few weeks."""
    sim = simulate(1, 12 * 7, seed=8)
    later = np.full_like(sim.readings[0], np.nan)
    change = 4 * 7 * DAY
    shift = 3 * SLOTS_PER_HOUR
    later[change + shift :] = sim.readings[0, change:-shift]
    later[:change] = sim.readings[0, :change]
    later[change : change + shift] = sim.readings[0, change - DAY : change - DAY + shift]
    sim.readings[0] = later
    late = [a.slot for a in run(sim) if a.kind in (Kind.NO_FIRST_USE, Kind.INACTIVITY)]
    assert late
    assert max(late) < 9 * 7 * DAY


def test_batches_of_any_size_give_the_same_alerts() -> None:
    sim = simulate(6, 8, seed=9, incidents=[Incident(0, "no_use", 3 * DAY, 20)])
    one = [(a.household, a.kind, a.slot) for a in run(sim, batch=1)]
    many = [(a.household, a.kind, a.slot) for a in run(sim, batch=1000)]
    assert one == many
    assert (0, Kind.NO_USE, 3 * DAY + 12 * SLOTS_PER_HOUR - 1) in one or any(
        k == Kind.NO_USE for _, k, _ in one
    )


def test_slots_must_follow_on() -> None:
    detector = WellbeingDetector(np.ones((1, 3), dtype=bool))
    detector.process(np.zeros((1, 2, 3)), 0)
    with pytest.raises(ValueError, match="expected slot 2"):
        detector.process(np.zeros((1, 2, 3)), 5)


def test_every_alert_explains_itself_with_its_evidence() -> None:
    sim = simulate(3, WEEKS * 7, seed=10, incidents=[Incident(0, "no_use", ONSET, 30)])
    alerts = run(sim)
    assert alerts
    for alert in alerts:
        assert alert.explanation
        assert alert.severity in (Severity.URGENT, Severity.WARNING, Severity.INFO)
    no_use = next(a for a in alerts if a.kind == Kind.NO_USE)
    assert "litres of water" in no_use.explanation
    assert slot_of(slot_end(no_use.slot)) == no_use.slot + 1


def test_false_alarms_make_the_learned_rules_ask_for_more_evidence() -> None:
    sim = simulate(2, WEEKS * 7, seed=11, incidents=[Incident(0, "no_use", ONSET, 30)])
    plain = kinds_for(run(sim), 0, after=ONSET)[Kind.INACTIVITY]
    detector = WellbeingDetector(sim.meters)
    for _ in range(4):
        detector.tune(0, false_alarm=True)
    assert detector.state.sensitivity[0] == 2.0
    alerts = detector.process(sim.readings, 0, away=sim.away)
    tuned = kinds_for(alerts, 0, after=ONSET)[Kind.INACTIVITY]
    assert tuned > plain
    assert detector.tune(0, false_alarm=False) == 1.0


def test_a_visits_lesson_survives_detecting_late_readings_again() -> None:
    """Tuning reaches the saved checkpoints too, so going back to one keeps the outcome."""
    detector = WellbeingDetector(np.ones((1, 3), dtype=bool))
    detector.process(np.zeros((1, DAY, 3)), 0)
    detector.checkpoints.append(detector.snapshot())
    detector.tune(0, false_alarm=True)
    detector.process(np.zeros((1, 4, 3)), DAY)
    detector.restore(detector.checkpoints[-1])
    assert detector.state.slot == DAY - 1
    assert detector.state.sensitivity[0] == 1.25


# --- detection from stored readings: late readings and queued runs --------------------------


def _step(row: dict[str, Any]) -> int:
    return next(step for step in range(48) if at(30 * step) == row["at"])


def _queued_runs() -> int:
    """Detection tasks queued, read from the tests' in-memory task backend (the same whichever
    queue a deployment configures)."""
    from django_tasks import default_task_backend

    results: list[Any] = default_task_backend.results  # type: ignore[attr-defined]
    return len([r for r in results if r.task.module_path.endswith("detect_due")])


@pytest.fixture
def task_queue(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


@pytest.mark.django_db
def test_late_readings_are_detected_again_and_raise_the_alert_they_complete(
    home: dict[str, Any],  # noqa: F811
) -> None:
    """The water readings for the afternoon arrive only the next morning. Until then the
    afternoon is a data gap, not no use; once they are in, the half hours already detected are
    detected again and the no-use alert is raised, once."""
    household = home["household"]
    gap = range(16, 40)  # 08:00-20:00 local
    rows = quiet_day()
    first = [r for r in rows if not (r["meter_id"] == "W-001" and _step(r) in gap)]
    late = [r for r in rows if r["meter_id"] == "W-001" and _step(r) in gap]
    services.readings_ingest(actor=home["feed"], rows=first)
    kinds = [a.kind for a in services.detection_run(household_id=household.pk)]
    assert "data_gap" in kinds
    assert "no_use" not in kinds

    services.readings_ingest(actor=home["feed"], rows=late)
    again = services.detection_run(household_id=household.pk)
    assert [a.kind for a in again] == ["no_use"]
    assert again[0].at == timezone.make_aware(START + timedelta(minutes=30 * 39))

    services.readings_ingest(actor=home["feed"], rows=late)  # sent once more: duplicates
    assert services.detection_run(household_id=household.pk) == []
    assert household.alerts.filter(kind="no_use").count() == 1


@pytest.mark.django_db
def test_a_late_reading_that_changes_nothing_raises_no_second_alert(
    home: dict[str, Any],  # noqa: F811
) -> None:
    """An electricity reading from the morning arrives after the evening's no-use alert: the day
    is detected again, finds the same incident, and the alert is not raised twice."""
    household = home["household"]
    rows = quiet_day()
    missing = next(r for r in rows if r["meter_id"] == "E-001" and _step(r) == 5)
    services.readings_ingest(actor=home["feed"], rows=[r for r in rows if r is not missing])
    assert [a.kind for a in services.detection_run(household_id=household.pk)] == ["no_use"]

    report = services.readings_ingest(actor=home["feed"], rows=[missing])
    assert report.accepted == 1
    detector = detector_state.state_load(Household.objects.get(pk=household.pk), MASK)
    assert np.isnan(detector.seen[5, ELECTRICITY])  # the detector has not seen it yet
    assert services.detection_run(household_id=household.pk) == []
    assert household.alerts.filter(kind="no_use").count() == 1
    detector = detector_state.state_load(Household.objects.get(pk=household.pk), MASK)
    assert not np.isnan(detector.seen[5, ELECTRICITY])  # ... and now it has


@pytest.mark.django_db
def test_detection_is_queued_once_while_households_wait(
    home: dict[str, Any],  # noqa: F811
    django_capture_on_commit_callbacks: Any,
    task_queue: None,
) -> None:
    """Readings arriving while the household waits for detection do not queue another run (the
    queued one reads them too); once the worker has taken it, new readings queue the next."""
    rows = quiet_day()
    with django_capture_on_commit_callbacks(execute=True):
        services.readings_ingest(actor=home["feed"], rows=rows[:20])
    with django_capture_on_commit_callbacks(execute=True):
        services.readings_ingest(actor=home["feed"], rows=rows[20:40])
    assert _queued_runs() == 1

    report = services.detection_due_run()  # the worker runs the queued task
    assert (report.households, report.batches) == (1, 1)
    with django_capture_on_commit_callbacks(execute=True):
        services.readings_ingest(actor=home["feed"], rows=rows[40:60])
    assert _queued_runs() == 2


@pytest.mark.django_db
def test_households_left_due_by_a_lost_task_are_detected_by_the_periodic_run(
    home: dict[str, Any],  # noqa: F811
    django_capture_on_commit_callbacks: Any,
    task_queue: None,
) -> None:
    """A task lost by the queue does not stop detection for good: the periodic detection run
    takes the households still due."""
    household = home["household"]
    with django_capture_on_commit_callbacks(execute=True):
        services.readings_ingest(actor=home["feed"], rows=quiet_day())
    from django_tasks import default_task_backend

    default_task_backend.clear()  # type: ignore[attr-defined]  # the queue lost the task
    manifest = apps.get_app_config("wellbeing").manifest  # type: ignore[attr-defined]
    periodic = {p.task: p.every_seconds for p in manifest.periodic_tasks}
    assert periodic["civichub.wellbeing.tasks.detect_due"] <= 60
    tasks.detect_due.call()
    household.refresh_from_db()
    assert household.detection_queued_at is None
    assert household.detected_through == timezone.make_aware(
        START + timedelta(hours=23, minutes=30)
    )


@pytest.mark.django_db
def test_the_workers_pass_reads_few_fields_yet_raises_alerts_with_the_whole_household(
    home: dict[str, Any],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
    task_queue: None,
) -> None:
    """The worker loads a batch's households with the fields detection reads only; a household
    it raises an alert for is read in full first, so raising and notifying read nothing lazily."""
    from civichub.wellbeing.services.detection_runs import passes

    seen: list[tuple[set[str], set[str]]] = []
    loaded = passes._member
    raise_alert = passes.alert_raise

    def member(household: Household, *args: Any) -> Any:
        seen.append((household.get_deferred_fields(), set()))
        return loaded(household, *args)

    def alert_raise(household: Household, *args: Any) -> Any:
        seen.append((set(), household.get_deferred_fields() or {"none deferred"}))
        return raise_alert(household, *args)

    monkeypatch.setattr(passes, "_member", member)
    monkeypatch.setattr(passes, "alert_raise", alert_raise)
    with django_capture_on_commit_callbacks(execute=True):  # the household is due
        services.readings_ingest(actor=home["feed"], rows=quiet_day())
    report = services.detection_due_run()
    kinds = [a.kind for a in home["household"].alerts.all()]
    assert "no_use" in kinds
    assert report.alerts == len(kinds)
    deferred_in_pass = seen[0][0]
    assert "resident_id" in deferred_in_pass and "detector_state" not in deferred_in_pass
    assert [raised for _, raised in seen[1:]] == [{"none deferred"}] * len(kinds)
