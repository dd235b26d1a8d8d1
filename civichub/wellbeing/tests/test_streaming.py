"""The streaming novelty score on synthetic series, many side by side."""

from __future__ import annotations

import numpy as np
import pytest

from civichub.testing.wellbeing_stream import StreamingDetector, StreamingSettings

pytestmark = pytest.mark.once  # the same on any database: the SQLite run runs it

REPORT = StreamingSettings().report_level
ONSET = 1500


def noisy(seed: int, length: int = 3000, mean: float = 10.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, 1.0, length)


def reports(scores: np.ndarray) -> np.ndarray:
    return np.flatnonzero(scores >= REPORT)


def first_report_after(scores: np.ndarray, onset: int) -> int | None:
    high = reports(scores)
    high = high[high >= onset]
    return int(high[0]) if high.size else None


def test_a_spike_is_reported_at_the_step_it_happens() -> None:
    calm = noisy(0)
    series = calm.copy()
    series[ONSET] += 12.0
    control, scores = StreamingDetector.score_series([calm, series], learning=[300, 300])
    assert first_report_after(scores, ONSET) == ONSET
    assert scores[ONSET] > control.max()


def test_a_level_shift_is_reported_within_a_few_steps_and_then_held_quiet() -> None:
    calm = noisy(1)
    shifted = calm.copy()
    shifted[ONSET:] += 5.0
    control, scores = StreamingDetector.score_series([calm, shifted], learning=[300, 300])
    onset = first_report_after(scores, ONSET)
    assert onset is not None and onset < ONSET + 5
    assert scores[onset] > control.max()
    # One incident, one report: the series is held quiet for the refractory period after it.
    quiet = int(np.ceil(StreamingSettings().refractory * 300))
    assert (scores[onset + 1 : onset + 1 + quiet] == 0).all()


def test_a_shift_smaller_than_the_noise_is_found_from_the_smoothed_level() -> None:
    calm = noisy(2)
    shifted = calm.copy()
    shifted[ONSET:] += 2.5  # each value stays inside the noise band it has always had
    control, scores = StreamingDetector.score_series([calm, shifted], learning=[300, 300])
    onset = first_report_after(scores, ONSET)
    assert onset is not None and onset < ONSET + 40
    # The same noise without the shift raises nothing in those steps.
    raised = reports(control)
    assert not ((raised >= ONSET) & (raised < ONSET + 40)).any()


def test_a_change_of_variance_is_reported_within_twenty_steps() -> None:
    calm = noisy(3)
    series = calm.copy()
    series[ONSET:] = 10.0 + 4.0 * (series[ONSET:] - 10.0)
    control, scores = StreamingDetector.score_series([calm, series], learning=[300, 300])
    onset = first_report_after(scores, ONSET)
    assert onset is not None and onset < ONSET + 20
    assert scores[ONSET : ONSET + 20].max() > control.max()


def test_a_day_that_goes_differently_stands_out_against_the_daily_profile() -> None:
    rng = np.random.default_rng(9)
    t = np.arange(96 * 30)  # 30 days of 15-minute readings with a daily rhythm
    usual = 10 + 5 * np.sin(2 * np.pi * t / 96) + rng.normal(0, 0.5, t.size)
    odd = usual.copy()
    hours = slice(96 * 20 + 20, 96 * 20 + 60)  # ten hours of day 20 run half a day out of phase
    odd[hours] = 10 + 5 * np.sin(2 * np.pi * (t[hours] + 48) / 96) + rng.normal(0, 0.5, 40)
    assert odd.min() >= usual.min() - 1 and odd.max() <= usual.max() + 1  # no value is unusual
    learning = [96 * 5] * 2
    calm, scores = StreamingDetector.score_series([usual, odd], learning=learning, period=[96, 96])
    above = np.flatnonzero(scores > 3 * calm.max())
    assert above.size and hours.start <= above[0] < hours.start + 8
    # Without the time of day the same day barely stands out.
    calm, scores = StreamingDetector.score_series([usual, odd], learning=learning)
    assert scores[hours].max() < 3 * calm.max()


def test_small_record_breaks_in_a_row_add_up_to_a_report() -> None:
    calm = np.random.default_rng(10).uniform(0.0, 1.0, 3000)
    top = calm[:2000].max()
    once = calm.copy()
    once[2000] = top + 0.02  # just above everything seen, once
    climbing = calm.copy()
    climbing[2000:2005] = top + 0.02 * np.arange(1, 6)  # the same small step, five times
    _, single, several = StreamingDetector.score_series([calm, once, climbing], learning=[300] * 3)
    assert 0 < single[2000] < REPORT
    later = first_report_after(single, 2000)
    assert later is None or later > 2010
    onset = first_report_after(several, 2000)
    assert onset is not None and onset < 2005


def test_stationary_noise_raises_few_reports_and_fewer_as_it_ages() -> None:
    rng = np.random.default_rng(4)
    series = list(rng.normal(0.0, 1.0, (200, 5000)))
    scores = np.array(StreamingDetector.score_series(series, learning=[500] * 200))
    early = int((scores[:, 500:2750] >= REPORT).sum())
    late = int((scores[:, 2750:] >= REPORT).sum())
    # Pure noise still breaks its records now and then, by a little, ever more rarely: at most
    # one report per 500 scored steps, and fewer in the second half than in the first.
    assert early + late <= 200 * 4500 / 500, (early, late)
    assert late < early


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
    assert first_report_after(together[1], 900) == 900


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
