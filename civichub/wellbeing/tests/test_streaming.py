"""The streaming novelty score on synthetic series, many side by side."""

from __future__ import annotations

import numpy as np

from civichub.wellbeing.streaming import StreamingDetector, StreamingSettings

REPORT = StreamingSettings().report_level
ONSET = 1500


def noisy(seed: int, length: int = 3000, mean: float = 10.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, 1.0, length)


def first_report(scores: np.ndarray) -> int | None:
    high = np.flatnonzero(scores >= REPORT)
    return int(high[0]) if high.size else None


def test_a_spike_is_reported_at_the_step_it_happens() -> None:
    series = noisy(0)
    series[ONSET] += 12.0
    (scores,) = StreamingDetector.score_series([series], learning=[300])
    assert first_report(scores) == ONSET


def test_a_level_shift_is_reported_within_a_few_steps_and_only_once() -> None:
    base = noisy(1)
    shifted = base.copy()
    shifted[ONSET:] += 5.0
    quiet, scores = StreamingDetector.score_series([base, shifted], learning=[300, 300])
    onset = first_report(scores)
    assert onset is not None and ONSET <= onset < ONSET + 5
    assert scores[onset] > quiet.max()
    # One incident, one report: the steps after it stay below the report level.
    assert np.flatnonzero(scores >= REPORT).tolist() == [onset]


def test_a_shift_smaller_than_the_noise_is_found_from_the_smoothed_level() -> None:
    base = noisy(2)
    shifted = base.copy()
    shifted[ONSET:] += 2.5  # each value stays inside the noise band it has always had
    quiet, scores = StreamingDetector.score_series([base, shifted], learning=[300, 300])
    onset = first_report(scores)
    assert onset is not None and ONSET <= onset < ONSET + 40
    assert first_report(quiet) is None


def test_a_change_of_variance_is_reported_within_twenty_steps() -> None:
    series = noisy(3)
    series[ONSET:] = 10.0 + 4.0 * (series[ONSET:] - 10.0)
    (scores,) = StreamingDetector.score_series([series], learning=[300])
    onset = first_report(scores)
    assert onset is not None and ONSET <= onset < ONSET + 20


def test_stationary_noise_raises_few_reports() -> None:
    rng = np.random.default_rng(4)
    series = list(rng.normal(0.0, 1.0, (200, 5000)))
    scores = StreamingDetector.score_series(series, learning=[500] * 200)
    reports = sum(int((s >= REPORT).sum()) for s in scores)
    # 200 series x 4,500 scored steps of pure noise: at most one report per 45,000 steps.
    assert reports <= 20, reports


def test_scores_do_not_depend_on_later_values() -> None:
    rng = np.random.default_rng(5)
    whole = rng.normal(0.0, 1.0, 2000).cumsum()
    whole[1200:] += 30.0
    full = StreamingDetector.score_series([whole], learning=[200])[0]
    for cut in (250, 1199, 1201, 1700):
        head = StreamingDetector.score_series([whole[:cut]], learning=[200])[0]
        np.testing.assert_array_equal(head, full[:cut])


def test_nothing_is_reported_while_a_series_learns() -> None:
    series = noisy(6)
    series[100] += 50.0
    (scores,) = StreamingDetector.score_series([series], learning=[300])
    assert (scores[:300] == 0).all()
    assert ((scores >= 0) & (scores < 1)).all()


def test_series_of_different_lengths_are_scored_independently() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(0, 1, 700), rng.normal(5, 2, 1300)
    b[900] += 40.0
    together = StreamingDetector.score_series([a, b])
    alone = StreamingDetector.score_series([b])
    assert [len(s) for s in together] == [700, 1300]
    np.testing.assert_allclose(together[1], alone[0])
    assert first_report(together[1]) == 900


def test_series_without_a_value_this_step_keep_their_state() -> None:
    rng = np.random.default_rng(8)
    values = rng.normal(0.0, 1.0, (2, 600))
    gaps = np.ones((2, 600), dtype=bool)
    gaps[0, 300:400] = False  # the first series misses a hundred readings
    detector = StreamingDetector(2, learning=50)
    scored = np.stack([detector.step(values[:, t], gaps[:, t]) for t in range(600)], axis=1)
    assert (scored[0, 300:400] == 0).all()
    present = values[0, gaps[0]]
    (alone,) = StreamingDetector.score_series([present], learning=[50])
    np.testing.assert_allclose(scored[0, gaps[0]], alone)
