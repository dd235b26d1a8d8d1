"""The streaming change score on synthetic series, many side by side."""

from __future__ import annotations

import numpy as np

from civichub.wellbeing.streaming import StreamingDetector


def test_a_level_shift_scores_highest_just_after_it_and_is_reported_once() -> None:
    rng = np.random.default_rng(0)
    quiet = rng.normal(10.0, 1.0, 2000)
    shifted = quiet.copy()
    shifted[1500:] += 8.0
    scores = StreamingDetector.score_series([quiet, shifted])
    peak = int(np.argmax(scores[1]))
    assert 1500 <= peak < 1510
    assert scores[1][peak] > scores[0][200:].max()
    high = np.flatnonzero(scores[1] >= StreamingDetector(1).settings.report_level)
    assert high.tolist() == [peak]


def test_series_of_different_lengths_are_scored_independently() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 700), rng.normal(5, 2, 1300)
    together = StreamingDetector.score_series([a, b])
    alone = StreamingDetector.score_series([b])
    assert [len(s) for s in together] == [700, 1300]
    np.testing.assert_allclose(together[1], alone[0])
    assert (together[0][:100] == 0).all()  # warm-up
