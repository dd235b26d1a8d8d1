"""Routing rules that need no trained model: the category by keywords, the community by place.

`classify` matches each active category's keywords in the text; `routing.classify` uses it
until the deployment has trained a model.
"""

from __future__ import annotations

from civichub.casework.models import Case, Category, CommunityArea
from civichub.core import geo
from civichub.core.models import Organisation, OrganisationKind


def classify(text: str) -> tuple[str | None, float]:
    """(category key, confidence) by keyword match. Confidence is the share of keyword hits
    that point to the winning category, scaled down when only one keyword matched."""
    hits: dict[str, int] = {}
    for key, keywords in Category.objects.filter(active=True).values_list("key", "keywords"):
        count = sum(1 for word in keywords or [] if word and word in text)
        if count:
            hits[key] = count
    if not hits:
        return None, 0.0
    best = max(hits, key=lambda k: (hits[k], k))
    total = sum(hits.values())
    confidence = hits[best] / total
    if hits[best] == 1:
        confidence *= 0.8
    return best, round(confidence, 4)


def area_contains(area: CommunityArea, lat: float, lng: float) -> bool:
    if area.polygon:
        return geo.geojson_contains(area.polygon, lat, lng)
    return geo.distance_m(lat, lng, area.centre_latitude, area.centre_longitude) <= area.radius_m


def community_for_point(lat: float, lng: float, max_nearest_m: float) -> Organisation | None:
    """The community whose area holds the WGS-84 point; else the nearest centre in range."""
    areas = list(CommunityArea.objects.select_related("community"))
    for area in areas:
        if area_contains(area, lat, lng):
            return area.community
    best: tuple[float, CommunityArea] | None = None
    for area in areas:
        distance = geo.distance_m(lat, lng, area.centre_latitude, area.centre_longitude)
        if distance <= max_nearest_m and (best is None or distance < best[0]):
            best = (distance, area)
    return best[1].community if best else None


def community_for_address(address: str) -> Organisation | None:
    """The community whose name or address terms occur in the address; the longest match wins
    (so "桃源社区" beats "桃源")."""
    if not address.strip():
        return None
    best: tuple[int, Organisation] | None = None
    for area in CommunityArea.objects.select_related("community"):
        for term in [area.community.name, *(area.address_terms or [])]:
            if term and term in address and (best is None or len(term) > best[0]):
                best = (len(term), area.community)
    if best is None:
        for community in Organisation.objects.filter(kind=OrganisationKind.COMMUNITY):
            if community.name in address and (best is None or len(community.name) > best[0]):
                best = (len(community.name), community)
    return best[1] if best else None


def route_community(case: Case, max_nearest_m: float) -> Organisation | None:
    if case.wgs84_latitude is not None and case.wgs84_longitude is not None:
        found = community_for_point(case.wgs84_latitude, case.wgs84_longitude, max_nearest_m)
        if found is not None:
            return found
    return community_for_address(case.address)
