"""Wellbeing detection on simulated households: the yardstick of issue #10.

    python benchmarks/wellbeing_households.py [--quick] [--households N] [--days D]
                                              [--seeds 1000-1009] [--chunk 500]

Also the `households` section of `benchmarks/wellbeing.py`. Simulates elderly households with
`civichub.testing.wellbeing_homes` (fridges, water heaters, boilers and heating on thermostats,
timers, leaking cisterns; people who nap, go out, watch television and get up at night;
incidents with random durations on both sides of each rule's threshold; meters of 15 minutes to
a day's batch and register steps of 1-100 units), runs the project's detector
(`civichub.wellbeing.detection.WellbeingDetector`, default rules) a day at a time, and scores
its alerts with `civichub.testing.wellbeing_scoring` (definitions there).

By default 10,000 households x 90 days on HELD-OUT seeds 1000-1009 (1,000 households each, each
seed its own start date and weather): about 2.5 minutes of CPU and 1.4 GB of memory (5-8
minutes on a loaded two-core machine). Settings are chosen on TUNING seeds 1-99 only, never on
these. `--quick` is a smoke test (60 households x 28 days, a few seconds). Prints `name: value`
lines (progress on stderr), each figure with the issue's target and whether it is met: falls
with no use >= 12 h caught by no_use or unusual_inactivity within 12 h + one reading interval
>= 99 %; false alarms <= 1 per 100 household-months; alerts per incident <= 1.1; leaks and
stoves longer than the rule 100 % caught; marked absences silent. Then the same figures for the
baseline, the detector as it was before this change (see `baseline`), on the same
households, prefixed `households_baseline_`.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from civichub.testing.wellbeing_homes import HELD_OUT_SEEDS, TUNING_SEEDS  # noqa: E402
from civichub.testing.wellbeing_scoring import evaluate  # noqa: E402
from civichub.wellbeing.detection import Rules, WellbeingDetector  # noqa: E402

DEFAULT_SEEDS = "1000-1009"
QUICK_HOUSEHOLDS, QUICK_DAYS, QUICK_SEEDS = 60, 28, "1000"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def emit(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def parse_seeds(text: str) -> list[int]:
    """`1000-1009` or `1,2,5`."""
    seeds: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        seeds += list(range(int(low), int(high or low) + 1))
    return seeds


def seed_kind(seeds: list[int]) -> str:
    if all(s in HELD_OUT_SEEDS for s in seeds):
        return "held-out"
    if all(s in TUNING_SEEDS for s in seeds):
        return "tuning"
    return "mixed (figures not comparable)"


def baseline(meters: np.ndarray) -> WellbeingDetector:
    """The comparison in the same run: the detector as it was before a gas run lit in the small
    hours needed somebody seen up (`Rules.night_stove_needs_someone_up`), before one
    appliance rising over two readings counted as one switch
    (`Rules.electricity_ramp_is_one_switch`) and before the learned leak rule counted an hourly
    reading split over two half hours once (`Rules.flow_counts_a_split_reading_once`) and
    before the stove rules judged an hourly gas meter's run by its flame time
    (`Rules.stove_hourly_needs_flame_time`)."""
    return WellbeingDetector(
        meters,
        Rules(
            night_stove_needs_someone_up=False,
            electricity_ramp_is_one_switch=False,
            flow_counts_a_split_reading_once=False,
            stove_hourly_needs_flame_time=False,
        ),
    )


def run(households: int, days: int, seeds: list[int], chunk: int = 500) -> None:
    """Print the households figures, prefixed `households_`, then the baseline's on the same
    households, prefixed `households_baseline_`."""
    emit("households_seeds_kind", seed_kind(seeds))
    emit("households_load_average_before", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    cpu = time.process_time()
    report = evaluate(
        WellbeingDetector,
        baseline=baseline,
        households=households,
        days=days,
        seeds=seeds,
        chunk=chunk,
        progress=lambda message: log(f"households: {message}"),
    )
    for line in report.lines(prefix="households_"):
        print(line, flush=True)
    # The wall-clock seconds above depend on the machine's load; the CPU seconds less so.
    emit("households_cpu_seconds", f"{time.process_time() - cpu:.1f}")
    emit("households_load_average_after", " ".join(f"{x:.2f}" for x in os.getloadavg()))


def section(args: argparse.Namespace) -> None:
    """The `households` section of benchmarks/wellbeing.py (its --households and --days)."""
    if getattr(args, "quick", False):
        run(QUICK_HOUSEHOLDS, QUICK_DAYS, parse_seeds(QUICK_SEEDS))
    else:
        run(args.households, args.days, parse_seeds(DEFAULT_SEEDS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seeds", default=DEFAULT_SEEDS, help="e.g. 1000-1009 or 1,2,3")
    parser.add_argument("--chunk", type=int, default=500, help="households simulated at once")
    parser.add_argument("--quick", action="store_true", help="a smoke test: a few seconds")
    args = parser.parse_args()
    if args.quick:
        args.households, args.days, args.seeds = QUICK_HOUSEHOLDS, QUICK_DAYS, QUICK_SEEDS
    emit(
        "machine",
        f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores".strip(),
    )
    emit("python", platform.python_version())
    emit("numpy", np.__version__)
    run(args.households, args.days, parse_seeds(args.seeds), chunk=args.chunk)


if __name__ == "__main__":
    main()
