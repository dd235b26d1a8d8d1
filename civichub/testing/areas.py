"""Where the small city's communities lie, for casework's routing by place: apart from city.py
because every module's tests build the city and no module may reach casework through it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from civichub.casework import services as casework
from civichub.core.models import Organisation


def community_areas_set(
    pins: Mapping[Organisation, tuple[float, float]],
    *,
    radius_m: int,
    address_terms: Mapping[Organisation, Sequence[str]] | None = None,
) -> None:
    """Gives each community a round area around its pin (WGS-84), and the road names that place a
    message typed by address there, through casework's service as the demo does."""
    for community, (latitude, longitude) in pins.items():
        casework.community_area_set(
            actor=None,
            community=community,
            centre_latitude=latitude,
            centre_longitude=longitude,
            radius_m=radius_m,
            crs="wgs84",
            address_terms=list((address_terms or {}).get(community, ())),
        )
