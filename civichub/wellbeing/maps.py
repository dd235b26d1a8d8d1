"""The community map: a server-rendered SVG of the households' homes, each marker coloured and
shaped by the household's state (so that colour is never the only cue), drawn from the WGS-84
copies of the residents' home coordinates (`core.geo`). No tile server: nothing leaves the
deployment, and the page works offline and without JavaScript. The table beside the map on the
page says the same in words."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

WIDTH = 640
MAX_HEIGHT = 480
PADDING = 16
SIZE = 6.0
MIN_SPAN_DEGREES = 0.005


class Located(Protocol):
    household_id: int
    name: str
    state: str
    latitude: float | None
    longitude: float | None


@dataclass(frozen=True)
class Marker:
    household_id: int
    name: str
    state: str
    x: float
    y: float
    shape: str  # SVG path data centred on (x, y)


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


def community_map(households: Sequence[Located]) -> dict[str, Any]:
    """Projects the homes that have coordinates into the map's box (equirectangular, with the
    east-west scale shrunk by the cosine of the latitude, which is exact enough for the few
    kilometres of a community or a district). Homes without coordinates are only in the list."""
    placed = [h for h in households if h.latitude is not None and h.longitude is not None]
    if not placed:
        return {"markers": [], "width": WIDTH, "height": 0, "unplaced": len(households)}
    lats = [float(h.latitude) for h in placed]  # type: ignore[arg-type]
    lngs = [float(h.longitude) for h in placed]  # type: ignore[arg-type]
    # At least about 500 m each way, centred on the homes, so that one home or a few close
    # together sit in the middle of the map rather than in a corner of an extreme zoom.
    mid_lat, mid_lng = (min(lats) + max(lats)) / 2, (min(lngs) + max(lngs)) / 2
    scale_x = math.cos(math.radians(mid_lat))
    span_y = max(max(lats) - min(lats), MIN_SPAN_DEGREES)
    span_x = max((max(lngs) - min(lngs)) * scale_x, MIN_SPAN_DEGREES)
    north = mid_lat + span_y / 2
    west = mid_lng - span_x / scale_x / 2
    inner = WIDTH - 2 * PADDING
    per_degree = min(inner / span_x, (MAX_HEIGHT - 2 * PADDING) / span_y)
    height = round(span_y * per_degree + 2 * PADDING)
    offset_x = (inner - span_x * per_degree) / 2
    markers = []
    for h in placed:
        x = PADDING + offset_x + (float(h.longitude) - west) * scale_x * per_degree  # type: ignore[arg-type]
        y = PADDING + (north - float(h.latitude)) * per_degree  # type: ignore[arg-type]
        markers.append(
            Marker(
                household_id=h.household_id,
                name=h.name,
                state=h.state,
                x=round(x, 1),
                y=round(y, 1),
                shape=shape_path(h.state, x, y),
            )
        )
    # The most pressing states are drawn last, on top.
    order = {"withdrawn": 0, "ok": 1, "away": 2, "alert": 3, "visit": 4}
    markers.sort(key=lambda m: order.get(m.state, 0))
    return {
        "markers": markers,
        "width": WIDTH,
        "height": height,
        "unplaced": len(households) - len(placed),
    }


def legend() -> list[tuple[str, str]]:
    """One sample shape per state for the legend, in a 20 × 20 box."""
    states = ("visit", "alert", "away", "ok", "withdrawn")
    return [(state, shape_path(state, 10, 10)) for state in states]
