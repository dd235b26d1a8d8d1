"""Scoring wellbeing alerts against the household simulator's ground truth
(`civichub.testing.wellbeing_homes`), and the evaluation entry point that runs a detector over
simulated households.

    report = evaluate(lambda meters: WellbeingDetector(meters), households=500, days=60,
                      seeds=range(1, 3))
    for line in report.lines():
        print(line)

Choose a detector's settings on TUNING seeds (1-99) and report on HELD-OUT seeds (1000 and
up) that nobody tunes on (`wellbeing_homes.TUNING_SEEDS`, `HELD_OUT_SEEDS`).

How alerts are counted (an alert is anything with `.household`, `.kind`, `.slot` and
`.severity`; one with a true `.follow_up` updates an alert already open and is not counted, except
that the kind it gives the open alert counts towards a fall's window, see below):

- An incident is in progress from its start to its end plus one reading interval of the
  household's slowest meter (the reading that shows it over may come that much later). No other
  excuse: an alert the day after a fall ended is a false alarm.
- Caught: an alert of a kind that fits the incident (`HomeIncident.fits`) while it is in
  progress; the delay runs from the incident's start (a late start: from the usual wake-up) to
  the end of the alert's half hour. The detector is given each day's half hours at once, as if
  every reading had come in; `_delay_delivered` figures add the wait for the slowest meter's
  readings to reach the platform (a day's values sent at once, overnight).
- Falls are also bucketed by duration (4-8, 8-12, 12-24, 24-48 hours); a fall of 12 hours or
  more must be caught by no_use or unusual_inactivity within 12 hours plus one reading interval
  of the slowest meter.
- Leaks and a stove left on must be caught when they last longer than the fixed rule's
  threshold (24 h, 3 h); shorter ones are reported apart.
- A false alarm: an urgent or warning alert that fits no incident in progress in its household
  (after the warm-up weeks, in which incidents are not placed), per 100 household-months after
  the warm-up, by kind. Informational alerts are never false alarms; those outside incidents are
  reported by kind.
- Alerts per incident: urgent and warning alerts that fit, per incident that got any (mean and
  maximum): one incident should raise one alert.
- Marked absences: urgent or warning alerts during a stay marked away (it should be silent).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from civichub.testing.wellbeing_homes import DAILY_BATCH, Homes, simulate_homes
from civichub.testing.wellbeing_homes_canvas import DAY_MINUTES
from civichub.testing.wellbeing_homes_incidents import (
    FALL,
    KINDS,
    THRESHOLD_HOURS,
    TRIP_MARKED,
    HomeIncident,
)
from civichub.wellbeing.detection import SLOTS_PER_DAY, Kind, Severity

FALL_BUCKETS = ((4.0, 8.0), (8.0, 12.0), (12.0, 24.0), (24.0, 48.0))
NO_USE_WINDOW_HOURS = 12.0
LOUD = (Severity.URGENT, Severity.WARNING)
TARGETS = {
    "falls_ge_12h_caught_within_window": (">=", 99.0),
    "false_alarms_per_100_household_months": ("<=", 1.0),
    "alerts_per_incident_mean": ("<=", 1.1),
    "leak_longer_than_rule_caught": (">=", 100.0),
    "stove_longer_than_rule_caught": (">=", 100.0),
    "marked_absences_silent": (">=", 100.0),
}


class AlertLike(Protocol):
    household: int
    kind: str
    slot: int

    @property
    def severity(self) -> str: ...


class DetectorLike(Protocol):
    def process(self, readings: Any, start_slot: int, *, away: Any = ...) -> Sequence[Any]: ...


@dataclass(frozen=True)
class Outcome:
    """What became of one incident."""

    kind: str
    hours: float
    caught: bool
    delay_hours: float  # NaN when missed
    # The delay once the readings that raise the alert have reached the platform from every
    # meter of the household (a meter sending a day's values at once holds them back).
    delivered_hours: float
    loud_alerts: int  # urgent and warning alerts that fit
    within_window: bool  # caught by no_use / unusual_inactivity within 12 h + one interval
    detail: dict[str, object]


@dataclass
class Tally:
    """The counts over every chunk scored so far."""

    warmup_days: int = 21
    outcomes: list[Outcome] = field(default_factory=list)
    household_days: float = 0.0
    false_alarms: Counter[str] = field(default_factory=Counter)
    info_outside: Counter[str] = field(default_factory=Counter)
    marked_loud: list[int] = field(default_factory=list)
    alerts_seen: int = 0

    def add(self, homes: Homes, alerts: Iterable[AlertLike]) -> None:
        """Score one simulated chunk's alerts (slots as the detector numbers them)."""
        warmup = self.warmup_days * SLOTS_PER_DAY
        self.household_days += homes.households * max(homes.slots - warmup, 0) / SLOTS_PER_DAY
        interval = np.ceil(homes.meter_facts.slowest_minutes / 30).astype(int)
        by_household: dict[int, list[tuple[str, int, str]]] = {}
        # A follow-up raises nothing new, but the open alert now says its kind (no use, after a
        # late start opened it): it counts for the fall's window, nowhere else.
        followed: dict[int, list[tuple[str, int]]] = {}
        for alert in alerts:
            if getattr(alert, "follow_up", False):
                followed.setdefault(int(alert.household), []).append(
                    (alert.kind, int(alert.slot) - homes.start_slot)
                )
                continue
            self.alerts_seen += 1
            row = (alert.kind, int(alert.slot) - homes.start_slot, str(alert.severity))
            by_household.setdefault(int(alert.household), []).append(row)
        incidents: dict[int, list[HomeIncident]] = {}
        for incident in homes.incidents:
            incidents.setdefault(incident.household, []).append(incident)
        for household, rows in by_household.items():
            mine = incidents.get(household, [])
            for kind, slot, severity in rows:
                if slot < warmup:
                    continue
                fitting = any(
                    kind in i.fits and i.start_slot <= slot < i.end_slot + interval[household]
                    for i in mine
                )
                if fitting:
                    continue
                if severity in LOUD:
                    self.false_alarms[kind] += 1
                else:
                    self.info_outside[kind] += 1
        for incident in homes.incidents:
            rows = by_household.get(incident.household, [])
            updates = followed.get(incident.household, [])
            self._incident(homes, incident, rows, updates, int(interval[incident.household]))

    def _incident(
        self,
        homes: Homes,
        incident: HomeIncident,
        rows: list[tuple[str, int, str]],
        updates: list[tuple[str, int]],
        interval: int,
    ) -> None:
        during = [r for r in rows if incident.start_slot <= r[1] < incident.end_slot + interval]
        if incident.kind == TRIP_MARKED:
            self.marked_loud.append(sum(1 for r in during if r[2] in LOUD))
            return
        onset = incident.start_minute
        hits = sorted(r[1] for r in during if r[0] in incident.fits)
        delay = (hits[0] + 1) * 30 / 60 - onset / 60 if hits else math.nan
        delivered = (
            arrival(homes, incident.household, (hits[0] + 1) * 30) / 60 - onset / 60
            if hits
            else math.nan
        )
        absence = [r[1] for r in during if r[0] in (Kind.NO_USE, Kind.INACTIVITY)]
        absence += [
            slot
            for kind, slot in updates
            if kind in (Kind.NO_USE, Kind.INACTIVITY)
            and incident.start_slot <= slot < incident.end_slot + interval
        ]
        allowance = NO_USE_WINDOW_HOURS + interval * 0.5
        within = bool(absence) and (min(absence) + 1) * 0.5 - onset / 60 <= allowance
        self.outcomes.append(
            Outcome(
                kind=incident.kind,
                hours=incident.hours,
                caught=bool(hits),
                delay_hours=delay,
                delivered_hours=delivered,
                loud_alerts=sum(1 for r in during if r[0] in incident.fits and r[2] in LOUD),
                within_window=within,
                detail=dict(incident.detail),
            )
        )

    def report(self, **about: object) -> Report:
        return Report.of(self, about)


@dataclass(frozen=True)
class Figure:
    name: str
    value: float | int | str
    unit: str = ""
    target: tuple[str, float] | None = None

    @property
    def met(self) -> bool | None:
        if self.target is None or not isinstance(self.value, float | int):
            return None
        if isinstance(self.value, float) and math.isnan(self.value):
            return False
        op, limit = self.target
        return self.value >= limit if op == ">=" else self.value <= limit

    def line(self, prefix: str = "") -> str:
        value = f"{self.value:.2f}" if isinstance(self.value, float) else str(self.value)
        text = f"{prefix}{self.name}: {value}{(' ' + self.unit) if self.unit else ''}"
        if self.target is not None:
            op, limit = self.target
            text += f" (target {op} {limit:g}{(' ' + self.unit) if self.unit else ''}: "
            text += "met)" if self.met else "NOT met)"
        return text


def _rate(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else math.nan


def arrival(homes: Homes, household: int, minute: float) -> float:
    """When the readings up to `minute` (of the simulation) have reached the platform from
    every meter of `household`: at the end of each meter's reading interval, or, for a meter
    sending a day of hourly values at once, at its next nightly sending."""
    facts = homes.meter_facts
    latest = minute
    for u in np.flatnonzero(facts.present[household]):
        every = int(facts.interval_minutes[household, u])
        read: float = math.ceil(minute / every) * every
        if facts.report_every_minutes[household, u] == DAILY_BATCH:
            send = read // DAY_MINUTES * DAY_MINUTES + float(facts.send_minute[household, u])
            read = send if send >= read else send + DAY_MINUTES
        latest = max(latest, read)
    return latest


def _delays(outcomes: list[Outcome], delivered: bool = False) -> tuple[float, float]:
    delays = [o.delivered_hours if delivered else o.delay_hours for o in outcomes if o.caught]
    if not delays:
        return math.nan, math.nan
    return float(np.median(delays)), float(np.percentile(delays, 95))


def _group(
    name: str, outcomes: list[Outcome], figures: list[Figure], target: str | None = None
) -> None:
    caught = sum(o.caught for o in outcomes)
    median, p95 = _delays(outcomes)
    figures.append(Figure(f"{name}_incidents", len(outcomes)))
    goal = TARGETS.get(target) if target else None
    figures.append(Figure(f"{name}_caught", _rate(caught, len(outcomes)), "%", goal))
    figures.append(Figure(f"{name}_delay_median", median, "h"))
    figures.append(Figure(f"{name}_delay_p95", p95, "h"))
    median, p95 = _delays(outcomes, delivered=True)
    figures.append(Figure(f"{name}_delay_delivered_median", median, "h"))
    figures.append(Figure(f"{name}_delay_delivered_p95", p95, "h"))


@dataclass(frozen=True)
class Report:
    figures: list[Figure]

    @classmethod
    def of(cls, tally: Tally, about: dict[str, object]) -> Report:
        figures = [Figure(k, str(v)) for k, v in about.items()]
        outcomes = tally.outcomes
        by_kind = {k: [o for o in outcomes if o.kind == k] for k in KINDS}
        for kind in KINDS:
            if kind != TRIP_MARKED and by_kind[kind]:
                _group(kind, by_kind[kind], figures)
        falls = by_kind[FALL]
        for lo, hi in FALL_BUCKETS:
            bucket = [o for o in falls if lo <= o.hours < hi or (hi == 48.0 and o.hours == hi)]
            if bucket:
                _group(f"fall_{lo:g}_{hi:g}h", bucket, figures)
        long_falls = [o for o in falls if o.hours >= NO_USE_WINDOW_HOURS]
        figures.append(
            Figure(
                "falls_ge_12h_caught_within_window",
                _rate(sum(o.within_window for o in long_falls), len(long_falls)),
                "%",
                TARGETS["falls_ge_12h_caught_within_window"],
            )
        )
        for left in ("lamp", "tv", "heater"):
            with_it = [o for o in long_falls if o.detail.get("left_on") == left]
            if with_it:
                figures.append(
                    Figure(
                        f"falls_ge_12h_with_{left}_on_caught_within_window",
                        _rate(sum(o.within_window for o in with_it), len(with_it)),
                        "%",
                    )
                )
        for kind, threshold in THRESHOLD_HOURS.items():
            longer = [o for o in by_kind[kind] if o.hours > threshold]
            shorter = [o for o in by_kind[kind] if o.hours <= threshold]
            _group(f"{kind}_longer_than_rule", longer, figures, f"{kind}_longer_than_rule_caught")
            figures.append(
                Figure(
                    f"{kind}_shorter_than_rule_caught",
                    _rate(sum(o.caught for o in shorter), len(shorter)),
                    "%",
                )
            )
        months = tally.household_days / 30
        figures.append(Figure("household_months", round(months, 1)))
        total = sum(tally.false_alarms.values())
        figures.append(
            Figure(
                "false_alarms_per_100_household_months",
                100 * total / months if months else math.nan,
                "",
                TARGETS["false_alarms_per_100_household_months"],
            )
        )
        for kind, count in sorted(tally.false_alarms.items()):
            figures.append(
                Figure(f"false_alarms_{kind}_per_100_household_months", 100 * count / months)
            )
        for kind, count in sorted(tally.info_outside.items()):
            figures.append(
                Figure(
                    f"info_outside_incidents_{kind}_per_100_household_months", 100 * count / months
                )
            )
        loud = [o.loud_alerts for o in outcomes if o.loud_alerts]
        figures.append(
            Figure(
                "alerts_per_incident_mean",
                float(np.mean(loud)) if loud else math.nan,
                "",
                TARGETS["alerts_per_incident_mean"],
            )
        )
        figures.append(Figure("alerts_per_incident_max", max(loud) if loud else 0))
        for kind in KINDS:
            mine = [o.loud_alerts for o in by_kind[kind] if o.loud_alerts]
            if mine:
                figures.append(Figure(f"alerts_per_incident_{kind}_mean", float(np.mean(mine))))
        marked = tally.marked_loud
        figures.append(
            Figure(
                "marked_absences_silent",
                _rate(sum(1 for n in marked if n == 0), len(marked)),
                "%",
                TARGETS["marked_absences_silent"],
            )
        )
        figures.append(Figure("marked_absences", len(marked)))
        return cls(figures)

    def value(self, name: str) -> float | int | str:
        return next(f.value for f in self.figures if f.name == name)

    def lines(self, prefix: str = "") -> list[str]:
        return [f.line(prefix) for f in self.figures]


def evaluate(
    make_detector: Callable[[np.ndarray], DetectorLike],
    *,
    households: int,
    days: int,
    seeds: Iterable[int],
    chunk: int = 500,
    warmup_days: int = 21,
    progress: Callable[[str], None] | None = None,
    baseline: Callable[[np.ndarray], DetectorLike] | None = None,
) -> Report:
    """Simulate `households` households in all (shared evenly among `seeds`) for `days` days, in
    chunks of `chunk`, run a detector made by `make_detector(meters)` over each chunk one day at a
    time (`process(readings, start_slot, away=...)`), and score its alerts. With `baseline`, a
    second detector runs over the same households; its figures follow, named `baseline_...`."""
    seeds = list(seeds)
    tally = Tally(warmup_days=warmup_days)
    before = Tally(warmup_days=warmup_days)
    started = time.perf_counter()
    simulating = detecting = 0.0
    for index, seed in enumerate(seeds):
        share = households // len(seeds) + (index < households % len(seeds))
        for part, first in enumerate(range(0, share, chunk)):
            size = min(chunk, share - first)
            t0 = time.perf_counter()
            homes = simulate_homes(size, days, seed=seed, part=part, warmup_days=warmup_days)
            t1 = time.perf_counter()
            alerts = run_detector(make_detector(homes.meters), homes)
            t2 = time.perf_counter()
            simulating += t1 - t0
            detecting += t2 - t1
            tally.add(homes, alerts)
            if baseline is not None:
                before.add(homes, run_detector(baseline(homes.meters), homes))
            if progress:
                progress(f"seed {seed}: {first + size}/{share} households")
    report = tally.report(
        simulated_households=households,
        simulated_days=days,
        seeds=_seed_text(seeds),
        warmup_days=warmup_days,
        simulation_seconds=f"{simulating:.1f}",
        detection_seconds=f"{detecting:.1f}",
        seconds=f"{time.perf_counter() - started:.1f}",
    )
    if baseline is None:
        return report
    compared = before.report()
    renamed = [dataclasses.replace(f, name=f"baseline_{f.name}") for f in compared.figures]
    return Report(report.figures + renamed)


def run_detector(detector: DetectorLike, homes: Homes) -> list[Any]:
    """The detector over one chunk, a day at a time as the worker would feed it."""
    alerts: list[Any] = []
    for a in range(0, homes.slots, SLOTS_PER_DAY):
        b = a + SLOTS_PER_DAY
        alerts += detector.process(
            homes.readings[:, a:b], homes.start_slot + a, away=homes.away[:, a:b]
        )
    return alerts


def _seed_text(seeds: list[int]) -> str:
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(str(s) for s in seeds)
