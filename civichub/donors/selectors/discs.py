"""The discs a search reads: the cells around a hospital that can hold a donor within a
radius (or a ring between two radii), and the ranking's distance, computed alike here and in
the SQL."""

from __future__ import annotations

import bisect
import functools
import math

from civichub.core.config import module_config
from civichub.donors import places
from civichub.donors.conf import DonorsSettings

KM_PER_DEGREE = 111.195
# At most this many cells in one search (a 10 km disc of resolution-8 cells is 721).
MAX_CELLS = 800


def _settings() -> DonorsSettings:
    return module_config(DonorsSettings)


def dist2(lat: float, lng: float, cell_lat: float, cell_lng: float) -> float:
    """The ranking's distance in km² (an equirectangular one, exact enough within 100 km to
    band and order by), computed exactly as the SQL computes it."""
    k_lng = KM_PER_DEGREE * math.cos(math.radians(lat))
    north = (cell_lat - lat) * KM_PER_DEGREE
    east = (cell_lng - lng) * k_lng
    return north * north + east * east


def band_cells(lat: float, lng: float, inner_km: float, outer_km: float) -> tuple[str, list[str]]:
    """The column and the cells whose rings cover every place within `outer_km` of the point:
    the finest cells that do it in at most MAX_CELLS (few rows read for the nearest bands), or
    a short list of coarse cells for a whole city. A donor's place is the centre of their
    finest cell, so of those only the cells whose centre lies in the band can hold one (a
    metre of margin either side: the query checks the distance again), nearest first."""
    conf = _settings()
    resolutions = (conf.cell_resolution, conf.search_resolution, conf.region_resolution)
    field, distances, cells = _disc(lat, lng, outer_km, *resolutions)
    if field != "cell":
        return field, list(cells)
    low, high = max(inner_km - 0.001, 0.0) ** 2, (outer_km + 0.001) ** 2
    first = bisect.bisect_right(distances, low) if inner_km > 0 else 0
    return field, list(cells[first : bisect.bisect_right(distances, high)])


# A search among few donors (antigen-negative ones) lists at most this many coarse cells.
MAX_COARSE_CELLS = 200


def coarse_cells(
    lat: float, lng: float, radius_km: float, inner_km: float = 0.0
) -> tuple[str, list[str]]:
    """The column and the search cells (about 5 km²) that can hold a donor within the disc
    (farther than `inner_km`: a ring), or its region cells when the rings would be too many:
    for a search among few donors a short list to bind, for a few more entries to read (the
    query checks the distance of each)."""
    conf = _settings()
    if places.ring_count(lat, lng, radius_km, conf.search_resolution) <= MAX_COARSE_CELLS:
        return "search_cell", list(
            _reaching(lat, lng, inner_km, radius_km, conf.cell_resolution, conf.search_resolution)
        )
    return "region_cell", places.rings_for(lat, lng, radius_km, conf.region_resolution)


@functools.lru_cache(maxsize=256)
def _reaching(
    lat: float, lng: float, inner_km: float, outer_km: float, fine: int, coarse: int
) -> tuple[str, ...]:
    """The cells of resolution `coarse` in the rings covering the disc of which a child of
    resolution `fine` has its centre farther than `inner_km` and at most `outer_km` away (a
    metre of margin either side): a donor's place is the centre of their finest cell, whose
    parent is their coarser cell, so no other cell of the rings holds a donor in the ring.
    The rings cover a hexagon about twice the disc's area; these cells, the disc and a rim of
    about half a cell (without the cells wholly inside `inner_km`)."""
    low = max(inner_km - 0.001, 0.0) ** 2 if inner_km > 0 else -1.0
    high = (outer_km + 0.001) ** 2
    k_lng = KM_PER_DEGREE * math.cos(math.radians(lat))
    return tuple(
        cell
        for cell in places.rings_for(lat, lng, outer_km, coarse)
        if any(
            low
            < ((c_lat - lat) * KM_PER_DEGREE) * ((c_lat - lat) * KM_PER_DEGREE)
            + ((c_lng - lng) * k_lng) * ((c_lng - lng) * k_lng)
            <= high
            for c_lat, c_lng in places.child_centres(cell, fine)
        )
    )


@functools.lru_cache(maxsize=256)
def _disc(
    lat: float, lng: float, radius_km: float, fine: int, search: int, region: int
) -> tuple[str, tuple[float, ...], tuple[str, ...]]:
    """The column and cells of `band_cells` for the whole disc; the finest cells with the squared
    distance of their centre, nearest first. Kept: a request's bands, its waves and the
    donors' pages ask for the same discs again, and finding the cells and their centres
    costs more than the query of a sparse band."""
    resolution, field = region, "region_cell"
    for option in ((fine, "cell"), (search, "search_cell")):
        if places.ring_count(lat, lng, radius_km, option[0]) <= MAX_CELLS:
            resolution, field = option
            break
    cells = places.rings_for(lat, lng, radius_km, resolution)
    if field != "cell":
        return field, (), tuple(cells)
    # `dist2` written out (the same operations in the same order: the same values), since
    # this runs for every cell of the disc.
    k_lng = KM_PER_DEGREE * math.cos(math.radians(lat))
    centre = places.cell_centre
    pairs = sorted(
        (
            ((c_lat - lat) * KM_PER_DEGREE) * ((c_lat - lat) * KM_PER_DEGREE)
            + ((c_lng - lng) * k_lng) * ((c_lng - lng) * k_lng),
            cell,
        )
        for cell in cells
        for c_lat, c_lng in (centre(cell),)
    )
    return field, tuple(d for d, _cell in pairs), tuple(cell for _d, cell in pairs)
