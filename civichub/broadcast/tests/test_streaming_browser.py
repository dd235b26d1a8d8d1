"""The live feed in Chromium, served by uvicorn: a resident reading the home feed is told in a
polite live region that a new post has arrived, and it appears only when they press the
button; an edit replaces the post in place; axe finds no serious or critical problem."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from civichub.broadcast import services, streaming
from civichub.broadcast.tests.conftest import Broadcast
from civichub.broadcast.tests.test_streaming import _until_subscribed, asgi_server, publish
from tests.browser.support import BROWSER_LOCALE, DESKTOP, check_page, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.either_database,
    pytest.mark.django_db(transaction=True),
]
__all__ = ["asgi_server"]  # fixture used here


@pytest.fixture
def reader_page(chromium: Browser, asgi_server: str) -> Iterator[Page]:
    context = chromium.new_context(base_url=asgi_server, viewport=DESKTOP, locale=BROWSER_LOCALE)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def test_a_new_post_is_announced_and_shown_when_the_reader_asks(
    reader_page: Page, bc: Broadcast, asgi_server: Any
) -> None:
    page = reader_page
    services.follow_create(actor=bc.resident_a, account_id=bc.police.pk)
    older = publish(bc, "早间路况：一切正常")
    sign_in(page, bc.resident_a.username)
    page.goto("/broadcast/")
    articles = page.locator("article.broadcast-post")
    assert articles.count() == 1
    status = page.locator("#live-feed [role=status]")
    button = page.locator("#live-feed button")
    assert status.get_attribute("aria-live") == "polite"
    assert button.is_hidden()

    _until_subscribed(bc, streaming.user_channel(bc.resident_a.pk))
    articles.first.locator("a").first.focus()
    focused = page.evaluate("document.activeElement.outerHTML")
    fresh = publish(bc, "青山隧道临时封闭")
    status.filter(has_text="有 1 条新动态").wait_for()
    assert button.is_visible()
    # Nothing moved under the reader, and their focus stayed where it was.
    assert articles.count() == 1
    assert page.evaluate("document.activeElement.outerHTML") == focused
    check_page(page, "broadcast live feed, a new post waiting")

    button.click()
    assert articles.count() == 2
    assert "青山隧道临时封闭" in articles.first.inner_text()
    assert "早间路况" in articles.nth(1).inner_text()
    assert page.evaluate("document.activeElement.getAttribute('aria-labelledby')") == (
        f"post-{fresh.pk}-h"
    )
    assert button.is_hidden() and status.inner_text() == ""

    services.post_edit(actor=bc.police_publisher, post_id=older.pk, text="早间路况：东湖路拥堵")
    page.locator(f"#post-{older.pk}-h").locator("xpath=..").filter(has_text="东湖路拥堵").wait_for()
    assert articles.count() == 2
    check_page(page, "broadcast live feed, new post shown")


def test_without_javascript_the_feed_is_the_page_as_loaded(
    chromium: Browser, asgi_server: str, bc: Broadcast
) -> None:
    context = chromium.new_context(
        base_url=asgi_server, viewport=DESKTOP, locale=BROWSER_LOCALE, java_script_enabled=False
    )
    page = context.new_page()
    try:
        services.follow_create(actor=bc.resident_a, account_id=bc.police.pk)
        publish(bc, "早间路况")
        sign_in(page, bc.resident_a.username)
        page.goto("/broadcast/")
        assert page.locator("#live-feed button").count() == 0, "no button that cannot work"
        publish(bc, "新的路况")
        time.sleep(0.5)
        page.reload()
        assert page.locator("article.broadcast-post").count() == 2
    finally:
        context.close()
