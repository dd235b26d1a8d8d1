"""The community map: the households' homes on the platform's base map (`core.maps`, Leaflet
driven by the shared map.js), each marker shaped and coloured by the household's state (so that
colour is never the only cue), named by the household and its state, and leading to the
household's page. Drawn from the WGS-84 copies of the residents' home coordinates. Without
JavaScript the table beside the map on the page says the same in words and links."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from civichub.core.maps import MapPoint, map_point

SIZE = 6.0


class Located(Protocol):
    household_id: int
    name: str
    state: str
    latitude: float | None
    longitude: float | None


@dataclass(frozen=True)
class HouseholdMap:
    points: list[MapPoint] = field(default_factory=list)
    unplaced: int = 0


def shape_path(state: str, x: float, y: float, size: float = SIZE) -> str:
    """A different shape per state: circle (fine), square (away), triangle (waiting for the
    family), diamond (visit), cross (consent withdrawn)."""
    s = size
    if state == "away":
        return f"M{x - s:.1f},{y - s:.1f}h{2 * s:.1f}v{2 * s:.1f}h{-2 * s:.1f}z"
    if state == "alert":
        return (
            f"M{x:.1f},{y - s * 1.2:.1f}L{x + s * 1.1:.1f},{y + s:.1f}"
            f"L{x - s * 1.1:.1f},{y + s:.1f}z"
        )
    if state == "visit":
        return (
            f"M{x:.1f},{y - s * 1.3:.1f}L{x + s * 1.3:.1f},{y:.1f}"
            f"L{x:.1f},{y + s * 1.3:.1f}L{x - s * 1.3:.1f},{y:.1f}z"
        )
    if state == "withdrawn":
        t = s * 0.35
        return (
            f"M{x - s:.1f},{y - s + t:.1f}l{t:.1f},{-t:.1f}l{s - t:.1f},{s - t:.1f}"
            f"l{s - t:.1f},{t - s:.1f}l{t:.1f},{t:.1f}l{t - s:.1f},{s - t:.1f}"
            f"l{s - t:.1f},{s - t:.1f}l{-t:.1f},{t:.1f}l{t - s:.1f},{t - s:.1f}"
            f"l{t - s:.1f},{s - t:.1f}l{-t:.1f},{-t:.1f}l{s - t:.1f},{t - s:.1f}z"
        )
    # A circle as two arcs, so every marker is one path.
    return (
        f"M{x - s:.1f},{y:.1f}a{s:.1f},{s:.1f} 0 1,0 {2 * s:.1f},0"
        f"a{s:.1f},{s:.1f} 0 1,0 {-2 * s:.1f},0z"
    )


def household_map(
    households: Sequence[Located],
    state_label: Callable[[str], str],
    url: Callable[[int], str],
) -> HouseholdMap:
    """The homes that have coordinates as points of the base map, each named "household ·
    state" and leading to `url(household_id)`; the most pressing states last, drawn on top.
    Homes without coordinates are only counted (they are in the list)."""
    order = {"withdrawn": 0, "ok": 1, "away": 2, "alert": 3, "visit": 4}
    placed = sorted(
        (h for h in households if h.latitude is not None and h.longitude is not None),
        key=lambda h: order.get(h.state, 0),
    )
    points = [
        map_point(
            float(h.latitude),  # type: ignore[arg-type]
            float(h.longitude),  # type: ignore[arg-type]
            f"{h.name} · {state_label(h.state)}",
            url(h.household_id),
            shape=shape_path(h.state, 12, 12),
            kind=f"wb-marker wb-state-{h.state}",
        )
        for h in placed
    ]
    return HouseholdMap(points=points, unplaced=len(households) - len(placed))


def legend() -> list[tuple[str, str]]:
    """One sample shape per state for the legend, in a 20 × 20 box."""
    states = ("visit", "alert", "away", "ok", "withdrawn")
    return [(state, shape_path(state, 10, 10)) for state in states]
