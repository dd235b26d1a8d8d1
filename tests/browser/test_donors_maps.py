"""The donors' maps in a real browser with no internet, at phone width (390 × 844) and on a
desktop: the board shows each request at its hospital and leads to it; a request's page shows
the hospital and, for its called and accepting donors, only the areas they are in (never a
name, an address or a donor's own place), each state by shape as well as colour. axe on every
page; nothing overflows the phone's width; nothing is fetched from outside the platform.
Without JavaScript the same page is the list alone, still complete."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.support import (
    A1,
    A2,
    PASSWORD,
    Offline,
    check_page,
    map_ready,
    screen_point,
    sign_in,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = [pytest.mark.browser, pytest.mark.either_database]

PHONE_390 = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
DONORS = (("赵磊", "13900000001", 0.004), ("钱芳", "13900000002", 0.03))


@pytest.fixture
def called_request(mapped_city: Any) -> dict[str, Any]:
    """A hospital in community A1 with a request for red cells; two donors called in its first
    wave, one of whom accepted."""
    from django.utils import timezone

    from civichub.donors import services
    from civichub.donors.models import CallUp
    from civichub.testing.city import hospital_create, staff_user

    hospital = hospital_create(mapped_city.district_a)
    today = timezone.localdate()
    donors = [
        services.donor_register(
            actor=None,
            registration=services.Registration(
                name=name,
                phone=phone,
                community=mapped_city.community_a1,
                details=services.DonorDetails(
                    sex="male",
                    birth_date=today.replace(year=today.year - 32) - dt.timedelta(days=30),
                    weight_kg=70,
                    abo="O",
                    rhd="pos",
                ),
                health_consent=True,
                location_consent=True,
                latitude=A1[0] + offset,
                longitude=A1[1] + offset,
                crs="wgs84",
                verified=True,
            ),
        )
        for name, phone, offset in DONORS
    ]
    staff = staff_user("hospital_staff", hospital, username="linyi", password=PASSWORD)
    request = services.blood_request_create(
        actor=staff,
        hospital=hospital,
        component="red_cells",
        units=2,
        patient_abo="O",
        patient_rhd="pos",
        anti_d=False,
        address="东湖区人民医院输血科，健康路 1 号",
        latitude=A1[0] + 0.002,
        longitude=A1[1] - 0.002,
        crs="wgs84",
    )
    services.call_up_wave(request_id=request.pk)
    calls = {c.donor_id: c for c in CallUp.objects.filter(request=request)}
    assert set(calls) == {d.pk for d in donors}
    services.call_up_respond(call_up=calls[donors[0].pk], accept=True)
    return {"staff": staff, "request": request, "donors": donors}


def _fits(page: Page) -> None:
    widths = page.evaluate(
        "({scroll: document.documentElement.scrollWidth, view: window.innerWidth})"
    )
    assert widths["scroll"] <= widths["view"], f"{page.url} scrolls sideways: {widths}"


@pytest.mark.parametrize("viewport", [PHONE_390, DESKTOP], ids=["phone", "desktop"])
def test_the_maps_show_the_hospital_and_only_the_areas_donors_are_in(
    offline: tuple[BrowserContext, Offline], called_request: dict[str, Any], viewport: Any
) -> None:
    context, guard = offline
    page = guard.watch(context.new_page())
    page.set_viewport_size(viewport)
    sign_in(page, called_request["staff"].username)
    shot = f"donors-map-{viewport['width']}"
    request = called_request["request"]

    # The board: the request at its hospital, leading to its page.
    page.goto("/donors/")
    map_ready(page, "#board-map")
    marker = page.locator("#board-map .map-shape")
    assert marker.count() == 1
    assert (marker.get_attribute("title") or "").startswith("东湖区人民医院（献血地点）")
    assert marker.locator("path.donors-hospital").count() == 1
    _fits(page)
    check_page(page, f"{shot}-board")
    with page.expect_navigation():
        marker.click()
    assert page.url.endswith(f"/donors/requests/{request.pk}/")

    # The request: the hospital, and each donor only as the area they are in.
    map_ready(page, "#request-map")
    markers = page.locator("#request-map .map-shape")
    cells = {d.search_cell for d in called_request["donors"]}
    assert markers.count() == 1 + len(cells)
    titles = [markers.nth(n).get_attribute("title") or "" for n in range(markers.count())]
    assert sum(t.startswith("东湖区人民医院（献血地点）") for t in titles) == 1
    areas = [t for t in titles if "不是住址" in t]
    assert len(areas) == len(cells)
    assert any("已接受 1" in t for t in areas) and any("已通知 1" in t for t in areas)
    for name, phone, _offset in DONORS:
        assert all(name not in t and phone not in t for t in titles)
    assert all("健康路" not in t for t in titles)
    assert page.locator("#request-map path.donors-state-accepted").count() == 1
    assert page.locator("#request-map path.donors-state-called").count() == 1
    # The list beside the map says the same in words.
    assert page.locator("#live table tbody tr").count() == len(called_request["donors"])
    _fits(page)
    check_page(page, f"{shot}-request")
    assert guard.outside == [], f"pages reached outside the platform: {guard.outside}"
    assert guard.csp == [], f"the Content-Security-Policy refused something: {guard.csp}"


def test_without_javascript_the_request_page_is_the_list(
    chromium: Browser, live_server: Any, called_request: dict[str, Any]
) -> None:
    context = chromium.new_context(
        base_url=live_server.url, viewport=PHONE_390, locale="zh-CN", java_script_enabled=False
    )
    context.set_default_timeout(10_000)
    context.set_default_navigation_timeout(30_000)
    try:
        page = context.new_page()
        sign_in(page, called_request["staff"].username)
        page.goto(f"/donors/requests/{called_request['request'].pk}/")
        assert page.locator("#request-map .leaflet-container, #request-map img").count() == 0
        rows = page.locator("#live table tbody tr")
        assert rows.count() == 2
        assert "已接受" in rows.nth(0).inner_text() or "已接受" in rows.nth(1).inner_text()
        assert page.get_by_role("button", name="已到达").count() == 1
    finally:
        context.close()


@pytest.fixture
def mapped_hospital(mapped_city: Any) -> Any:
    """A hospital in district A with its staff member, and no request yet."""
    from civichub.testing.city import hospital_create, staff_user

    hospital = hospital_create(mapped_city.district_a)
    return staff_user("hospital_staff", hospital, username="linyi", password=PASSWORD)


def _marker_near(page: Page, selector: str, lat: float, lng: float) -> None:
    """The pick map's one pin is drawn within a few pixels of (lat, lng)."""
    x, y = screen_point(page, selector, lat, lng)
    marker = page.locator(f"{selector} .leaflet-marker-icon")
    assert marker.count() == 1
    box = marker.bounding_box()
    assert box is not None
    tip = (box["x"] + box["width"] / 2, box["y"] + box["height"])
    assert abs(tip[0] - x) < 6 and abs(tip[1] - y) < 6, (tip, (x, y))


def test_the_hospital_and_the_donor_mark_their_place_with_a_pin(
    offline: tuple[BrowserContext, Offline], mapped_hospital: Any
) -> None:
    """The request form and the donor's sign-up take a pin instead of typed coordinates: a
    click fills the latitude and longitude boxes (and their system), the pin follows what is
    typed in them, and the request is placed where the pin was."""
    from civichub.donors.models import BloodRequest

    context, guard = offline
    page = guard.watch(context.new_page())
    sign_in(page, mapped_hospital.username)
    page.goto("/donors/")
    map_ready(page, "#place-map")
    assert page.locator("#place-picker").is_visible()
    check_page(page, "donors-map-pick-board")
    # Typed coordinates move the pin there.
    page.get_by_label("坐标系").select_option("wgs84")
    page.get_by_label("纬度").fill(str(A1[0] + 0.003))
    page.get_by_label("经度").fill(str(A1[1] + 0.003))
    page.get_by_label("经度").dispatch_event("change")
    _marker_near(page, "#place-map", A1[0] + 0.003, A1[1] + 0.003)
    # A click puts the pin at the hospital and fills the boxes.
    page.get_by_label("坐标系").select_option("gcj02")
    page.mouse.click(*screen_point(page, "#place-map", *A1))
    assert "已标出地点" in page.locator("#place-status").inner_text()
    lat = float(page.get_by_label("纬度").input_value())
    lng = float(page.get_by_label("经度").input_value())
    assert abs(lat - A1[0]) < 0.002 and abs(lng - A1[1]) < 0.002, (lat, lng)
    assert page.get_by_label("坐标系").input_value() == "wgs84"
    page.get_by_label("血液成分").select_option("red_cells")
    page.get_by_label("患者 ABO 血型").select_option("O")
    page.get_by_label("患者 RhD").select_option("pos")
    page.get_by_label("献血地点（接受召集后才告知献血者）").fill("东湖区人民医院输血科")
    with page.expect_navigation():
        page.get_by_role("button", name="发起召集").click()
    request = BloodRequest.objects.get()
    assert request.latitude == pytest.approx(lat) and request.longitude == pytest.approx(lng)

    # The donor's sign-up: the pin fills the boxes of the rough place, in the map's system.
    context.clear_cookies()
    sign_in(page, "lixiuying")
    page.goto("/donors/me/register/")
    map_ready(page, "#place-map")
    check_page(page, "donors-map-pick-register")
    page.mouse.click(*screen_point(page, "#place-map", *A2))
    lat = float(page.locator("#latitude").input_value())
    lng = float(page.locator("#longitude").input_value())
    assert abs(lat - A2[0]) < 0.002 and abs(lng - A2[1]) < 0.002, (lat, lng)
    assert page.locator("#crs").input_value() == "wgs84"
    _fits(page)
    assert guard.outside == [], f"pages reached outside the platform: {guard.outside}"
    assert guard.csp == [], f"the Content-Security-Policy refused something: {guard.csp}"


def test_without_javascript_the_coordinates_are_typed(
    chromium: Browser, live_server: Any, mapped_hospital: Any
) -> None:
    """Without JavaScript no map shows and the request is placed by the typed boxes."""
    from civichub.donors.models import BloodRequest

    context = chromium.new_context(
        base_url=live_server.url, viewport=PHONE_390, locale="zh-CN", java_script_enabled=False
    )
    context.set_default_timeout(10_000)
    context.set_default_navigation_timeout(30_000)
    try:
        page = context.new_page()
        sign_in(page, mapped_hospital.username)
        page.goto("/donors/")
        assert not page.locator("#place-picker").is_visible()
        page.get_by_label("血液成分").select_option("red_cells")
        page.get_by_label("患者 ABO 血型").select_option("O")
        page.get_by_label("患者 RhD").select_option("pos")
        page.get_by_label("献血地点（接受召集后才告知献血者）").fill("东湖区人民医院输血科")
        page.get_by_label("纬度").fill(str(A1[0]))
        page.get_by_label("经度").fill(str(A1[1]))
        page.get_by_label("坐标系").select_option("wgs84")
        with page.expect_navigation():
            page.get_by_role("button", name="发起召集").click()
        request = BloodRequest.objects.get()
        assert (request.latitude, request.longitude) == pytest.approx(A1)
        page.goto("/donors/me/register/")
        assert not page.locator("#place-picker").is_visible()
        assert page.get_by_label("纬度").is_visible()
    finally:
        context.close()
