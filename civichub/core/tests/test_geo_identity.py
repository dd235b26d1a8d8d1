"""Coordinates and identity numbers, checked against independent references."""

from __future__ import annotations

import random

import eviltransform
import pytest

from civichub.core import geo
from civichub.core.identity import check_digit, identity_number_error


def test_wgs84_to_gcj02_matches_a_published_implementation() -> None:
    rng = random.Random(7)
    for _ in range(500):
        lat, lng = rng.uniform(18.5, 53), rng.uniform(74, 134.5)
        ours = geo.wgs84_to_gcj02(lat, lng)
        reference = eviltransform.wgs2gcj(lat, lng)
        # Implementations differ in floating-point detail by a few millimetres at most.
        assert ours == pytest.approx(reference, abs=1e-6)


def test_gcj02_to_wgs84_round_trips_within_a_centimetre() -> None:
    rng = random.Random(11)
    for _ in range(500):
        lat, lng = rng.uniform(18.5, 53), rng.uniform(74, 134.5)
        back = geo.gcj02_to_wgs84(*geo.wgs84_to_gcj02(lat, lng))
        assert geo.distance_m(lat, lng, *back) < 0.01


def test_the_offset_in_beijing_is_hundreds_of_metres() -> None:
    gcj = geo.wgs84_to_gcj02(39.9087, 116.3975)
    assert 300 < geo.distance_m(39.9087, 116.3975, *gcj) < 800


def test_outside_china_the_systems_coincide() -> None:
    assert geo.wgs84_to_gcj02(51.5007, -0.1246) == (51.5007, -0.1246)
    assert geo.to_wgs84(51.5007, -0.1246, "gcj02") == (51.5007, -0.1246)


def test_unknown_coordinate_system_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown coordinate system"):
        geo.to_wgs84(1.0, 1.0, "bd09")


def test_distance_of_one_degree_of_latitude() -> None:
    assert geo.distance_m(30, 120, 31, 120) == pytest.approx(111_195, rel=1e-3)


def test_check_digit_of_the_standard_example() -> None:
    assert check_digit("11010519491231002") == "X"
    assert identity_number_error("11010519491231002X") is None


def test_every_last_digit_but_one_is_refused() -> None:
    body = "44030419900101123"
    good = check_digit(body)
    for last in "0123456789X":
        problem = identity_number_error(body + last)
        assert (problem is None) is (last == good)
