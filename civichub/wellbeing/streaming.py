"""A streaming novelty score for many univariate series at once (pure NumPy).

Each new value of every series is scored in one step against that series' own past, so the
detector runs over millions of series as easily as one (one step is a few dozen array operations
over all series; no Python loop per series or per reading). The score of a step is in [0, 1) and
answers "has this series just done something it has never done before?":

1. Records. For three statistics of the series the detector keeps the lowest and highest value
   seen so far: the value itself; its smoothed level (an exponentially weighted mean, so a
   sustained shift counts even when no single value is extreme); and, for a series with a daily
   rhythm (`period` steps a day), the smoothed difference between the value and the usual value
   at this time of day (an exponentially weighted profile of past days), so a day that goes
   differently is noticed even when every value is ordinary. A step whose statistic goes beyond
   its range is surprising in proportion to how far beyond it goes, in units of the range
   itself, so the score needs no per-series scale and a noisy series needs a larger excursion
   than a quiet one. The ranges forget very slowly (`range_half_life`), so a series that has
   moved to a new normal can surprise again later.
2. Learning. For the first `learning` steps of a series (NAB's probationary period when run
   there) the ranges are learned and the score is 0. A range learned from few steps is broken
   often, by small amounts, just by chance; the excess is therefore discounted by
   (t / (t + `young` x learning))^2 after t steps, which fades as the series ages.
3. One event, one report. After a score of `report_level` or more, the series is held quiet for
   `refractory` times its learning length: an incident is reported once, when it starts, rather
   than for every step it lasts (the Numenta Anomaly Benchmark also rewards only the earliest
   detection in a window and charges every further one outside it).

The combined surprise s (the largest weighted excess over the statistics) is reported as
s / (1 + s). The household detector's learned routine answers "is this usual for this home at
this hour"; this detector answers "did this series change just now", which is the question the
Numenta Anomaly Benchmark asks; `benchmarks/wellbeing.py` scores it there.

Memory: a few numbers per series plus the daily profile (`period` float32 values per series, so
96 values for 15-minute readings).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Float = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class StreamingSettings:
    # Steps before a series is scored, when the caller gives no learning length of its own.
    learning: int = 100
    # Half-life, in steps, of the smoothed level whose record is watched beside the value's.
    level_half_life: float = 12.0
    # Weights of the excess of each statistic: the value, its smoothed level, its smoothed
    # difference from the usual value at this time of day.
    value_weight: float = 1.0
    level_weight: float = 1.0
    season_weight: float = 0.4
    # Half-life, in steps, of the smoothed difference from the daily profile; and how much of
    # each day's value goes into the profile (an exponentially weighted mean over days).
    season_half_life: float = 12.0
    profile_rate: float = 0.3
    # How long a young range's excess is discounted, in learning lengths.
    young: float = 1.0
    # Half-life, in steps, with which the recorded range shrinks towards its middle (0: never).
    range_half_life: float = 20_000.0
    # A score at or above this starts a quiet period of `refractory` x the learning length.
    report_level: float = 0.015  # an excess of about 1.5 % of the range, in a grown series
    refractory: float = 0.2


def _alpha(half_life: float) -> float:
    return 1.0 - 0.5 ** (1.0 / half_life)


class StreamingDetector:
    """Scores one value per series per `step`. `learning` is the learning length in steps and
    `period` the number of steps in a day (1: no daily rhythm), each per series or one for all."""

    STATISTICS = 3  # the value, its smoothed level, its smoothed difference from the profile

    def __init__(
        self,
        series: int,
        settings: StreamingSettings | None = None,
        learning: int | Sequence[int] | npt.NDArray[np.int64] | None = None,
        period: int | Sequence[int] | npt.NDArray[np.int64] | None = None,
    ) -> None:
        self.settings = st = settings or StreamingSettings()
        n = series
        span = st.learning if learning is None else learning
        self.learning = np.broadcast_to(np.asarray(span, dtype=np.int64), (n,)).copy()
        self.quiet_steps = np.ceil(st.refractory * self.learning).astype(np.int64)
        self.count = np.zeros(n, dtype=np.int64)
        self.quiet = np.zeros(n, dtype=np.int64)
        self.level = np.zeros(n)
        self.low = np.zeros((n, self.STATISTICS))
        self.high = np.zeros((n, self.STATISTICS))
        self.weights = np.array([st.value_weight, st.level_weight, st.season_weight])
        self.period = np.broadcast_to(
            np.asarray(1 if period is None else period, dtype=np.int64), (n,)
        ).copy()
        # Time of day first: series stepping together read one contiguous row of the profile.
        self.profile = np.zeros((int(self.period.max()), n), dtype=np.float32)
        self.season = np.zeros(n)
        self.rows = np.arange(n)
        self.a_level = _alpha(st.level_half_life)
        self.a_season = _alpha(st.season_half_life)
        self.a_range = _alpha(st.range_half_life) if st.range_half_life > 0 else 0.0

    def step(self, value: Float, live: Bool | None = None) -> Float:
        """Score one new value per series; `live` marks the series that have a value this step."""
        st = self.settings
        x = np.asarray(value, dtype=np.float64)
        on = np.ones(x.shape, dtype=bool) if live is None else np.asarray(live, dtype=bool)
        first = self.count == 0
        level = np.where(first, x, self.level + self.a_level * (x - self.level))
        phase = self.count % self.period
        usual = self.profile[phase, self.rows].astype(np.float64)
        day_seen = self.count >= self.period
        season = self.season + self.a_season * (np.where(day_seen, x - usual, 0.0) - self.season)
        stats = np.stack([x, level, season], axis=1)
        # The difference from the profile starts its range once a whole day has been seen.
        fresh = np.stack([first, first, self.count <= self.period], axis=1)
        low = np.where(fresh, stats, self.low)
        high = np.where(fresh, stats, self.high)
        span = np.maximum(high - low, 1e-9 * (1.0 + np.abs(high)))
        excess = np.maximum(np.maximum(stats - high, low - stats), 0.0) / span
        surprise = np.max(excess * self.weights, axis=1)
        age = self.count / (self.count + st.young * self.learning + 1e-9)
        surprise *= age * age
        score = surprise / (1.0 + surprise)
        scored = on & (self.count >= self.learning) & (self.quiet == 0)
        score = np.where(scored, score, 0.0)
        self.quiet = np.where(
            score >= st.report_level, self.quiet_steps, np.maximum(self.quiet - on, 0)
        )
        # Learn after scoring, so a value is never compared with itself.
        keep = on[:, None]
        low = np.minimum(low, stats)
        high = np.maximum(high, stats)
        if self.a_range:
            middle = 0.5 * (low + high)
            low += self.a_range * (middle - low)
            high -= self.a_range * (high - middle)
        self.low = np.where(keep, low, self.low)
        self.high = np.where(keep, high, self.high)
        self.level = np.where(on, level, self.level)
        self.season = np.where(on, season, self.season)
        learned = np.where(day_seen, usual + st.profile_rate * (x - usual), x)
        self.profile[phase, self.rows] = np.where(on, learned, usual)
        self.count += on
        return score

    @classmethod
    def score_series(
        cls,
        series: Sequence[Float],
        settings: StreamingSettings | None = None,
        learning: Sequence[int] | None = None,
        period: Sequence[int] | None = None,
    ) -> list[Float]:
        """Score whole series of different lengths side by side, one step for all at a time."""
        n = len(series)
        longest = max(len(s) for s in series)
        values = np.zeros((n, longest))
        live = np.zeros((n, longest), dtype=bool)
        for i, s in enumerate(series):
            values[i, : len(s)] = s
            live[i, : len(s)] = True
        detector = cls(n, settings, learning, period)
        out = np.zeros((n, longest))
        for t in range(longest):
            out[:, t] = detector.step(values[:, t], live[:, t])
        return [out[i, : len(s)] for i, s in enumerate(series)]
