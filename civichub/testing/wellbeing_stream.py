"""A streaming novelty score for many univariate series at once (pure NumPy).

Each new value of every series is scored in one step against that series' own past, so the
detector runs over millions of series as easily as one (one step is a few dozen array operations
over all series; no Python loop per series or per reading). The score of a step is in [0, 1) and
answers "has this series just done something it has never done before?":

1. Records. For four statistics of the series the detector keeps the lowest and highest value
   seen so far: the value itself (a spike); its smoothed level, an exponentially weighted mean
   (a shift, even when no single value is extreme); a slowly smoothed level (a drift); and, for a
   series with a daily rhythm (`period` steps a day), the smoothed difference between the value
   and the usual value at this time of day, from an exponentially weighted profile of past days
   (a day that goes differently although every value is ordinary). A step that takes a statistic
   beyond its range is surprising in proportion to how far beyond, in units of the range itself,
   so the score needs no per-series scale and a noisy series needs a larger excursion than a
   quiet one. The ranges forget very slowly (`range_half_life`), so a series that has moved to a
   new normal can surprise again later. The surprise of a step is the largest weighted excess.
2. Learning. For the first `learning` steps of a series (NAB's probationary period when run
   there) the ranges are learned and the score is 0. A range learned from few steps is broken
   often, by small amounts, just by chance; the excess is therefore discounted by
   (t / (t + `young` x learning))^2 after t steps, which fades as the series ages.
3. Accumulation. Surprises add up with a short half-life (`surprise_half_life` steps), so several
   small breaks of records in quick succession count like one large one.
4. One event, one report. After a score of `report_level` or more, the series is held quiet for
   `refractory` times its learning length: an incident is reported once, when it starts, rather
   than for every step it lasts (the Numenta Anomaly Benchmark also rewards only the earliest
   detection in a window and charges every further one outside it).

The accumulated surprise s is reported as s / (1 + s). The defaults are the settings that scored
best on the Numenta Anomaly Benchmark (`benchmarks/wellbeing.py`, `docs/wellbeing.md`), which asks
"did this series change just now"; the household detector's learned routine answers the other
question, "is this usual for this home at this hour".

Memory: about a dozen numbers per series plus the daily profile (`period` float32 values per
series, so 96 values for 15-minute readings).
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
    # Half-lives, in steps, of the smoothed level (a shift) and of the slow level (a drift) whose
    # records are watched beside the value's.
    level_half_life: float = 18.0
    drift_half_life: float = 100.0
    # Weights of the excess of each statistic: the value, its smoothed level, its slow level, its
    # smoothed difference from the usual value at this time of day.
    value_weight: float = 0.5
    level_weight: float = 1.0
    drift_weight: float = 1.0
    season_weight: float = 0.4
    # Half-life, in steps, of the smoothed difference from the daily profile; and how much of
    # each day's value goes into the profile (an exponentially weighted mean over days).
    season_half_life: float = 24.0
    profile_rate: float = 0.3
    # How long a young range's excess is discounted, in learning lengths.
    young: float = 1.0
    # Half-life, in steps, with which the surprises of recent steps add up.
    surprise_half_life: float = 2.0
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

    STATISTICS = 4  # the value, its level, its slow level, its difference from the profile

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
        self.period = np.broadcast_to(
            np.asarray(1 if period is None else period, dtype=np.int64), (n,)
        ).copy()
        self.daily = self.period > 1
        self.count = np.zeros(n, dtype=np.int64)
        self.phase = np.zeros(n, dtype=np.int64)
        self.quiet = np.zeros(n, dtype=np.int64)
        self.surprise = np.zeros(n)
        # Statistic first, series second: each statistic is one contiguous row.
        self.stats = np.zeros((self.STATISTICS, n))  # value, level, slow level, season
        self.low = np.zeros((self.STATISTICS, n))
        self.high = np.zeros((self.STATISTICS, n))
        self.weights = np.array(
            [st.value_weight, st.level_weight, st.drift_weight, st.season_weight]
        )[:, None]
        # Time of day first: series stepping together read one contiguous row of the profile.
        self.profile = np.zeros((int(self.period.max()), n), dtype=np.float32)
        self.rows = np.arange(n)
        self.rates = np.array([1.0, _alpha(st.level_half_life), _alpha(st.drift_half_life)])[
            :, None
        ]
        self.a_season = _alpha(st.season_half_life)
        self.keep_surprise = 0.5 ** (1.0 / st.surprise_half_life)
        self.a_range = _alpha(st.range_half_life) if st.range_half_life > 0 else 0.0

    def step(self, value: Float, live: Bool | None = None) -> Float:
        """Score one new value per series; `live` marks the series that have a value this step."""
        st = self.settings
        x = np.asarray(value, dtype=np.float64)
        n = x.shape[0]
        everyone = live is None or bool(np.all(live))
        on = np.ones(x.shape, dtype=bool) if live is None else np.asarray(live, dtype=bool)
        count = self.count
        # The value, its smoothed levels and the smoothed difference from the daily profile.
        stats = self.stats.copy()
        stats[:3] += self.rates * (x - stats[:3])
        # Series read in step share one time of day: one row of the profile, no gather.
        lockstep = n > 0 and bool((self.phase == self.phase[0]).all())
        today = self.profile[self.phase[0]] if lockstep else self.profile[self.phase, self.rows]
        usual = today.astype(np.float64)
        day_seen = (count >= self.period) & self.daily
        stats[3] += self.a_season * (np.where(day_seen, x - usual, 0.0) - stats[3])
        low, high = self.low.copy(), self.high.copy()
        first = count == 0
        if first.any():
            stats[:3, first] = x[first]
            low[:3, first] = high[:3, first] = x[first]
        # The difference from the profile starts its range once a whole day has been seen.
        young_day = count <= self.period
        if young_day.any():
            low[3, young_day] = high[3, young_day] = stats[3, young_day]
        span = np.maximum(high - low, 1e-9 * (1.0 + np.abs(high)))
        excess = np.maximum(np.maximum(stats - high, low - stats), 0.0)
        excess /= span
        excess *= self.weights
        surprise = excess.max(axis=0)
        age = count / (count + st.young * self.learning + 1e-9)
        surprise *= age * age
        # Several small breaks of a record in quick succession count like one large one.
        surprise += self.keep_surprise * self.surprise
        score = surprise / (1.0 + surprise)
        score[~(on & (count >= self.learning) & (self.quiet == 0))] = 0.0
        reported = score >= st.report_level
        self.quiet = np.where(reported, self.quiet_steps, np.maximum(self.quiet - on, 0))
        # Learn after scoring, so a value is never compared with itself.
        np.minimum(low, stats, out=low)
        np.maximum(high, stats, out=high)
        if self.a_range:
            shrink = self.a_range * 0.5 * (high - low)
            low += shrink
            high -= shrink
        learned = np.where(day_seen, usual + st.profile_rate * (x - usual), x)
        if everyone:
            self.stats, self.low, self.high = stats, low, high
            self.surprise = surprise
        else:
            np.copyto(self.surprise, surprise, where=on)
            np.copyto(self.stats, stats, where=on)
            np.copyto(self.low, low, where=on)
            np.copyto(self.high, high, where=on)
            learned = np.where(on, learned, usual)
        if lockstep:
            self.profile[self.phase[0]] = learned
        else:
            self.profile[self.phase, self.rows] = learned
        self.phase = np.where(on, (self.phase + 1) % self.period, self.phase)
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
