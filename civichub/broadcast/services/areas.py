"""Where an alert goes: drawn areas (circles and polygons) and the areas residents subscribe to."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.broadcast import geometry
from civichub.broadcast.models import (
    AreaSubscription,
    DrawnArea,
    DrawnAreaKind,
    Post,
)
from civichub.broadcast.services.checks import (
    AlertFields,
    alert_checked,
    signed_in,
    target_areas,
)
from civichub.core.audit import audit_record
from civichub.core.errors import ValidationFailed
from civichub.core.models import Organisation, User

DRAWN_AREAS_MAX = 5


@dataclass(frozen=True)
class DrawnAreaIn:
    """A circle (`lat`, `lon`, `radius_m`) or polygon (`points`, a closed ring of [lat, lon])
    as entered, in `crs` (the deployment's default system when empty)."""

    kind: str
    lat: float | None = None
    lon: float | None = None
    radius_m: float | None = None
    points: Sequence[Sequence[float]] = ()
    crs: str = ""


def drawn_checked(drawn: Sequence[DrawnAreaIn]) -> list[tuple[DrawnAreaIn, geometry.Shape]]:
    if len(drawn) > DRAWN_AREAS_MAX:
        raise ValidationFailed.on(
            "drawn_areas", _("最多画 %(n)d 个区域。") % {"n": DRAWN_AREAS_MAX}
        )
    checked: list[tuple[DrawnAreaIn, geometry.Shape]] = []
    for n, area in enumerate(drawn):
        field = f"drawn_areas.{n}"
        shape: geometry.Shape
        if area.kind == DrawnAreaKind.CIRCLE:
            shape = geometry.circle_checked(
                lat=area.lat, lon=area.lon, radius_m=area.radius_m, crs=area.crs, field=field
            )
        elif area.kind == DrawnAreaKind.POLYGON:
            shape = geometry.polygon_checked(points=area.points, crs=area.crs, field=field)
        else:
            raise ValidationFailed.on(f"{field}.kind", _("区域类型须是 circle 或 polygon。"))
        checked.append((area, shape))
    return checked


def drawn_store(post: Post, checked: list[tuple[DrawnAreaIn, geometry.Shape]]) -> None:
    rows = []
    for area, shape in checked:
        min_lat, max_lat, min_lon, max_lon = geometry.bounds(shape)
        if isinstance(shape, geometry.Circle):
            given: dict[str, Any] = {"lat": area.lat, "lon": area.lon, "radius_m": area.radius_m}
            stored: dict[str, Any] = {"lat": shape.lat, "lon": shape.lon}
        else:
            given = {"points": [list(p) for p in area.points]}
            stored = {"points": [list(p) for p in shape.points]}
        rows.append(
            DrawnArea(
                post=post,
                kind=area.kind,
                crs=area.crs or str(geometry.default_crs()),
                given=given,
                shape=stored,
                radius_m=shape.radius_m if isinstance(shape, geometry.Circle) else None,
                min_lat=min_lat,
                max_lat=max_lat,
                min_lon=min_lon,
                max_lon=max_lon,
            )
        )
    DrawnArea.objects.bulk_create(rows)


def alert_preview_checked(
    *,
    alert: AlertFields,
    target_area_ids: Iterable[int] = (),
    drawn_areas: Sequence[DrawnAreaIn] = (),
) -> tuple[list[Organisation], list[geometry.Shape]]:
    """The checks `post_publish` makes on an alert's areas and CAP fields, for a preview that
    saves nothing: the areas and WGS-84 shapes, or ValidationFailed naming the field."""
    areas = target_areas(target_area_ids)
    shapes = drawn_checked(drawn_areas)
    if not areas and not shapes:
        raise ValidationFailed.on("target_areas", _("预警须选择发布区域。"))
    alert_checked(alert, timezone.now())
    return areas, [shape for _area, shape in shapes]


AREA_SUBSCRIPTIONS_MAX = 20


@transaction.atomic
def area_subscribe(*, actor: User | None, area_id: int) -> AreaSubscription:
    """A resident asks for the alerts of an area (where their parents live, where they work).
    Subscribing twice keeps the first subscription."""
    user = signed_in(actor)
    area = Organisation.objects.filter(pk=area_id).first()
    if area is None or not area.is_area:
        raise ValidationFailed.on("area_id", _("未知的区域：%(id)s。") % {"id": area_id})
    existing = AreaSubscription.objects.filter(user=user, area=area).first()
    if existing is not None:
        return existing
    if AreaSubscription.objects.filter(user=user).count() >= AREA_SUBSCRIPTIONS_MAX:
        raise ValidationFailed.on(
            "area_id",
            _("最多订阅 %(n)d 个区域，请先取消一些。") % {"n": AREA_SUBSCRIPTIONS_MAX},
        )
    subscription = AreaSubscription.objects.create(user=user, area=area)
    audit_record(
        actor=user,
        action="broadcast.area.subscribe",
        obj=subscription,
        organisation=area,
        changes={"area": area.pk},
    )
    return subscription


@transaction.atomic
def area_unsubscribe(*, actor: User | None, area_id: int) -> bool:
    user = signed_in(actor)
    deleted, _rows = AreaSubscription.objects.filter(user=user, area_id=area_id).delete()
    if deleted:
        audit_record(
            actor=user,
            action="broadcast.area.unsubscribe",
            object_type="broadcast.areasubscription",
            object_id=f"{user.pk}:{area_id}",
            changes={"area": area_id},
        )
    return bool(deleted)
