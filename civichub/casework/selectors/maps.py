"""What casework's maps show, in the base map's coordinate system (`core.maps`): the
communities' areas (the offline base map, and the outlines over real tiles), one message's
place, the public board's messages by community and the inbox's pins."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from civichub.casework.models import Case, CommunityArea
from civichub.casework.selectors.board import BoardEntry
from civichub.core.maps import MapPoint, map_point, to_map


def _ring_to_map(ring: Sequence[Sequence[float]]) -> list[list[float]]:
    out = []
    for position in ring:
        lat, lng = to_map(float(position[1]), float(position[0]))
        out.append([round(lng, 7), round(lat, 7)])
    return out


def community_area_features() -> dict[str, Any]:
    """The communities' areas as a GeoJSON FeatureCollection ([lng, lat] in the base map's
    system): a polygon where one is set, else the centre with its radius (`radius_m`), which
    the map draws as a circle. Public: where communities lie is no one's personal data."""
    language = translation.get_language() or settings.LANGUAGE_CODE
    features = []
    for area in CommunityArea.objects.select_related("community").order_by("community__path"):
        name = area.community.display_name(language)
        geometry: dict[str, Any]
        properties: dict[str, Any] = {"name": name}
        polygon = area.polygon if isinstance(area.polygon, dict) else None
        if polygon and polygon.get("type") == "Polygon" and polygon.get("coordinates"):
            geometry = {
                "type": "Polygon",
                "coordinates": [_ring_to_map(ring) for ring in polygon["coordinates"]],
            }
        else:
            lat, lng = to_map(area.centre_latitude, area.centre_longitude)
            geometry = {"type": "Point", "coordinates": [round(lng, 7), round(lat, 7)]}
            properties["radius_m"] = area.radius_m
        features.append({"type": "Feature", "geometry": geometry, "properties": properties})
    return {"type": "FeatureCollection", "features": features}


def case_map_points(case: Case) -> list[MapPoint]:
    """The message's own place (for its sender and for staff), if it has one."""
    if case.wgs84_latitude is None or case.wgs84_longitude is None:
        return []
    label = case.address or _("留言地点")
    return [map_point(case.wgs84_latitude, case.wgs84_longitude, label)]


def inbox_map_points(cases: Iterable[Case]) -> list[MapPoint]:
    """The inbox's messages that have a place, each leading to its page."""
    return [
        map_point(
            case.wgs84_latitude,
            case.wgs84_longitude,
            f"{case.tracking_number} {case.title}",
            reverse("casework:case", args=[case.tracking_number]),
        )
        for case in cases
        if case.wgs84_latitude is not None and case.wgs84_longitude is not None
    ]


def board_map_points(entries: Sequence[BoardEntry]) -> list[MapPoint]:
    """The board's messages counted by community, at the community's centre: the board never
    shows a sender's own pin or address."""
    counts = Counter(e.community_id for e in entries if e.community_id is not None)
    if not counts:
        return []
    language = translation.get_language() or settings.LANGUAGE_CODE
    points = []
    for area in CommunityArea.objects.select_related("community").filter(
        community_id__in=list(counts)
    ):
        n = counts[area.community_id]
        name = area.community.display_name(language)
        label = ngettext(
            "%(community)s：本页 %(n)d 条留言", "%(community)s：本页 %(n)d 条留言", n
        ) % {"community": name, "n": n}
        points.append(map_point(area.centre_latitude, area.centre_longitude, label))
    return sorted(points, key=lambda p: p.label)
