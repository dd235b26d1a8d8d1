"""The community map: each home a point of the base map named by the household and its state,
leading to its page and shaped by its state; homes without coordinates left to the list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from civichub.wellbeing.maps import household_map, shape_path


@dataclass
class Home:
    household_id: int
    name: str
    state: str
    latitude: float | None
    longitude: float | None


def _labels(state: str) -> str:
    return {"ok": "正常", "visit": "待上门"}[state]


def test_homes_are_named_clickable_points_and_the_pressing_ones_drawn_last() -> None:
    homes = [
        Home(2, "东北", "visit", 39.93, 116.45),
        Home(1, "西南", "ok", 39.90, 116.40),
        Home(3, "无坐标", "visit", None, None),
    ]
    drawn = household_map(homes, _labels, lambda pk: f"/wellbeing/households/{pk}/")
    assert [p.as_json() for p in drawn.points] == [
        {
            "lat": 39.9,
            "lng": 116.4,
            "label": "西南 · 正常",
            "url": "/wellbeing/households/1/",
            "shape": shape_path("ok", 12, 12),
            "kind": "wb-marker wb-state-ok",
        },
        {
            "lat": 39.93,
            "lng": 116.45,
            "label": "东北 · 待上门",
            "url": "/wellbeing/households/2/",
            "shape": shape_path("visit", 12, 12),
            "kind": "wb-marker wb-state-visit",
        },
    ]
    assert drawn.unplaced == 1


def test_points_are_moved_into_the_base_maps_coordinate_system(settings: Any) -> None:
    """On GCJ-02 tiles (AMap) a WGS-84 home is shifted as the tiles are, by a few hundred
    metres in China."""
    settings.CIVICHUB_PROFILE = {"map_tiles_crs": "gcj02"}
    drawn = household_map([Home(1, "甲", "ok", 39.9, 116.4)], _labels, str)
    point = drawn.points[0]
    assert (point.latitude, point.longitude) != (39.9, 116.4)
    assert abs(point.latitude - 39.9) < 0.01 and abs(point.longitude - 116.4) < 0.01


def test_each_state_has_its_own_shape() -> None:
    states = ["ok", "away", "alert", "visit", "withdrawn"]
    shapes = {shape_path(state, 10, 10) for state in states}
    assert len(shapes) == len(states)
