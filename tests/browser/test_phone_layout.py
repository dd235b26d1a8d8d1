"""Residents' and staff pages on a phone (390×844), in Chinese and in English: the menu is one
line that opens (not three or four wrapped rows), nothing scrolls sideways, lists are cards,
every main control is at least 44 px tall, no internal code shows, an English page has no
Chinese words in its interface, and axe finds nothing serious."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest
from django.urls import reverse

from tests.browser.support import A1, PASSWORD, check_page, shows_no_code, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from civichub.casework.models import Case
    from civichub.core.models import User

pytestmark = [pytest.mark.browser, pytest.mark.either_database]

PHONE_390 = {"width": 390, "height": 844}
# The header (brand, language, menu line, account line) may take this much of an 844 px screen;
# the menu wrapped to three or four rows took 221 px of it before.
HEADER_MAX_PX = 200
TOUCH_PX = 44
IDEOGRAPHS = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")

# Main controls that are smaller than a fingertip: buttons, selects, text boxes, menu lines,
# and check boxes or radio buttons whose label is not tall enough to tap instead.
SMALL_TARGETS = """() => {
  const visible = (el) => { const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden'; };
  const small = [];
  const selector = 'button, select, textarea, summary, .button, '
    + 'input:not([type=hidden]):not([type=checkbox]):not([type=radio]), .nav-compact a';
  for (const el of document.querySelectorAll(selector)) {
    if (el.closest('.leaflet-container') || !visible(el)) continue;
    const h = el.getBoundingClientRect().height;
    if (h < 43.5) small.push(`${el.outerHTML.slice(0, 80)} is ${Math.round(h)} px tall`);
  }
  for (const el of document.querySelectorAll('input[type=checkbox], input[type=radio]')) {
    if (!visible(el)) continue;
    const label = el.closest('label') || (el.id && document.querySelector(`label[for="${el.id}"]`));
    const h = Math.max(el.getBoundingClientRect().height,
      label ? label.getBoundingClientRect().height : 0);
    if (h < 43.5) small.push(`${el.outerHTML.slice(0, 80)} is ${Math.round(h)} px to tap`);
  }
  return small;
}"""
# The interface's own words in English: headings, labels, buttons, menu, table heads.
INTERFACE_TEXT = """() => Array.from(document.querySelectorAll(
    'h1, label, legend, button, summary, th, .main-nav a, .site-footer'))
  .filter((el) => !el.closest('[lang^=zh]') && el.getBoundingClientRect().height > 0)
  .map((el) => { const copy = el.cloneNode(true);
    // What a button names (a notification's subject, a person) is data, not interface.
    copy.querySelectorAll('.visually-hidden, [lang]').forEach((n) => n.remove());
    return copy.textContent.trim(); })"""


@pytest.fixture
def phone_city(city: Any, community_worker: User, settings: Any) -> Case:
    """A resident's message in community A1 with a reply, and a notification of that reply."""
    from civichub.casework import services
    from civichub.testing.areas import community_areas_set
    from civichub.testing.city import staff_user

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    # The address names a road of community A1, so the message reaches the worker there.
    community_areas_set(
        {city.community_a1: A1}, radius_m=800, address_terms={city.community_a1: ["桃园路"]}
    )
    resident = staff_user(
        None,
        None,
        username="lixiuying",
        password=PASSWORD,
        last_name="李",
        first_name="秀英",
    )
    sent = services.case_submit(
        actor=resident,
        kind="complaint",
        title="楼下路灯坏了",
        text="桃园路 12 号楼下的路灯已经坏了三天，晚上很黑。",
        address="桃园路 12 号",
    )
    sent.case.refresh_from_db()
    assert sent.case.community == city.community_a1
    return sent.case


def _switch_language(page: Page, code: str) -> None:
    page.locator("#lang-select").select_option(code)
    with page.expect_navigation():
        page.locator(".lang button[type=submit]").click()


def _check_phone_page(page: Page, url: str, name: str, language: str) -> None:
    page.goto(url)
    assert page.locator("html").get_attribute("lang") == language, url
    widths = page.evaluate(
        "({scroll: document.documentElement.scrollWidth, view: window.innerWidth})"
    )
    assert widths["scroll"] <= widths["view"], f"{url} scrolls sideways: {widths}"
    header = page.locator(".site-header").bounding_box()
    assert header is not None and header["height"] <= HEADER_MAX_PX, (
        f"{url}: the header takes {header} of the phone's 844 px"
    )
    small = page.evaluate(SMALL_TARGETS)
    assert not small, f"{url}: controls too small to tap: {small}"
    shows_no_code(page)
    if language == "en":
        chinese = [t for t in page.evaluate(INTERFACE_TEXT) if IDEOGRAPHS.search(t)]
        assert not chinese, f"{url}: interface words left in Chinese: {chinese}"
    check_page(page, name)


def _menu_opens(page: Page) -> None:
    """The phone menu is one line; opened, it lists the pages and marks one as current."""
    assert page.locator(".nav-wide").is_hidden()
    summary = page.locator(".nav-compact summary")
    assert summary.is_visible()
    summary.click()
    links = page.locator(".nav-compact a")
    assert links.count() >= 2 and links.first.is_visible()
    assert page.locator(".nav-compact a[aria-current=page]").count() <= 1
    summary.click()


@pytest.mark.parametrize("language", ["zh-Hans", "en"])
def test_resident_pages_fit_a_phone(page: Page, phone_city: Case, language: str) -> None:
    page.set_viewport_size(PHONE_390)  # type: ignore[arg-type]
    sign_in(page, "lixiuying")
    if language == "en":
        _switch_language(page, "en")
    _menu_opens(page)
    for url, name in (
        (reverse("core:home"), "phone-home"),
        (reverse("casework:submit"), "phone-message-form"),
        (reverse("casework:mine"), "phone-my-messages"),
        (reverse("casework:case", args=[phone_city.tracking_number]), "phone-my-message"),
        (reverse("notify:inbox"), "phone-notifications"),
        (reverse("notify:preferences"), "phone-notification-settings"),
        (reverse("broadcast:home"), "phone-feed"),
        (reverse("broadcast:directory"), "phone-accounts"),
        (reverse("casework:board"), "phone-board"),
    ):
        _check_phone_page(page, url, f"{name}-{language}", language)


@pytest.mark.parametrize("language", ["zh-Hans", "en"])
def test_field_worker_pages_fit_a_phone(page: Page, phone_city: Case, language: str) -> None:
    page.set_viewport_size(PHONE_390)  # type: ignore[arg-type]
    sign_in(page, "wangfang")
    if language == "en":
        _switch_language(page, "en")
    _menu_opens(page)
    for url, name in (
        (reverse("core:dashboard"), "phone-worker-dashboard"),
        (reverse("casework:inbox"), "phone-worker-inbox"),
        (reverse("casework:case", args=[phone_city.tracking_number]), "phone-worker-message"),
        (reverse("core:resident_list"), "phone-worker-residents"),
        (reverse("wellbeing:visits"), "phone-worker-visits"),
        (reverse("notify:inbox"), "phone-worker-notifications"),
    ):
        _check_phone_page(page, url, f"{name}-{language}", language)


def test_the_message_page_shows_its_title_before_its_facts(page: Page, phone_city: Case) -> None:
    page.set_viewport_size(PHONE_390)  # type: ignore[arg-type]
    sign_in(page, "wangfang")
    page.goto(reverse("casework:case", args=[phone_city.tracking_number]))
    title = page.get_by_role("heading", name="楼下路灯坏了").bounding_box()
    facts = page.locator("dl.facts").first.bounding_box()
    assert title is not None and facts is not None
    assert title["y"] < facts["y"], "the message's title should come before its facts"


def test_inbox_rows_are_cards_with_whole_status_pills(page: Page, phone_city: Case) -> None:
    page.set_viewport_size(PHONE_390)  # type: ignore[arg-type]
    sign_in(page, "wangfang")
    page.goto(reverse("casework:inbox"))
    row = page.locator("table.cards tbody tr").first
    assert row.evaluate("(el) => getComputedStyle(el).display") == "block"
    pill = row.locator(".badge.status")
    box = pill.bounding_box()
    assert box is not None
    line = float(pill.evaluate("(el) => parseFloat(getComputedStyle(el).lineHeight)"))
    assert box["height"] <= line * 1.5, f"the status pill wraps: {box}"
    # Each cell says what it is (the table's head is hidden on a phone).
    label = row.locator("td").nth(2).evaluate("(el) => getComputedStyle(el, '::before').content")
    assert "状态" in label
