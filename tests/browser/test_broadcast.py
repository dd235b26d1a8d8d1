"""A publisher posts an emergency alert for one district; a resident of that district sees it
in their home feed and notification inbox (on a phone-sized screen); a resident of another
district gets no push; axe finds no serious or critical problem on the pages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from django.urls import reverse

from tests.browser.support import BROWSER_LOCALE, PHONE, check_page, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser


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
