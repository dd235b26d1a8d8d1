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

pytestmark = [pytest.mark.browser, pytest.mark.either_database]


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

    headings = page.get_by_role("heading", level=2)
    assert headings.count() == 1
    assert "测试通知" in headings.inner_text()
    assert "未读" in headings.inner_text()
    card = page.locator(".card", has=headings)
    assert "请确认本周入户走访安排。" in card.inner_text()
    check_page(page, "notification-inbox")

    with page.expect_navigation():
        card.get_by_role("button", name="标为已读").click()

    assert page.url.endswith(reverse("notify:inbox"))
    assert "未读" not in headings.inner_text()
    assert "已读" in card.inner_text()
    assert card.get_by_role("button").count() == 0
    assert unread_count(user=community_worker) == 0
    check_page(page, "notification-inbox-read")
