"""Maps for every module's pages: the deployment's base map and the coordinate system pages
speak to the browser in.

Places are stored in WGS-84 (next to what the sender gave). The browser's map is drawn in
the tiles' own system (`CoreSettings.map_tiles_crs`: GCJ-02 for AMap, WGS-84 for OpenStreetMap
and Tianditu), so every point handed to a map goes through `to_map`, and a pin a person drops
comes back in that system with the system named (`map_crs`), for intake to convert once.

The map itself is Leaflet (vendored under static/vendor/leaflet, see its README) driven by
static/civichub/map.js; pages describe a map with data attributes (`map_attributes`), never
inline script, so the Content-Security-Policy stays strict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.templatetags.static import static
from django.utils.translation import gettext as _

from civichub.core import geo
from civichub.core.conf import core_settings
from civichub.core.models import CoordinateSystem


@dataclass(frozen=True)
class MapPoint:
    """One place to show on a map, already in the map's coordinate system."""

    latitude: float
    longitude: float
    label: str
    url: str = ""
    # Optional: the marker drawn as this SVG path (in a 24 × 24 box) with these CSS classes,
    # so that a state can be told by shape as well as colour; a pin otherwise.
    shape: str = ""
    kind: str = ""

    def as_json(self) -> dict[str, Any]:
        data = {"lat": self.latitude, "lng": self.longitude, "label": self.label, "url": self.url}
        if self.shape:
            data.update(shape=self.shape, kind=self.kind)
        return data


def map_crs() -> str:
    """The coordinate system of the deployment's base map (a CoordinateSystem value)."""
    crs = core_settings().map_tiles_crs
    return crs if crs in CoordinateSystem.values else CoordinateSystem.WGS84


def to_map(latitude: float, longitude: float) -> tuple[float, float]:
    """A WGS-84 point in the base map's coordinate system."""
    if map_crs() == CoordinateSystem.GCJ02:
        return geo.wgs84_to_gcj02(latitude, longitude)
    return latitude, longitude


def map_point(
    latitude: float, longitude: float, label: str, url: str = "", shape: str = "", kind: str = ""
) -> MapPoint:
    """A WGS-84 place as a point on the base map."""
    lat, lng = to_map(latitude, longitude)
    return MapPoint(round(lat, 7), round(lng, 7), label, url, shape, kind)


def _with_key(template: str, key: str) -> str:
    return template.replace("{key}", key) if template else ""


def map_attributes() -> dict[str, str]:
    """The data attributes map.js reads: the base map, its coordinate system, the marker
    images and the controls' words in the page's language."""
    conf = core_settings()
    return {
        "data-tiles": _with_key(conf.map_tiles, conf.map_tiles_key),
        "data-label-tiles": _with_key(conf.map_label_tiles, conf.map_tiles_key),
        "data-subdomains": conf.map_tiles_subdomains,
        "data-attribution": conf.map_tiles_attribution,
        "data-max-zoom": str(conf.map_max_zoom),
        "data-crs": map_crs(),
        "data-icon": static("vendor/leaflet/images/marker-icon.png"),
        "data-icon-2x": static("vendor/leaflet/images/marker-icon-2x.png"),
        "data-shadow": static("vendor/leaflet/images/marker-shadow.png"),
        "data-zoom-in": _("放大"),
        "data-zoom-out": _("缩小"),
        "data-marker": _("地点标记"),
    }
