"""A resident lets a Mastodon app use their account on a phone: the app's authorization URL
(Mastodon.py's `auth_request_url`) leads through sign-in to the consent page, which names the app
and what it may do; approving shows a code that the app exchanges for a token (`log_in(code=)`);
on the page of authorised apps the resident withdraws the app's access again. axe finds no
serious or critical problem on the pages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.support import BROWSER_LOCALE, PASSWORD, PHONE, check_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.either_database]


@pytest.fixture
def phone_page(chromium: Browser, live_server: Any) -> Iterator[Page]:
    context = chromium.new_context(base_url=live_server.url, viewport=PHONE, locale=BROWSER_LOCALE)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def test_a_resident_authorises_a_mastodon_app_on_a_phone(
    phone_page: Page, live_server: Any, city: Any, make_user: Any
) -> None:
    from mastodon import Mastodon
    from mastodon.errors import MastodonUnauthorizedError

    from civichub.core import services as core_services

    resident = core_services.resident_create(
        actor=None, name="张三", community=city.community_a1, phone="13800000000"
    )
    make_user(None, None, username="zhangsan", password=PASSWORD, resident=resident)
    scopes = ["read", "write"]
    client_id, client_secret = Mastodon.create_app(
        "青山路况", api_base_url=live_server.url, scopes=scopes, website="https://app.example"
    )
    app = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=live_server.url)

    phone_page.goto(app.auth_request_url(scopes=scopes, allow_http=True))
    assert "/accounts/login/" in phone_page.url
    phone_page.locator("#id_username").fill("zhangsan")
    phone_page.locator("#id_password").fill(PASSWORD)
    with phone_page.expect_navigation():
        phone_page.locator("main button[type=submit]").click()

    assert "/oauth/authorize" in phone_page.url
    main = phone_page.locator("main")
    assert "青山路况" in main.locator("h1").inner_text()
    assert "以您的名义发布、转发、点赞和关注" in main.inner_text()
    check_page(phone_page, "mastodon-consent-phone")

    with phone_page.expect_navigation():
        phone_page.get_by_role("button", name="授权", exact=True).click()
    code = phone_page.get_by_label("授权码").input_value()
    check_page(phone_page, "mastodon-code-phone")

    app.log_in(code=code, scopes=scopes, allow_http=True)
    assert app.account_verify_credentials().username == "zhangsan"

    # The resident changes their mind: the app's access is withdrawn on the apps page.
    phone_page.goto("/oauth/authorized_applications")
    card = phone_page.get_by_role("region", name="青山路况")
    assert "(write)" in card.inner_text()
    check_page(phone_page, "mastodon-authorized-apps-phone")
    with phone_page.expect_navigation():
        card.get_by_role("button", name="撤销授权").click()
    assert phone_page.get_by_role("region", name="青山路况").count() == 0
    assert phone_page.get_by_role("status").inner_text().strip() == "已撤销该应用的授权。"
    with pytest.raises(MastodonUnauthorizedError):
        app.account_verify_credentials()
