"""A publisher posts an emergency alert for one district; a resident of that district sees it
in their home feed and notification inbox (on a phone-sized screen); a resident of another
district gets no push; axe finds no serious or critical problem on the pages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from django.urls import reverse

from tests.browser.support import (
    BROWSER_LOCALE,
    FOUR_WAYS,
    PHONE,
    PHONE_390,
    check_page,
    choose_language,
    fits_width,
    map_ready,
    screen_point,
    shows_no_code,
    sign_in,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.either_database]


@pytest.fixture(autouse=True)
def _immediate_tasks(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture
def people(city: Any, make_user: Any) -> dict[str, Any]:
    from civichub.broadcast import services
    from civichub.broadcast.permissions import PUBLISHER
    from civichub.core import services as core_services

    police = services.account_create(
        actor=None,
        organisation=city.police_city,
        handle="safe-qingshan",
        name="平安青山",
        description="青山市公安局官方发布",
        verified=True,
    )
    people: dict[str, Any] = {
        "publisher": make_user(PUBLISHER, city.police_city, username="fabu"),
        "police": police,
    }
    for key, community, name in (
        ("east", city.community_a1, "张三"),
        ("west", city.community_b1, "王五"),
    ):
        resident = core_services.resident_create(
            actor=None, name=name, community=community, phone="13800000000"
        )
        people[key] = make_user(None, None, username=f"resident-{key}", resident=resident)
        services.follow_create(actor=people[key], account_id=police.pk)
    return people


@pytest.fixture
def phone_page(chromium: Browser, live_server: Any) -> Iterator[Page]:
    context = chromium.new_context(base_url=live_server.url, viewport=PHONE, locale=BROWSER_LOCALE)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def test_alert_for_one_district_reaches_its_residents_only(
    page: Page, phone_page: Page, people: dict[str, Any], city: Any
) -> None:
    from civichub.notify.models import Notification

    sign_in(page, "fabu")
    page.goto(reverse("broadcast:compose_alert", args=["safe-qingshan"]))
    check_page(page, "broadcast-alert-compose")
    page.get_by_label("内容（中文）").fill("东湖区今夜特大暴雨，请勿外出。")
    page.get_by_label("类别", exact=True).select_option("weather")
    page.get_by_label("东湖区", exact=True).check()
    page.get_by_label("事件", exact=True).fill("暴雨红色预警")
    # Nothing is preselected: the publisher chooses each level, in words.
    for label in ("预警类别", "紧急程度（居民应何时行动）", "严重程度", "确定程度（是否已经发生）"):
        assert page.get_by_label(label).input_value() == ""
    page.get_by_label("预警类别").select_option("Met")
    page.get_by_label("紧急程度（居民应何时行动）").select_option(label="立即行动")
    page.get_by_label("严重程度").select_option(label="特别严重：严重威胁生命或财产")
    page.get_by_label("确定程度（是否已经发生）").select_option(label="很可能发生（可能性过半）")
    page.get_by_label("失效时间").fill("2099-01-01T08:00")
    page.get_by_label("避险指引", exact=True).fill("远离低洼地带。")
    with page.expect_navigation():
        page.get_by_role("button", name="预览", exact=True).click()
    preview = page.locator("#preview")
    assert "特别严重 · 立即行动 · 很可能发生" in preview.locator(".alert-card").inner_text()
    document = preview.locator("pre.cap-document").inner_text()
    assert "urn:oasis:names:tc:emergency:cap:1.2" in document
    assert "\n  <info>" in document  # indented for people to read
    # The CAP document scrolls in its box; the page itself keeps its width.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    with page.expect_navigation():
        page.get_by_role("button", name="发布", exact=True).click()
    assert "/broadcast/posts/" in page.url
    assert "送达情况" in page.locator("main").inner_text()
    check_page(page, "broadcast-alert-post")

    sign_in(phone_page, "resident-east")
    phone_page.goto(reverse("broadcast:home"))
    feed = phone_page.locator("main").inner_text()
    assert "东湖区今夜特大暴雨，请勿外出。" in feed and "预警" in feed
    assert "特别严重 · 立即行动 · 很可能发生" in feed and "Extreme" not in feed
    check_page(phone_page, "broadcast-home-phone")
    phone_page.goto(reverse("notify:inbox"))
    assert "暴雨红色预警" in phone_page.locator("main").inner_text()
    check_page(phone_page, "broadcast-alert-inbox-phone")

    assert Notification.objects.filter(recipient=people["east"]).count() == 1
    assert not Notification.objects.filter(recipient=people["west"]).exists()


def test_publisher_clicks_the_map_to_centre_a_circle_and_staff_pages_pass_axe(
    page: Page, people: dict[str, Any], city: Any, make_user: Any
) -> None:
    """With scripts on, a click on the compose page's map fills the circle's centre; the post
    then targets the drawn circle. The moderation and reach pages pass axe too."""
    from django.core.cache import cache

    from civichub.broadcast.models import DrawnArea, Post
    from civichub.core import services as core_services

    cache.clear()
    for n, (community, lat, lon) in enumerate(
        [
            (city.community_a1, 30.25, 120.15),
            (city.community_a2, 30.27, 120.18),
            (city.community_b1, 30.21, 120.10),
        ]
    ):
        resident = core_services.resident_create(
            actor=None,
            name=f"居民{n}",
            community=community,
            latitude=lat,
            longitude=lon,
            crs="wgs84",
        )
        make_user(None, None, resident=resident)
    sign_in(page, "fabu")
    page.goto(reverse("broadcast:compose", args=["safe-qingshan"]))
    check_page(page, "broadcast-compose-map")
    page.get_by_label("内容（中文）").fill("体育中心周边交通管制")
    area_map = page.locator("#area-map")
    box = area_map.bounding_box()
    assert box is not None
    # A polygon first: three clicks, three vertices in the form's own field, drawn on the map.
    page.get_by_label("画多边形").check()
    for x, y in [(0.35, 0.35), (0.65, 0.35), (0.5, 0.7)]:
        area_map.click(position={"x": box["width"] * x, "y": box["height"] * y})
    vertices = page.get_by_label("多边形顶点（每行一个“纬度, 经度”）").input_value().splitlines()
    assert len(vertices) == 3 and all(30.0 < float(v.split(",")[0]) < 30.5 for v in vertices)
    assert page.locator("#draw-status").inner_text() == "已加入第 3 个顶点。"
    assert page.locator("#area-map path.leaflet-interactive[stroke='#b00020']").count() == 1
    page.get_by_role("button", name="清除画出的区域").click()
    assert page.get_by_label("多边形顶点（每行一个“纬度, 经度”）").input_value() == ""
    assert page.locator("#area-map path.leaflet-interactive[stroke='#b00020']").count() == 0
    # Then a circle: one click centres it, the radius field sizes it.
    page.get_by_label("画圆").check()
    area_map.click()  # the middle of the map
    assert page.get_by_label("圆心纬度").input_value() != ""
    assert page.get_by_label("坐标系").input_value() == "wgs84"
    assert page.locator("#area-map path.leaflet-interactive[stroke='#b00020']").count() == 1
    page.get_by_label("半径（米）").fill("2000")
    with page.expect_navigation():
        page.get_by_role("button", name="发布", exact=True).click()
    area = DrawnArea.objects.get(post=Post.objects.get(text="体育中心周边交通管制"))
    assert 30.20 < area.shape["lat"] < 30.28 and area.radius_m == 2000

    page.goto(reverse("broadcast:moderation", args=["safe-qingshan"]))
    check_page(page, "broadcast-moderation")
    page.goto(reverse("broadcast:account_reach", args=["safe-qingshan"]))
    check_page(page, "broadcast-reach")


# Where the residents of the drawn-area journey live (WGS-84): one inside the circle the
# publisher draws around the first, one 6 km away.
INSIDE = (30.25, 120.15)
OUTSIDE = (30.21, 120.10)


@pytest.fixture
def located(people: dict[str, Any], city: Any, make_user: Any) -> dict[str, Any]:
    """Residents with homes on the map: the one the alert is for, and one it is not."""
    from civichub.broadcast import services
    from civichub.core import services as core_services

    for key, community, (lat, lon) in (
        ("inside", city.community_a1, INSIDE),
        ("outside", city.community_b1, OUTSIDE),
    ):
        resident = core_services.resident_create(
            actor=None,
            name=f"居民{key}",
            community=community,
            latitude=lat,
            longitude=lon,
            crs="wgs84",
        )
        people[key] = make_user(None, None, username=f"resident-{key}", resident=resident)
        services.follow_create(actor=people[key], account_id=people["police"].pk)
    return people


@FOUR_WAYS
def test_publisher_finds_compose_draws_a_circle_previews_and_a_resident_inside_sees_the_alert(
    chromium: Browser, live_server: Any, located: dict[str, Any], language: str, viewport: Any
) -> None:
    """From the landing page to an alert with ordinary levels for a circle drawn on the map, with
    a preview in the publisher's words; a resident inside the circle reads it, one outside is
    not told."""
    from django.utils import translation

    from civichub.broadcast.models import DrawnArea, Post
    from civichub.notify.models import Notification

    def words(text: str) -> str:
        with translation.override(language):
            return str(translation.gettext(text))

    context = chromium.new_context(base_url=live_server.url, viewport=viewport, locale="zh-CN")
    context.set_default_timeout(15_000)
    # The first page also waits for the server's first answer on a busy machine.
    context.set_default_navigation_timeout(60_000)
    page = context.new_page()
    shot = f"broadcast-drawn-alert-{language}-{viewport['width']}"
    sign_in(page, "fabu")
    choose_language(page, language)
    # The landing page leads to compose: "Publish", then the account's alert.
    page.goto("/")
    with page.expect_navigation():
        page.locator("main").get_by_role("link", name=words("发布"), exact=True).first.click()
    with page.expect_navigation():
        page.get_by_role("link", name=f"{words('发布预警')} (平安青山)").click()
    assert page.url.endswith(reverse("broadcast:compose_alert", args=["safe-qingshan"]))
    map_ready(page, "#area-map")
    fits_width(page)
    shows_no_code(page)
    check_page(page, f"{shot}-compose")

    # The content box is one people can write in: the column's width (up to 40 rem), six lines.
    box = page.locator("#text").bounding_box()
    assert box is not None and box["height"] >= 120, box
    assert box["width"] >= min(viewport["width"] - 80, 560), box
    page.locator("#text").fill("桃源社区今晚停水，请提前储水。")
    page.locator("#cap_event").fill("计划停水")
    page.locator("#cap_category").select_option("Infra")
    # Ordinary levels, each chosen by its words; nothing was chosen for the publisher.
    page.locator("#cap_urgency").select_option(label=words("一小时内行动"))
    page.locator("#cap_severity").select_option(label=words("较重：可能威胁生命或财产"))
    page.locator("#cap_certainty").select_option(label=words("很可能发生（可能性过半）"))
    page.locator("#cap_expires").fill("2099-01-01T08:00")
    page.locator("#cap_instruction").fill("请提前储水。")
    # A circle: a tap on the first resident's home centres it, the radius field sizes it.
    page.get_by_label(words("画圆")).check()
    page.mouse.click(*screen_point(page, "#area-map", *INSIDE))
    assert abs(float(page.locator("#circle_lat").input_value()) - INSIDE[0]) < 0.002
    assert abs(float(page.locator("#circle_lon").input_value()) - INSIDE[1]) < 0.002
    assert page.locator("#shape_crs").input_value() == "wgs84"
    page.locator("#circle_radius").fill("1500")

    with page.expect_navigation():
        page.get_by_role("button", name=words("预览"), exact=True).click()
    levels = " · ".join(words(w) for w in ("较重", "一小时内行动", "很可能发生"))
    preview = page.locator("#preview")
    assert levels in preview.locator(".alert-card").inner_text()
    assert "<cap:circle>" in preview.locator("pre.cap-document").inner_text() or (
        "<circle>" in preview.locator("pre.cap-document").inner_text()
    )
    # The circle drawn before the preview is still there to publish.
    assert page.locator("#circle_radius").input_value() == "1500"
    fits_width(page)
    shows_no_code(page)
    check_page(page, f"{shot}-preview")
    # Publishing sends the notifications before it answers (tasks run at once here).
    with page.expect_navigation():
        page.get_by_role("button", name=words("发布"), exact=True).click(timeout=60_000)
    assert "/broadcast/posts/" in page.url
    area = DrawnArea.objects.get(post=Post.objects.get(text="桃源社区今晚停水，请提前储水。"))
    assert area.radius_m == 1500 and abs(area.shape["lat"] - INSIDE[0]) < 0.002
    fits_width(page)
    shows_no_code(page)
    check_page(page, f"{shot}-published")

    # The resident inside reads it on their phone, in their language.
    context.clear_cookies()
    page.set_viewport_size(PHONE_390)
    sign_in(page, "resident-inside")
    choose_language(page, language)
    page.goto(reverse("broadcast:home"))
    feed = page.locator("main").inner_text()
    assert "桃源社区今晚停水，请提前储水。" in feed and levels in feed
    fits_width(page)
    shows_no_code(page)
    check_page(page, f"{shot}-resident-feed")
    page.goto(reverse("notify:inbox"))
    assert "计划停水" in page.locator("main").inner_text()
    check_page(page, f"{shot}-resident-inbox")
    context.close()

    assert Notification.objects.filter(recipient=located["inside"]).count() == 1
    assert not Notification.objects.filter(recipient=located["outside"]).exists()
