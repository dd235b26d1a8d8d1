"""The wellbeing dashboard's household map and the visit's confirmations in a real browser with
no internet, on a phone and a desktop, in Chinese and English: the worker finds the home
on the map by its name and state, opens it from the marker, accepts the visit and is told so
(focus on the message, the new state shown), sends the outcome empty and is sent to the error
at the top and its field, then records the outcome. axe on every page; nothing overflows the
screen's width and no internal code shows; nothing is fetched from outside the platform."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.support import (
    A1,
    FOUR_WAYS,
    Offline,
    check_page,
    map_ready,
    shows_no_code,
    sign_in,
)

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

    from civichub.core.models import User

pytestmark = [pytest.mark.browser, pytest.mark.either_database]

WORDS = {
    "zh-hans": {
        "accept": "接单",
        "record": "记录结果",
        "fine": "一切安好",
        "false": "误报",
        "accepted": "已接单。",
        "missing": "请选择上门结果。",
        "done": "已记录上门结果",
        "state": "待上门",
    },
    "en": {
        "accept": "Accept",
        "record": "Record the outcome",
        "fine": "All well",
        "false": "No, a false alarm",
        "accepted": "Visit accepted.",
        "missing": "",  # checked by its place, the words are the service's
        "done": "Outcome recorded",
        "state": "",
    },
}


@pytest.fixture
def visit_at_home(mapped_city: Any, community_worker: User) -> Any:
    """A home in community A1, on the map, whose water stopped: a visit task for the worker."""
    from django.utils import timezone

    from civichub.core import services as core
    from civichub.testing.city import staff_user
    from civichub.wellbeing import services
    from civichub.wellbeing.models import Household, VisitTask
    from civichub.wellbeing.services import ContactSpec, MeterSpec

    resident = core.resident_create(
        actor=None,
        name="郑桂芝",
        address="桃园路 8 号",
        community=mapped_city.community_a1,
        latitude=A1[0] + 0.001,
        longitude=A1[1] + 0.001,
        crs="wgs84",
    )
    feed = staff_user("meter_feed", mapped_city.city)
    services.household_enrol(
        actor=community_worker,
        resident=resident,
        worker=community_worker,
        consent_by="resident",
        meters=[MeterSpec("water", "W-9", cumulative=False)],
        contacts=[ContactSpec("女儿", "13800000002")],
    )
    start = timezone.make_aware(datetime(2026, 3, 2, 0, 30))  # noqa: DTZ001 - made aware here
    rows = [
        {
            "meter_id": "W-9",
            "at": (start + timedelta(minutes=30 * step)).isoformat(),
            "value": 0.02 if step < 16 else 0.0,
        }
        for step in range(48)
    ]
    assert services.readings_ingest(actor=feed, rows=rows).accepted == 48
    household = Household.objects.get(resident=resident)
    services.detection_run(household_id=household.pk)
    services.alerts_escalate(now=timezone.now() + timedelta(minutes=30))
    return VisitTask.objects.get(alert__household=household)


def _fits(page: Page) -> None:
    """The page does not scroll sideways (naming what sticks out) and shows no internal code."""
    widths = page.evaluate(
        "({scroll: document.documentElement.scrollWidth, view: window.innerWidth})"
    )
    wide = page.evaluate(
        "Array.from(document.querySelectorAll('body *')).filter(e => "
        "e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 5)"
        ".map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + "
        "Math.round(e.getBoundingClientRect().right))"
    )
    assert widths["scroll"] <= widths["view"], f"{page.url} scrolls sideways: {widths} {wide}"
    shows_no_code(page)


def _focused_id(page: Page) -> str:
    return str(page.evaluate("document.activeElement && document.activeElement.id"))


@FOUR_WAYS
def test_a_worker_finds_the_home_on_the_map_and_is_told_what_each_action_did(
    offline: tuple[BrowserContext, Offline],
    community_worker: User,
    visit_at_home: Any,
    language: str,
    viewport: Any,
) -> None:
    from django.utils import translation

    words = WORDS[language]
    context, guard = offline
    page = guard.watch(context.new_page())
    page.set_viewport_size(viewport)
    sign_in(page, community_worker.username)
    if language == "en":
        page.get_by_label("语言").select_option("en")
        with page.expect_navigation():
            page.get_by_role("button", name="切换").click()
    shot = f"wellbeing-map-{language}-{viewport['width']}"

    # The home on a real map, over the communities' areas, named with its state.
    page.goto("/wellbeing/")
    map_ready(page, "#wb-map")
    marker = page.locator("#wb-map .map-shape")
    assert marker.count() == 1
    title = marker.get_attribute("title") or ""
    assert title.startswith("郑桂芝 · ") and words["state"] in title
    assert marker.locator("path.wb-state-visit").count() == 1
    _fits(page)
    check_page(page, f"{shot}-dashboard")
    with page.expect_navigation():
        marker.click()
    household = visit_at_home.alert.household
    assert page.url.endswith(f"/wellbeing/households/{household.pk}/")
    _fits(page)
    check_page(page, f"{shot}-household")

    # Accept: the confirmation at the top has the focus and the new state shows.
    page.goto(f"/wellbeing/visits/{visit_at_home.pk}/")
    assert page.locator("svg.wb-chart .wb-tick-x").count() >= 3
    with page.expect_navigation():
        page.get_by_role("button", name=words["accept"], exact=True).click()
    assert _focused_id(page) == "wb-notice"
    assert words["accepted"] in page.locator("#wb-notice").inner_text()
    visit_at_home.refresh_from_db()
    with translation.override(language):
        assert page.locator("#wb-status").inner_text() == visit_at_home.get_status_display()
    _fits(page)
    check_page(page, f"{shot}-accepted")

    # An outcome sent without a choice (the browser's own check skipped, as by an old phone):
    # the summary at the top has the focus and leads to the field, which shows the error.
    page.evaluate("document.querySelector('#outcome-fieldset').closest('form').noValidate = true")
    with page.expect_navigation():
        page.get_by_role("button", name=words["record"]).click()
    assert _focused_id(page) == "error-summary"
    page.locator("#error-summary a").first.click()
    assert _focused_id(page) == "outcome-fieldset"
    assert page.locator("#outcome-error").is_visible()
    if words["missing"]:
        assert words["missing"] in page.locator("#outcome-error").inner_text()
    _fits(page)
    check_page(page, f"{shot}-missing-outcome")

    page.get_by_label(words["fine"], exact=True).check()
    page.get_by_label(words["false"]).check()
    with page.expect_navigation():
        page.get_by_role("button", name=words["record"]).click()
    assert _focused_id(page) == "wb-notice"
    assert words["done"] in page.locator("#wb-notice").inner_text()
    _fits(page)
    check_page(page, f"{shot}-done")
    visit_at_home.refresh_from_db()
    assert (visit_at_home.status, visit_at_home.outcome) == ("visited", "fine")
    assert guard.outside == [], f"pages reached outside the platform: {guard.outside}"
    assert guard.csp == [], f"the Content-Security-Policy refused something: {guard.csp}"
