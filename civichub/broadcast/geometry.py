"""Drawn target areas: a circle (centre and radius in metres) or a polygon (a closed ring of
latitude/longitude points). Shapes are checked here (shapely decides validity: a ring that
crosses itself is refused) and turned into database conditions on residents' WGS-84 home
coordinates, so that an alert's recipients stay one query the outbox can send from.

Distances use the equirectangular approximation around the circle's centre, within 0.1 % of
the great-circle distance at city scale (radius at most 50 km)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Case, ExpressionWrapper, F, FloatField, IntegerField, Q, Value, When
from django.db.models.functions import Mod
from django.utils.translation import gettext as _
from shapely import Point
from shapely import Polygon as ShapelyPolygon
from shapely.validation import explain_validity

from civichub.core.conf import core_settings
from civichub.core.errors import ValidationFailed
from civichub.core.geo import to_wgs84

MIN_RADIUS_M = 50
MAX_RADIUS_M = 50_000
MAX_POINTS = 200
MAX_SPAN_M = 100_000
METRES_PER_DEGREE_LAT = 110_574.0
METRES_PER_DEGREE_LON_AT_EQUATOR = 111_320.0
CRS_CHOICES = ("wgs84", "gcj02")


@dataclass(frozen=True)
class Circle:
    lat: float
    lon: float
    radius_m: float


@dataclass(frozen=True)
class Polygon:
    """A closed ring: the first point is repeated at the end."""

    points: tuple[tuple[float, float], ...]


Shape = Circle | Polygon


def default_crs() -> str:
    return core_settings().default_crs


def _crs(crs: str | None, field: str) -> str:
    crs = crs or default_crs()
    if crs not in CRS_CHOICES:
        raise ValidationFailed.on(
            f"{field}.crs", _("坐标系必须是：%(values)s。") % {"values": ", ".join(CRS_CHOICES)}
        )
    return crs


def _point(lat: Any, lon: Any, field: str) -> tuple[float, float]:
    try:
        lat_f, lon_f = float(lat), float(lon)
    except (TypeError, ValueError):
        raise ValidationFailed.on(field, _("坐标必须是数字。")) from None
    if not (math.isfinite(lat_f) and math.isfinite(lon_f)):
        raise ValidationFailed.on(field, _("坐标必须是数字。"))
    if not (-90 <= lat_f <= 90 and -180 <= lon_f <= 180):
        raise ValidationFailed.on(field, _("纬度须在 -90 到 90 之间，经度须在 -180 到 180 之间。"))
    return lat_f, lon_f


def metres_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Equirectangular distance in metres between two (lat, lon) points."""
    mean_lat = math.radians((a[0] + b[0]) / 2)
    dy = (a[0] - b[0]) * METRES_PER_DEGREE_LAT
    dx = (a[1] - b[1]) * METRES_PER_DEGREE_LON_AT_EQUATOR * math.cos(mean_lat)
    return math.hypot(dx, dy)


def circle_checked(
    *, lat: Any, lon: Any, radius_m: Any, crs: str | None = None, field: str = "circle"
) -> Circle:
    """A circle in WGS-84, from coordinates in `crs` (the deployment's default if None)."""
    system = _crs(crs, field)
    point = _point(lat, lon, field)
    try:
        radius = float(radius_m)
    except (TypeError, ValueError):
        radius = math.nan
    if not math.isfinite(radius) or not MIN_RADIUS_M <= radius <= MAX_RADIUS_M:
        raise ValidationFailed.on(
            f"{field}.radius_m",
            _("半径须在 %(min)d 到 %(max)d 米之间。") % {"min": MIN_RADIUS_M, "max": MAX_RADIUS_M},
        )
    wgs_lat, wgs_lon = to_wgs84(point[0], point[1], system)
    return Circle(lat=round(wgs_lat, 7), lon=round(wgs_lon, 7), radius_m=radius)


def polygon_checked(
    *, points: Sequence[Any], crs: str | None = None, field: str = "polygon"
) -> Polygon:
    """A polygon in WGS-84 from a closed ring of [lat, lon] pairs in `crs`: at least three
    distinct corners, at most `MAX_POINTS` points, no edge crossing another, and no wider than
    `MAX_SPAN_M` in either direction."""
    system = _crs(crs, field)
    if not isinstance(points, Sequence) or isinstance(points, str):
        raise ValidationFailed.on(field, _("多边形须是 [纬度, 经度] 点的列表。"))
    if len(points) > MAX_POINTS:
        raise ValidationFailed.on(field, _("多边形最多 %(n)d 个点。") % {"n": MAX_POINTS})
    ring: list[tuple[float, float]] = []
    for n, pair in enumerate(points):
        if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
            raise ValidationFailed.on(f"{field}.{n}", _("每个点须是 [纬度, 经度]。"))
        ring.append(_point(pair[0], pair[1], f"{field}.{n}"))
    if len(ring) < 4 or ring[0] != ring[-1]:
        raise ValidationFailed.on(
            field, _("多边形须闭合：最后一个点与第一个点相同，且至少有三个不同的顶点。")
        )
    if len(set(ring)) < 3:
        raise ValidationFailed.on(field, _("多边形至少要有三个不同的顶点。"))
    shape = ShapelyPolygon([(lon, lat) for lat, lon in ring])
    if not shape.is_valid or shape.area == 0:
        raise ValidationFailed.on(
            field,
            _("多边形的边不能相交或重叠（%(reason)s）。") % {"reason": explain_validity(shape)},
        )
    min_lon, min_lat, max_lon, max_lat = shape.bounds
    if (
        metres_between((min_lat, min_lon), (max_lat, min_lon)) > MAX_SPAN_M
        or metres_between((min_lat, min_lon), (min_lat, max_lon)) > MAX_SPAN_M
    ):
        raise ValidationFailed.on(
            field,
            _("多边形过大：南北和东西跨度都不能超过 %(km)d 公里。") % {"km": MAX_SPAN_M // 1000},
        )
    wgs = tuple(
        (round(lat, 7), round(lon, 7))
        for lat, lon in (to_wgs84(lat, lon, system) for lat, lon in ring)
    )
    return Polygon(points=wgs)


def bounds(shape: Shape) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lon, max_lon) in WGS-84."""
    if isinstance(shape, Circle):
        dlat = shape.radius_m / METRES_PER_DEGREE_LAT
        dlon = shape.radius_m / (
            METRES_PER_DEGREE_LON_AT_EQUATOR * max(math.cos(math.radians(shape.lat)), 1e-6)
        )
        return shape.lat - dlat, shape.lat + dlat, shape.lon - dlon, shape.lon + dlon
    lats = [p[0] for p in shape.points]
    lons = [p[1] for p in shape.points]
    return min(lats), max(lats), min(lons), max(lons)


def inside(shape: Shape, lat: float, lon: float) -> bool:
    """The same test as `residents_inside`, in Python (for one point)."""
    if isinstance(shape, Circle):
        return metres_between((shape.lat, shape.lon), (lat, lon)) <= shape.radius_m
    polygon = ShapelyPolygon([(p[1], p[0]) for p in shape.points])
    return bool(polygon.covers(Point(lon, lat)))


def residents_inside(
    shape: Shape, *, lat: str = "wgs84_latitude", lon: str = "wgs84_longitude"
) -> tuple[Q, dict[str, Any]]:
    """A condition on a resident queryset (and the aliases it needs) selecting homes inside
    the shape: a bounding-box range first (cheap), then the exact test in SQL."""
    min_lat, max_lat, min_lon, max_lon = bounds(shape)
    in_box = Q(**{f"{lat}__gte": min_lat, f"{lat}__lte": max_lat}) & Q(
        **{f"{lon}__gte": min_lon, f"{lon}__lte": max_lon}
    )
    if isinstance(shape, Circle):
        kx = METRES_PER_DEGREE_LON_AT_EQUATOR * math.cos(math.radians(shape.lat))
        dx = (F(lon) - Value(shape.lon)) * Value(kx)
        dy = (F(lat) - Value(shape.lat)) * Value(METRES_PER_DEGREE_LAT)
        distance2 = ExpressionWrapper(dx * dx + dy * dy, output_field=FloatField())
        name = "_circle_d2"
        return in_box & Q(**{f"{name}__lte": shape.radius_m**2}), {name: distance2}
    # Ray casting: a home is inside when a ray from it eastwards crosses an odd number of
    # edges. Horizontal edges never count, so they are left out.
    crossings = []
    points = shape.points
    for (lat_i, lon_i), (lat_j, lon_j) in zip(points, points[1:], strict=False):
        if lat_i == lat_j:
            continue
        slope = (lon_j - lon_i) / (lat_j - lat_i)
        edge_lon = ExpressionWrapper(
            (F(lat) - Value(lat_i)) * Value(slope) + Value(lon_i), output_field=FloatField()
        )
        straddles = Q(**{f"{lat}__gt": lat_i}) ^ Q(**{f"{lat}__gt": lat_j})
        crossings.append(
            Case(
                When(straddles & Q(**{f"{lon}__lt": edge_lon}), then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            )
        )
    total: Any = crossings[0]
    for term in crossings[1:]:
        total = total + term
    name = "_polygon_crossings"
    parity = Mod(ExpressionWrapper(total, output_field=IntegerField()), Value(2))
    return in_box & Q(**{name: 1}), {name: parity}
