"""Helpers for the browser tests: sign in, scan a page with axe and keep a screenshot of it for
people to look at.

Screenshots go to test-artifacts/ (not committed). With CIVICHUB_UPDATE_DOCS_SCREENSHOT=1 the
dashboard test also rewrites docs/screenshot.png, the picture the README shows.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, ViewportSize

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
DOCS_SCREENSHOT = REPO_ROOT / "docs" / "screenshot.png"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 375, "height": 740}
# The journeys people take are each run four ways: a phone and a desktop, Chinese and English.
PHONE_390: ViewportSize = {"width": 390, "height": 844}
DESKTOP_1366: ViewportSize = {"width": 1366, "height": 900}
FOUR_WAYS = pytest.mark.parametrize(
    ("language", "viewport"),
    [("zh-hans", PHONE_390), ("en", PHONE_390), ("zh-hans", DESKTOP_1366), ("en", DESKTOP_1366)],
    ids=["phone-zh", "phone-en", "desktop-zh", "desktop-en"],
)
PASSWORD = "correct horse battery 9"
# (name, English name, address) of the residents in the community worker's care.
RESIDENTS = [
    ("李秀英", "Li Xiuying", "桃园路 12 号 3 单元 402"),
    ("张伟", "Zhang Wei", "桃园路 14 号 1 单元 101"),
    ("陈桂兰", "Chen Guilan", "杏林街 7 号 2 单元 301"),
]
# Chromium sends its own locale as Accept-Language; the platform's default language is Chinese.
BROWSER_LOCALE = "zh-CN"
BLOCKING_IMPACTS = frozenset({"serious", "critical"})
# An unstyled page would pass or fail the contrast checks for the wrong reasons.
UNLOADED_STYLESHEETS = """Array.from(document.querySelectorAll('link[rel=stylesheet]'))
    .filter((link) => link.sheet === null || link.sheet.cssRules.length === 0)
    .map((link) => link.href)"""
DANGLING_ARIA_REFERENCES = """Array.from(
    document.querySelectorAll('[aria-describedby], [aria-labelledby], [aria-controls]'))
    .flatMap((element) => ['aria-describedby', 'aria-labelledby', 'aria-controls']
        .flatMap((name) => (element.getAttribute(name) || '').split(/\\s+/).filter(Boolean)))
    .filter((id) => document.getElementById(id) === null)"""


def sign_in(page: Page, username: str, password: str = PASSWORD) -> None:
    """Signs in through the login form, as a person would."""
    page.goto("/accounts/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password)
    with page.expect_navigation():
        page.locator("main button[type=submit]").click()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def blocking_violations(page: Page) -> list[dict[str, Any]]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [v for v in results.response["violations"] if v.get("impact") in BLOCKING_IMPACTS]


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(
            f"{violation['id']} ({violation['impact']}): {violation['help']}"
            f" — {violation['helpUrl']}"
        )
        for node in violation["nodes"]:
            lines.append(f"    at {', '.join(map(str, node['target']))}: {node['html']}")
            summary = node.get("failureSummary") or ""
            lines.extend(f"      {line}" for line in summary.splitlines())
    return "\n".join(lines)


def check_page(page: Page, name: str) -> None:
    """Keeps a screenshot of the page, then checks that it is styled, has one top heading, refers
    to no missing ids and has no serious or critical axe finding."""
    screenshot(page, name)
    assert page.locator("h1").count() == 1, f"{name} should have exactly one heading of level 1"
    unloaded = page.evaluate(UNLOADED_STYLESHEETS)
    assert not unloaded, f"{name} is unstyled: these stylesheets did not load: {unloaded}"
    # axe only lists these as "needs review", yet a screen reader then reads nothing.
    dangling = page.evaluate(DANGLING_ARIA_REFERENCES)
    assert not dangling, f"{name} refers to ids that are not on the page: {dangling}"
    violations = blocking_violations(page)
    assert not violations, f"axe found problems on {name} ({page.url}):\n{describe(violations)}"


def choose_language(page: Page, language: str) -> None:
    """Chooses the interface language with the switch every page has."""
    if language == "en":
        page.get_by_label("语言").select_option("en")
        with page.expect_navigation():
            page.get_by_role("button", name="切换").click()
    assert (page.locator("html").get_attribute("lang") or "").lower() == language


def fits_width(page: Page) -> None:
    """The page does not scroll sideways."""
    widths = page.evaluate(
        "({scroll: document.documentElement.scrollWidth, view: window.innerWidth})"
    )
    assert widths["scroll"] <= widths["view"], f"{page.url} scrolls sideways: {widths}"


# Permission, audit and routing codes as they are stored (casework.case.view, social_aid): pages
# name them in the reader's words.
INTERNAL_CODE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b|\b[a-z]+\.[a-z_]+\.[a-z_]+\b")


def shows_no_code(page: Page) -> None:
    """The page's text shows no internal code."""
    codes = INTERNAL_CODE.findall(page.locator("body").inner_text())
    assert not codes, f"{page.url} shows internal codes: {codes}"


def words(language: str, text: str) -> str:
    """What the interface says for `text` in `language`."""
    from django.utils import translation

    with translation.override(language):
        return str(translation.gettext(text))


def update_docs_screenshot() -> bool:
    return os.environ.get("CIVICHUB_UPDATE_DOCS_SCREENSHOT") == "1"


# Maps, offline ---------------------------------------------------------------------------
# Two communities' centres the map tests give areas to.
A1 = (30.0, 120.0)
A2 = (30.0, 120.03)  # about 2.9 km east of A1


class Offline:
    """Refuses every request that leaves the platform and keeps what the page tried, and every
    Content-Security-Policy complaint the console printed."""

    def __init__(self, context: BrowserContext, base_url: str) -> None:
        self.outside: list[str] = []
        self.csp: list[str] = []
        self.host = urlsplit(base_url).netloc
        context.route("**/*", self._route)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).netloc == self.host:
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def watch(self, page: Page) -> Page:
        page.on(
            "console",
            lambda m: self.csp.append(m.text) if "Content Security Policy" in m.text else None,
        )
        return page


def map_ready(page: Page, selector: str) -> None:
    """Waits until map.js has drawn the map and the communities' areas on it."""
    page.wait_for_function(
        "(s) => { const el = document.querySelector(s);"
        " return el && el.civichubMap && el.querySelectorAll('.map-area-label').length > 0; }",
        arg=selector,
    )


def screen_point(page: Page, selector: str, lat: float, lng: float) -> tuple[float, float]:
    page.locator(selector).scroll_into_view_if_needed()
    box = page.locator(selector).bounding_box()
    assert box is not None
    point = page.evaluate(
        "([s, lat, lng]) => { const p = document.querySelector(s).civichubMap"
        ".latLngToContainerPoint([lat, lng]); return [p.x, p.y]; }",
        [selector, lat, lng],
    )
    return box["x"] + point[0], box["y"] + point[1]
