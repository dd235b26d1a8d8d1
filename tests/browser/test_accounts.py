"""Signing in and out, and choosing the language, in a real browser."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.utils import translation

from tests.browser.support import REPO_ROOT, check_page, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from civichub.core.models import User

pytestmark = [pytest.mark.browser, pytest.mark.either_database]

ENGLISH_CATALOGUE = REPO_ROOT / "civichub" / "locale" / "en" / "LC_MESSAGES" / "django.mo"


def _in(language: str, message: str) -> str:
    with translation.override(language):
        return translation.gettext(message)


def test_login_page_is_accessible(page: Page) -> None:
    page.goto("/accounts/login/")

    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    assert page.get_by_label(_in("zh-hans", "用户名")).is_visible()
    check_page(page, "login")


def test_correct_password_opens_the_dashboard(page: Page, community_worker: User) -> None:
    sign_in(page, "wangfang")

    assert page.url.endswith("/dashboard/")
    assert page.locator("h1").inner_text() == "工作台"
    assert page.locator(".account").get_by_text("王芳").is_visible()


def test_wrong_password_shows_an_error_and_signs_nobody_in(
    page: Page, community_worker: User
) -> None:
    sign_in(page, "wangfang", "not the password")

    assert page.url.endswith("/accounts/login/")
    alert = page.get_by_role("alert")
    assert alert.is_visible()
    assert "用户名" in alert.inner_text()
    assert page.locator("#id_password").input_value() == ""
    check_page(page, "login-wrong-password")
    page.goto("/dashboard/")
    assert "/accounts/login/" in page.url


def test_logout_works_with_the_keyboard_only(page: Page, community_worker: User) -> None:
    sign_in(page, "wangfang")
    logout_label = "退出登录"

    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == logout_label:
            break
    else:
        pytest.fail("the logout button was never reached with Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    assert page.url.endswith("/accounts/login/")
    page.goto("/dashboard/")
    assert "/accounts/login/" in page.url


def test_choosing_english_switches_the_page_language(page: Page, community_worker: User) -> None:
    sign_in(page, "wangfang")
    page.goto("/accounts/password/")
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    # Django's own form label, translated by Django's catalogue.
    assert page.get_by_label(_in("zh-hans", "Old password")).is_visible()

    page.get_by_label("语言").select_option("en")
    with page.expect_navigation():
        page.get_by_role("button", name="切换").click()

    assert page.url.endswith("/accounts/password/")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_label("Old password").is_visible()
    if Path(ENGLISH_CATALOGUE).exists():
        heading = _in("en", "修改密码")
        assert heading != "修改密码", "the English catalogue lacks the password page's heading"
        assert page.locator("h1").inner_text() == heading
    check_page(page, "password-change-english")
