"""The community map: homes projected into the SVG box with north up and east to the right, one
home in the middle, each state its own shape, homes without coordinates left to the list."""

from __future__ import annotations

from dataclasses import dataclass

from civichub.wellbeing.maps import PADDING, WIDTH, community_map, shape_path


@dataclass
class Home:
    household_id: int
    name: str
    state: str
    latitude: float | None
    longitude: float | None


def test_a_single_home_is_drawn_in_the_middle_of_the_map() -> None:
    drawn = community_map([Home(1, "甲", "ok", 39.9, 116.4)])
    marker = drawn["markers"][0]
    assert abs(marker.x - WIDTH / 2) < 1
    assert abs(marker.y - drawn["height"] / 2) < 1


def test_north_is_up_east_is_right_and_everything_fits_the_box() -> None:
    homes = [
        Home(1, "西南", "ok", 39.90, 116.40),
        Home(2, "东北", "visit", 39.93, 116.45),
        Home(3, "无坐标", "alert", None, None),
    ]
    drawn = community_map(homes)
    by_id = {m.household_id: m for m in drawn["markers"]}
    assert by_id[2].x > by_id[1].x and by_id[2].y < by_id[1].y
    for m in drawn["markers"]:
        assert PADDING - 0.1 <= m.x <= WIDTH - PADDING + 0.1
        assert PADDING - 0.1 <= m.y <= drawn["height"] - PADDING + 0.1
    assert drawn["unplaced"] == 1
    # The pressing states are drawn last, on top of the others.
    assert [m.state for m in drawn["markers"]] == ["ok", "visit"]


def test_each_state_has_its_own_shape() -> None:
    states = ["ok", "away", "alert", "visit", "withdrawn"]
    shapes = {shape_path(state, 10, 10) for state in states}
    assert len(shapes) == len(states)
