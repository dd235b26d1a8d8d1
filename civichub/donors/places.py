"""Coarse places: a donor is kept as an H3 cell (about 0.7 km² at resolution 8) and its
centre, never as the point given; searches read the rings of coarser cells around a hospital.
Coordinates arrive in WGS-84 or GCJ-02 and are turned into WGS-84 by core's geo helpers first."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import h3

from civichub.core import geo


@dataclass(frozen=True)
class CoarsePlace:
    cell: str
    search_cell: str
    region_cell: str
    lat: float
    lng: float


def coarse_place(
    latitude: float, longitude: float, crs: str, *, resolution: int, search: int, region: int
) -> CoarsePlace:
    lat, lng = geo.to_wgs84(latitude, longitude, crs)
    cell = h3.latlng_to_cell(lat, lng, resolution)
    centre_lat, centre_lng = h3.cell_to_latlng(cell)
    return CoarsePlace(
        cell=cell,
        search_cell=h3.cell_to_parent(cell, search),
        region_cell=h3.cell_to_parent(cell, region),
        lat=centre_lat,
        lng=centre_lng,
    )


def _k(lat: float, lng: float, radius_km: float, resolution: int) -> tuple[str, int]:
    """The cell holding the point and the number of rings around it that cover every place
    within `radius_km`: neighbouring centres are √3 edges apart (the edge measured on the cell
    itself, 10 % spare), plus one ring for a child's centre lying just outside its parent."""
    centre = h3.latlng_to_cell(lat, lng, resolution)
    edge = math.sqrt(2 * h3.cell_area(centre, "km^2") / (3 * math.sqrt(3)))
    return centre, math.ceil(radius_km / (0.9 * math.sqrt(3) * edge)) + 1


def rings_for(lat: float, lng: float, radius_km: float, resolution: int) -> list[str]:
    """The cells of `resolution` around a WGS-84 point that cover every place within
    `radius_km`."""
    centre, k = _k(lat, lng, radius_km, resolution)
    return list(h3.grid_disk(centre, k))


def ring_count(lat: float, lng: float, radius_km: float, resolution: int) -> int:
    _centre, k = _k(lat, lng, radius_km, resolution)
    return 3 * k * (k + 1) + 1


@functools.lru_cache(maxsize=65536)
def cell_centre(cell: str) -> tuple[float, float]:
    """The WGS-84 centre of a cell: the place kept for every donor in it."""
    lat, lng = h3.cell_to_latlng(cell)
    return lat, lng


@functools.lru_cache(maxsize=16384)
def child_centres(cell: str, resolution: int) -> tuple[tuple[float, float], ...]:
    """The centres of a cell's children at `resolution`: the places its donors can be kept at
    (a donor's coarser cells are the parents of their finest one)."""
    return tuple(cell_centre(child) for child in h3.cell_to_children(cell, resolution))


def band_km(distance_km: float, bands: tuple[float, ...]) -> float | None:
    """The smallest band that holds the distance (None: farther than the last)."""
    for band in bands:
        if distance_km <= band:
            return band
    return None
