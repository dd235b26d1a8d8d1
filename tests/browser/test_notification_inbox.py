"""The notification inbox: a notification sent through the service shows up unread and can be
marked read without JavaScript."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.urls import reverse

from tests.browser.support import check_page, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from civichub.core.models import User

pytestmark = pytest.mark.browser


def test_sent_notification_appears_unread_and_can_be_marked_read(
    page: Page, community_worker: User
) -> None:
    from civichub.notify.selectors import unread_count
    from civichub.notify.services import notification_send

    notification_send(
        recipients=[community_worker],
        kind="notify.test",
        context={"sender": "运维值班员", "message": "请确认本周入户走访安排。"},
    )
    sign_in(page, "wangfang")

    page.goto(reverse("notify:inbox"))

    item = page.locator("ol.notifications > li")
    assert item.count() == 1
    assert "测试通知" in item.locator("h2").inner_text()
    assert "请确认本周入户走访安排。" in item.inner_text()
    assert "unread" in (item.get_attribute("class") or "")
    check_page(page, "notification-inbox")

    with page.expect_navigation():
        item.get_by_role("button", name="标为已读").click()

    assert page.url.endswith(reverse("notify:inbox"))
    item = page.locator("ol.notifications > li")
    assert "unread" not in (item.get_attribute("class") or "")
    assert item.get_by_role("button").count() == 0
    assert unread_count(user=community_worker) == 0
    check_page(page, "notification-inbox-read")
