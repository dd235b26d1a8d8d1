"""Maps in casework, in a real browser and with no internet: a resident drops a pin (and drags
it) and the message reaches the community the pin is in; without JavaScript the form shows no
map and no coordinate boxes and the address places the message; staff see the place on the
message page and on the inbox map; the board shows the community, not the pin. Every page is
checked with axe, at phone width too, and nothing is fetched from outside the platform."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.support import (
    A1,
    A2,
    FOUR_WAYS,
    PHONE,
    Offline,
    check_page,
    choose_language,
    fits_width,
    map_ready,
    screen_point,
    shows_no_code,
    sign_in,
    words,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext


pytestmark = [pytest.mark.browser, pytest.mark.either_database]


def test_resident_drops_a_pin_and_the_message_reaches_that_community(
    offline: tuple[BrowserContext, Offline], mapped_city: Any
) -> None:
    from civichub.casework.models import Case

    context, guard = offline
    page = guard.watch(context.new_page())
    sign_in(page, "lixiuying")
    page.goto("/messages/new/")
    map_ready(page, "#place-map")
    # People never see coordinate boxes: the pin fills hidden fields.
    assert page.locator("input[type=number]").count() == 0
    assert page.get_by_role("group", name="在地图上标出地点（可选）").is_visible()
    check_page(page, "casework-map-submit")

    page.get_by_label("留言类型").select_option("complaint")
    page.get_by_label("留言内容").fill("路灯坏了，晚上很黑。")
    # A click drops the pin in A2; dragging it moves it into A1.
    x, y = screen_point(page, "#place-map", *A2)
    page.mouse.click(x, y)
    assert "已标出地点" in page.locator("#place-status").inner_text()
    marker = page.locator("#place-map .leaflet-marker-icon")
    assert marker.count() == 1
    box = marker.bounding_box()
    assert box is not None
    tip = (box["x"] + box["width"] / 2, box["y"] + box["height"] - 2)
    to = screen_point(page, "#place-map", *A1)
    page.mouse.move(*tip)
    page.mouse.down()
    page.mouse.move((tip[0] + to[0]) / 2, (tip[1] + to[1]) / 2, steps=5)
    page.mouse.move(to[0], to[1] - 2, steps=5)
    page.mouse.up()
    lat = float(page.locator("#id_latitude").input_value())
    lng = float(page.locator("#id_longitude").input_value())
    assert abs(lat - A1[0]) < 0.002 and abs(lng - A1[1]) < 0.002, (lat, lng)
    assert page.locator("#id_crs").input_value() == "wgs84"
    with page.expect_navigation():
        page.get_by_role("button", name="提交留言").click()

    case = Case.objects.get()
    assert case.community == mapped_city.community_a1
    assert case.crs == "wgs84" and case.latitude == pytest.approx(lat)

    # Staff see the place on the message page and on the inbox's map, which leads back to it.
    worker = guard.watch(context.new_page())
    context.clear_cookies()
    sign_in(worker, "wangfang")
    worker.goto(f"/messages/{case.tracking_number}/")
    map_ready(worker, "#case-map")
    assert worker.locator("#case-map .leaflet-marker-icon").count() == 1
    check_page(worker, "casework-map-case-staff")
    worker.goto("/messages/inbox/?status=")
    worker.get_by_text("在地图上查看本页 1 件有地点的留言").click()
    map_ready(worker, "#inbox-map")
    check_page(worker, "casework-map-inbox")
    with worker.expect_navigation():
        worker.locator("#inbox-map .leaflet-marker-icon").click()
    assert worker.url.endswith(f"/messages/{case.tracking_number}/")

    assert guard.outside == [], f"pages reached outside the platform: {guard.outside}"
    assert guard.csp == [], f"the Content-Security-Policy refused something: {guard.csp}"


@FOUR_WAYS
def test_without_javascript_the_address_places_the_message(
    chromium: Browser, live_server: Any, mapped_city: Any, language: str, viewport: Any
) -> None:
    """Without JavaScript the form shows no map and no coordinate boxes, and the address places
    the message in its community; the pages fit the screen and show no internal code."""
    from civichub.casework.models import Case

    context = chromium.new_context(
        base_url=live_server.url, viewport=viewport, locale="zh-CN", java_script_enabled=False
    )
    context.set_default_timeout(15_000)
    context.set_default_navigation_timeout(60_000)
    page = context.new_page()
    try:
        sign_in(page, "lixiuying")
        choose_language(page, language)
        page.goto("/messages/new/")
        assert not page.locator("#place-picker").is_visible()
        assert page.locator("input[type=number]").count() == 0
        fits_width(page)
        shows_no_code(page)
        page.locator("#id_kind").select_option("help")
        page.locator("#id_text").fill("楼道灯不亮。")
        page.get_by_label(words(language, "地点（地址）")).fill("桃园路 12 号 3 单元")
        with page.expect_navigation():
            page.get_by_role("button", name=words(language, "提交留言")).click()
        case = Case.objects.get()
        assert case.latitude is None and case.community == mapped_city.community_a1
        assert case.tracking_number in page.locator("main").inner_text()
        fits_width(page)
        shows_no_code(page)
    finally:
        context.close()


def test_maps_fit_a_phone_in_english_and_the_board_shows_only_the_community(
    offline: tuple[BrowserContext, Offline], mapped_city: Any
) -> None:
    from civichub.casework import services
    from civichub.core.models import User

    resident = User.objects.get(username="lixiuying")
    services.category_create(
        actor=None, key="parks", name="公园绿地", department=mapped_city.health_a, keywords=[]
    )
    sent = services.case_submit(
        actor=resident,
        kind="complaint",
        text="公园的长椅坏了。",
        latitude=A2[0] + 0.001,
        longitude=A2[1],
        crs="wgs84",
        is_public=True,
        category_key="parks",
    )
    sent.case.refresh_from_db()
    assert sent.case.community == mapped_city.community_a2
    context, guard = offline
    page = guard.watch(context.new_page())
    page.set_viewport_size(PHONE)
    sign_in(page, "lixiuying")
    page.get_by_label("语言").select_option("en")
    with page.expect_navigation():
        page.get_by_role("button", name="切换").click()
    for url, selector, name in (
        ("/messages/new/", "#place-map", "casework-map-submit-phone-en"),
        (f"/messages/{sent.case.tracking_number}/", "#case-map", "casework-map-sender-phone-en"),
        ("/messages/board/", "#board-map", "casework-map-board-phone-en"),
    ):
        page.goto(url)
        map_ready(page, selector)
        assert page.locator("html").get_attribute("lang") == "en"
        widths = page.evaluate(
            "({scroll: document.documentElement.scrollWidth, view: window.innerWidth})"
        )
        assert widths["scroll"] <= widths["view"], f"{url} scrolls sideways: {widths}"
        check_page(page, name)
    # The board's one marker is the community's centre, not the sender's pin.
    assert page.locator("#board-map .leaflet-marker-icon").count() == 1
    points = json.loads(page.locator("#board-map-points").text_content() or "[]")
    assert [(p["lat"], p["lng"]) for p in points] == [A2]
    assert points[0]["label"].startswith("Xinghua Community")
    assert guard.outside == [] and guard.csp == []


@FOUR_WAYS
def test_a_pin_dropped_on_the_map_reaches_a_worker_who_finds_it_on_the_inbox_map(
    chromium: Browser, live_server: Any, mapped_city: Any, language: str, viewport: Any
) -> None:
    """The resident's journey and the worker's, on a phone and a desktop, in Chinese and English:
    a message placed by a tap on the map reaches the community the pin is in; the worker opens
    the inbox's map and follows the marker to the message. Every page fits the screen's width,
    passes axe and fetches nothing from outside the platform."""
    from civichub.casework.models import Case

    context = chromium.new_context(base_url=live_server.url, viewport=viewport, locale="zh-CN")
    context.set_default_timeout(15_000)
    context.set_default_navigation_timeout(60_000)
    guard = Offline(context, live_server.url)
    page = guard.watch(context.new_page())
    shot = f"casework-pin-{language}-{viewport['width']}"
    try:
        sign_in(page, "lixiuying")
        choose_language(page, language)
        page.goto("/messages/new/")
        map_ready(page, "#place-map")
        fits_width(page)
        shows_no_code(page)
        check_page(page, f"{shot}-form")
        page.locator("#id_kind").select_option("complaint")
        page.locator("#id_text").fill("路灯坏了，晚上很黑。")
        page.mouse.click(*screen_point(page, "#place-map", *A1))
        assert page.locator("#place-map .leaflet-marker-icon").count() == 1
        assert abs(float(page.locator("#id_latitude").input_value()) - A1[0]) < 0.002
        with page.expect_navigation():
            page.get_by_role("button", name=words(language, "提交留言")).click()
        case = Case.objects.get()
        assert case.community == mapped_city.community_a1 and case.crs == "wgs84"
        assert case.tracking_number in page.locator("main").inner_text()
        fits_width(page)
        shows_no_code(page)
        check_page(page, f"{shot}-sent")

        context.clear_cookies()
        sign_in(page, "wangfang")
        choose_language(page, language)
        page.goto("/messages/inbox/?status=")
        page.locator("#inbox-map-box summary").click()
        map_ready(page, "#inbox-map")
        fits_width(page)
        shows_no_code(page)
        check_page(page, f"{shot}-inbox-map")
        with page.expect_navigation():
            page.locator("#inbox-map .leaflet-marker-icon").click()
        assert page.url.endswith(f"/messages/{case.tracking_number}/")
        map_ready(page, "#case-map")
        fits_width(page)
        shows_no_code(page)
        check_page(page, f"{shot}-case")
    finally:
        context.close()
    assert guard.outside == [], f"pages reached outside the platform: {guard.outside}"
    assert guard.csp == [], f"the Content-Security-Policy refused something: {guard.csp}"
