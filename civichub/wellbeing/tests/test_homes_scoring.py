"""The scorer of the detection yardstick (`civichub.testing.wellbeing_scoring`) on hand-made
alerts: what counts as caught, late, a false alarm, a second alert for one incident, and what
is not counted at all."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from civichub.testing.wellbeing_homes import Homes, simulate_homes
from civichub.testing.wellbeing_homes_incidents import (
    FALL,
    LEAK,
    STOVE,
    TRIP_MARKED,
    HomeIncident,
)
from civichub.testing.wellbeing_scoring import Tally, evaluate
from civichub.wellbeing.detection import SEVERITY, Kind, WellbeingDetector

pytestmark = pytest.mark.once  # the same on any database: the SQLite run runs it

DAY = 24 * 60  # minutes
WARMUP = 21


@dataclass
class Raised:
    household: int
    kind: str
    slot: int
    follow_up: bool = False

    @property
    def severity(self) -> str:
        return SEVERITY[self.kind]


@pytest.fixture(scope="module")
def base() -> Homes:
    return simulate_homes(4, 30, seed=1, warmup_days=WARMUP)


def homes_with(base: Homes, incidents: list[HomeIncident], interval: int = 30) -> Homes:
    """The simulated chunk with hand-made incidents and every meter reading every `interval`
    minutes."""
    facts = dataclasses.replace(
        base.meter_facts, interval_minutes=np.full_like(base.meter_facts.interval_minutes, interval)
    )
    return dataclasses.replace(base, incidents=incidents, meter_facts=facts)


def at(homes: Homes, minute: float) -> int:
    """The detector's slot holding `minute` of the simulation."""
    return homes.start_slot + int(minute // 30)


def score(homes: Homes, alerts: list[Raised]) -> dict[str, float | int | str]:
    tally = Tally(warmup_days=WARMUP)
    tally.add(homes, alerts)
    return {f.name: f.value for f in tally.report().figures}


def test_a_fall_caught_in_time_once_with_a_follow_up_not_counted(base: Homes) -> None:
    start = 22 * DAY + 10 * 60  # 10:00 on day 22
    homes = homes_with(base, [HomeIncident(0, FALL, start, start + 14 * 60)])
    alerts = [
        Raised(0, Kind.NO_USE, at(homes, start + 11 * 60)),  # ends 11.5 h after the fall
        Raised(0, Kind.NO_USE, at(homes, start + 13 * 60), follow_up=True),
    ]
    report = score(homes, alerts)
    assert report["fall_incidents"] == 1
    assert report["fall_caught"] == 100.0
    assert report["fall_delay_median"] == pytest.approx(11.5)
    assert report["falls_ge_12h_caught_within_window"] == 100.0
    assert report["fall_12_24h_caught"] == 100.0
    assert report["alerts_per_incident_mean"] == 1.0
    assert report["false_alarms_per_100_household_months"] == 0.0


def test_a_no_use_follow_up_of_a_late_start_counts_for_the_window_only(base: Homes) -> None:
    """A night fall: the late start opens the alert (a warning), no use escalates it as a
    follow-up within the window. One alert; the fall is caught within the window."""
    start = 22 * DAY + 2 * 60  # 02:00
    homes = homes_with(base, [HomeIncident(0, FALL, start, start + 16 * 60)])
    alerts = [
        Raised(0, Kind.NO_FIRST_USE, at(homes, start + 8 * 60)),
        Raised(0, Kind.NO_USE, at(homes, start + 11 * 60), follow_up=True),
    ]
    report = score(homes, alerts)
    assert report["falls_ge_12h_caught_within_window"] == 100.0
    assert report["alerts_per_incident_mean"] == 1.0
    # Without the follow-up, the late start alone is not the window's no use.
    report = score(homes, alerts[:1])
    assert report["falls_ge_12h_caught_within_window"] == 0.0


def test_a_fall_caught_after_the_window_plus_one_interval_is_late(base: Homes) -> None:
    start = 22 * DAY + 10 * 60
    fall = HomeIncident(0, FALL, start, start + 20 * 60)
    # Hourly meters allow an hour past the 12-hour window: 13 h is in time, 13.5 h late.
    for delay_h, interval, in_time in ((12.5, 30, True), (13.0, 30, False), (13.0, 60, True)):
        homes = homes_with(base, [fall], interval=interval)
        alert = Raised(0, Kind.INACTIVITY, at(homes, start + delay_h * 60 - 30))
        report = score(homes, [alert])
        assert report["fall_caught"] == 100.0
        assert report["falls_ge_12h_caught_within_window"] == (100.0 if in_time else 0.0)


def test_alerts_outside_every_incident_in_progress_are_false_alarms(base: Homes) -> None:
    start = 22 * DAY + 10 * 60
    end = start + 6 * 60
    homes = homes_with(base, [HomeIncident(0, FALL, start, end)])
    alerts = [
        # One reading interval after the end still belongs to the fall.
        Raised(0, Kind.NO_USE, at(homes, end + 10)),
        # The half hour after that does not: no day-long excuse any more.
        Raised(0, Kind.NO_USE, at(homes, end + 40)),
        # During the fall but of a kind that does not fit it.
        Raised(0, Kind.GAS_LONG_FLOW, at(homes, start + 60)),
        # Another household, no incident at all; and a follow-up of it, not counted.
        Raised(1, Kind.NIGHT_ACTIVITY, at(homes, 25 * DAY + 120)),
        Raised(1, Kind.NIGHT_ACTIVITY, at(homes, 25 * DAY + 180), follow_up=True),
        # Informational: never a false alarm, reported apart.
        Raised(2, Kind.DATA_GAP, at(homes, 25 * DAY)),
        # In the warm-up weeks: not counted.
        Raised(3, Kind.NO_USE, at(homes, 3 * DAY)),
    ]
    report = score(homes, alerts)
    months = 4 * (30 - WARMUP) / 30
    assert report["household_months"] == pytest.approx(round(months, 1))
    assert report["false_alarms_per_100_household_months"] == pytest.approx(300 / months)
    assert report["false_alarms_no_use_per_100_household_months"] == pytest.approx(100 / months)
    assert report["false_alarms_gas_long_flow_per_100_household_months"] == pytest.approx(
        100 / months
    )
    assert report["false_alarms_night_activity_per_100_household_months"] == pytest.approx(
        100 / months
    )
    assert report["info_outside_incidents_data_gap_per_100_household_months"] == pytest.approx(
        100 / months
    )
    assert report["fall_caught"] == 100.0
    assert report["fall_delay_median"] == pytest.approx(6.5)


def test_leaks_and_stoves_shorter_than_the_rule_are_reported_apart(base: Homes) -> None:
    start = 22 * DAY
    incidents = [
        HomeIncident(0, LEAK, start, start + 30 * 60),
        HomeIncident(1, LEAK, start, start + 10 * 60),
        HomeIncident(2, STOVE, start + 12 * 60, start + 16 * 60),
        HomeIncident(3, STOVE, start + 12 * 60, start + 14 * 60),
    ]
    homes = homes_with(base, incidents)
    alerts = [
        Raised(0, Kind.CONTINUOUS_FLOW, at(homes, start + 24 * 60)),
        Raised(0, Kind.HIGH_USE, at(homes, start + 25 * 60)),  # a second alert, same leak
        Raised(3, Kind.GAS_LONG_FLOW, at(homes, start + 13 * 60 + 45)),
    ]
    report = score(homes, alerts)
    assert report["leak_longer_than_rule_caught"] == 100.0
    assert report["leak_shorter_than_rule_caught"] == 0.0
    assert report["stove_longer_than_rule_caught"] == 0.0
    assert report["stove_shorter_than_rule_caught"] == 100.0
    assert report["alerts_per_incident_mean"] == 1.5
    assert report["alerts_per_incident_max"] == 2
    assert report["false_alarms_per_100_household_months"] == 0.0


def test_an_alert_during_a_marked_absence_breaks_its_silence(base: Homes) -> None:
    start = 22 * DAY + 9 * 60
    incidents = [
        HomeIncident(0, TRIP_MARKED, start, start + 3 * DAY),
        HomeIncident(1, TRIP_MARKED, start, start + 3 * DAY),
    ]
    homes = homes_with(base, incidents)
    report = score(homes, [Raised(0, Kind.NO_USE, at(homes, start + DAY))])
    assert report["marked_absences"] == 2
    assert report["marked_absences_silent"] == 50.0
    # Marked absences fit no alert: it is a false alarm too.
    months = 4 * (30 - WARMUP) / 30
    assert report["false_alarms_no_use_per_100_household_months"] == pytest.approx(100 / months)


def test_the_delivered_delay_waits_for_a_meter_that_sends_a_day_at_once(base: Homes) -> None:
    start = 22 * DAY + 10 * 60
    homes = homes_with(base, [HomeIncident(0, FALL, start, start + 30 * 60)], interval=60)
    alert = Raised(0, Kind.NO_USE, at(homes, start + 11 * 60))  # half hour ending at 11.5 h
    facts = homes.meter_facts
    live = dataclasses.replace(facts, report_every_minutes=np.full_like(facts.interval_minutes, 60))
    report = score(dataclasses.replace(homes, meter_facts=live), [alert])
    assert report["fall_delay_median"] == pytest.approx(11.5)
    assert report["fall_delay_delivered_median"] == pytest.approx(12.0)  # the hourly reading
    batched = dataclasses.replace(
        facts,
        report_every_minutes=np.full_like(facts.interval_minutes, 1440),
        send_minute=np.full(facts.send_minute.shape, 120.0),  # sent at 02:00
    )
    report = score(dataclasses.replace(homes, meter_facts=batched), [alert])
    # The fall began at 10:00; the readings up to 22:00 reach the platform at 02:00.
    assert report["fall_delay_median"] == pytest.approx(11.5)
    assert report["fall_delay_delivered_median"] == pytest.approx(16.0)


def test_a_miss_has_no_delay_and_the_targets_say_so(base: Homes) -> None:
    start = 22 * DAY + 3 * 60
    homes = homes_with(base, [HomeIncident(0, FALL, start, start + 30 * 60)])
    tally = Tally(warmup_days=WARMUP)
    tally.add(homes, [])
    lines = {line.split(":")[0]: line for line in tally.report().lines()}
    assert "NOT met" in lines["falls_ge_12h_caught_within_window"]
    assert "met)" in lines["false_alarms_per_100_household_months"]
    report = {f.name: f.value for f in tally.report().figures}
    assert report["fall_caught"] == 0.0
    assert isinstance(report["fall_delay_median"], float)
    assert math.isnan(report["fall_delay_median"])


def test_evaluate_runs_a_detector_over_chunks_of_simulated_homes() -> None:
    report = evaluate(WellbeingDetector, households=30, days=25, seeds=[1, 2], chunk=10)
    figures = {f.name: f.value for f in report.figures}
    assert figures["simulated_households"] == "30"
    assert figures["seeds"] == "1,2"
    assert figures["household_months"] == pytest.approx(30 * (25 - WARMUP) / 30, abs=0.1)
    assert isinstance(figures["false_alarms_per_100_household_months"], float)
    assert isinstance(figures["marked_absences"], int)


def test_the_households_benchmark_has_a_quick_mode_that_prints_figures_and_targets() -> None:
    script = Path(__file__).resolve().parents[3] / "benchmarks" / "wellbeing_households.py"
    done = subprocess.run(
        [sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(": ", 1) for line in done.stdout.splitlines())
    assert lines["households_seeds_kind"] == "held-out"
    assert lines["households_simulated_households"] == "60"
    assert "(target >= 99 %: " in lines["households_falls_ge_12h_caught_within_window"]
    assert "(target <= 1: " in lines["households_false_alarms_per_100_household_months"]
    assert "(target <= 1.1: " in lines["households_alerts_per_incident_mean"]
