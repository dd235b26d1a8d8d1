"""The staff dashboard: tiles by role, phone width, and keyboard use."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.browser.support import (
    DOCS_SCREENSHOT,
    PHONE,
    RESIDENTS,
    check_page,
    screenshot,
    sign_in,
    update_docs_screenshot,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from civichub.core.models import User

pytestmark = [pytest.mark.browser, pytest.mark.either_database]


def _tiles(page: Page) -> dict[str, str]:
    """The dashboard's tiles as {label: figure}."""
    tiles = {}
    for tile in page.locator("li.tile a").all():
        text = (tile.text_content() or "").strip()
        figure = (tile.locator(".value").text_content() or "").strip()
        tiles[text.removeprefix(figure).strip()] = figure
    return tiles


def test_community_worker_sees_residents_and_unread_notifications(
    page: Page, community_worker: User
) -> None:
    from civichub.notify.services import notification_send

    for message in ("本周五下午社区例会。", "请更新独居老人走访记录。"):
        notification_send(
            recipients=[community_worker],
            kind="notify.test",
            context={"sender": "街道办", "message": message},
        )
    sign_in(page, "wangfang")

    tiles = _tiles(page)
    assert tiles["辖区居民"] == str(len(RESIDENTS))
    assert tiles["未读通知"] == "2"
    assert "今日审计记录" not in tiles
    assert "社区工作者（桃源社区）" in page.locator("main").inner_text()
    check_page(page, "dashboard-community-worker")
    if update_docs_screenshot():
        page.screenshot(path=str(DOCS_SCREENSHOT))


def test_auditor_sees_the_audit_tile(page: Page, auditor: User) -> None:
    sign_in(page, "zhaomin")

    tiles = _tiles(page)
    assert int(tiles["今日审计记录"]) > 0, "setting up the city was audited today"
    assert "辖区居民" not in tiles
    check_page(page, "dashboard-auditor")

    with page.expect_navigation():
        page.locator("li.tile a", has_text="今日审计记录").click()
    assert page.url.endswith("/audit/")


def test_dashboard_fits_a_phone_screen(page: Page, community_worker: User) -> None:
    page.set_viewport_size(PHONE)
    sign_in(page, "wangfang")

    widths = page.evaluate(
        "({scroll: document.documentElement.scrollWidth, view: window.innerWidth})"
    )
    assert widths["scroll"] <= widths["view"], f"the page scrolls sideways: {widths}"
    assert page.get_by_role("button", name="退出登录").is_visible()
    check_page(page, "dashboard-phone")


def test_skip_link_is_the_first_tab_stop_and_moves_focus_to_main(
    page: Page, community_worker: User
) -> None:
    sign_in(page, "wangfang")

    page.keyboard.press("Tab")
    focused = page.locator(":focus")
    assert focused.get_attribute("class") == "skip-link"
    assert focused.get_attribute("href") == "#main"
    box = focused.bounding_box()
    assert box is not None and box["x"] >= 0, "the focused skip link should be on screen"
    screenshot(page, "skip-link-focused")

    page.keyboard.press("Enter")

    assert page.evaluate("document.activeElement.id") == "main"
