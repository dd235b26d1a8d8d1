"""A streaming anomaly score for many univariate series at once (pure NumPy).

Each new value of every series is scored in one step against that series' own recent past, so
the detector runs over millions of series as easily as one. The score of a step is a probability
in [0, 1] that the series has just left its usual behaviour:

1. Two raw surprises per step: how far the value is from an exponentially weighted mean, in units
   of the weighted standard deviation (a spike), and how far the mean of the last few values is
   from the mean before them (a level shift).
2. An "anomaly likelihood" in the manner of Numenta's: the short moving average of a raw
   surprise is compared with the distribution of that surprise over a long history, so a series
   that is always noisy needs a larger surprise than a quiet one. The score is the Gaussian tail
   probability of that comparison.
3. After a score above `report_level`, the series is held quiet for `refractory` steps: one
   event is reported once rather than for every step it lasts.

The household detector's learned routine answers "is this usual for this home at this hour"; this
detector answers "did this series change just now", which is the question the Numenta Anomaly
Benchmark asks, and the benchmark scores it there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Float = npt.NDArray[np.float64]


@dataclass(frozen=True)
class StreamingSettings:
    fast_half_life: float = 8.0
    slow_half_life: float = 50.0
    short_window: int = 6
    history: int = 600
    warmup: int = 100
    scale: float = 10.0
    report_level: float = 0.5  # a surprise of `scale` standard deviations
    refractory: int = 300


def _alpha(half_life: float) -> float:
    return 1.0 - 0.5 ** (1.0 / half_life)


class StreamingDetector:
    def __init__(self, series: int, settings: StreamingSettings | None = None) -> None:
        self.settings = settings or StreamingSettings()
        st = self.settings
        n = series
        self.count = np.zeros(n, dtype=np.int64)
        self.mean = np.zeros(n)
        self.var = np.zeros(n)
        self.slow_mean = np.zeros(n)
        self.slow_var = np.zeros(n)
        self.recent = np.zeros((n, st.short_window))
        self.raw = np.zeros((n, 2, st.history))
        self.raw_sum = np.zeros((n, 2))
        self.raw_sq = np.zeros((n, 2))
        self.quiet = np.zeros(n, dtype=np.int64)
        self.a_fast = _alpha(st.fast_half_life)
        self.a_slow = _alpha(st.slow_half_life)

    def step(self, value: Float, live: npt.NDArray[np.bool_] | None = None) -> Float:
        """Score one new value per series; `live` marks the series that have a value this step."""
        st = self.settings
        x = np.asarray(value, dtype=np.float64)
        on = np.ones(x.shape, dtype=bool) if live is None else live
        x = np.where(on, x, self.mean)
        first = self.count == 0
        self.mean = np.where(first, x, self.mean)
        self.slow_mean = np.where(first, x, self.slow_mean)
        spread = np.sqrt(self.slow_var) + 1e-9 + 1e-3 * np.abs(self.slow_mean)
        spike = np.abs(x - self.mean) / spread
        k = st.short_window
        self.recent = np.roll(self.recent, -1, axis=1)
        self.recent[:, -1] = x
        short_mean = self.recent.mean(axis=1)
        shift = np.abs(short_mean - self.slow_mean) / spread
        raw = np.stack([spike, shift], axis=1)
        slot = self.count % st.history
        rows = np.arange(x.shape[0])
        old = self.raw[rows, :, slot]
        filled = np.minimum(self.count, st.history)[:, None].astype(np.float64)
        mu = self.raw_sum / np.maximum(filled, 1.0)
        sd = np.sqrt(np.maximum(self.raw_sq / np.maximum(filled, 1.0) - mu * mu, 0.0)) + 1e-6
        z = (raw - mu) / sd
        # A monotone map of the larger surprise to [0, 1) that keeps large ones apart (a Gaussian
        # tail would round them all to 1 and leave the threshold nothing to choose between).
        surprise = np.maximum(np.max(z, axis=1), 0.0)
        score = surprise / (surprise + st.scale)
        score = np.where((self.count < st.warmup) | (self.quiet > 0) | ~on, 0.0, score)
        self.quiet = np.where(
            score >= st.report_level, st.refractory, np.maximum(self.quiet - 1, 0)
        )
        # Learn after scoring, so a value is never compared with itself.
        replace = (self.count >= st.history)[:, None]
        self.raw_sum += np.where(on[:, None], raw - np.where(replace, old, 0.0), 0.0)
        self.raw_sq += np.where(on[:, None], raw * raw - np.where(replace, old * old, 0.0), 0.0)
        self.raw[rows, :, slot] = np.where(on[:, None], raw, old)
        d_fast = x - self.mean
        self.mean += self.a_fast * d_fast * on
        self.var = np.where(
            on, (1 - self.a_fast) * (self.var + self.a_fast * d_fast * d_fast), self.var
        )
        d_slow = x - self.slow_mean
        self.slow_mean += self.a_slow * d_slow * on
        self.slow_var = np.where(
            on, (1 - self.a_slow) * (self.slow_var + self.a_slow * d_slow * d_slow), self.slow_var
        )
        self.count += on
        del k
        return score

    @classmethod
    def score_series(
        cls, series: list[Float], settings: StreamingSettings | None = None
    ) -> list[Float]:
        """Score whole series of different lengths side by side, one step for all at a time."""
        n = len(series)
        longest = max(len(s) for s in series)
        values = np.zeros((n, longest))
        live = np.zeros((n, longest), dtype=bool)
        for i, s in enumerate(series):
            values[i, : len(s)] = s
            live[i, : len(s)] = True
        detector = cls(n, settings)
        out = np.zeros((n, longest))
        for t in range(longest):
            out[:, t] = detector.step(values[:, t], live[:, t])
        return [out[i, : len(s)] for i, s in enumerate(series)]
