"""Elderly wellbeing in a real browser, on a phone-sized screen: a community worker gets a
no-activity alert as a visit task, sees the chart and the evidence, accepts the visit and records
the outcome. Every page on the way is checked with axe."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.support import (
    FOUR_WAYS,
    PHONE,
    check_page,
    choose_language,
    fits_width,
    sign_in,
    words,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from civichub.core.models import User

pytestmark = [pytest.mark.browser, pytest.mark.either_database]


@pytest.fixture
def visit_task(city: Any, community_worker: User) -> Any:
    """A household whose water stopped at 08:00 and stayed off: the no-use alert, unacknowledged
    by the family, has become a visit task for the worker."""
    from django.utils import timezone

    from civichub.core.models import Resident
    from civichub.testing.city import staff_user
    from civichub.wellbeing import services
    from civichub.wellbeing.models import Household, VisitTask
    from civichub.wellbeing.services import ContactSpec, MeterSpec

    resident = Resident.objects.filter(community=city.community_a1).first()
    assert resident is not None
    feed = staff_user("meter_feed", city.city)
    services.household_enrol(
        actor=community_worker,
        resident=resident,
        worker=community_worker,
        consent_by="resident",
        meters=[MeterSpec("water", "W-7", cumulative=False)],
        contacts=[ContactSpec("女儿", "13800000002")],
    )
    start = timezone.make_aware(datetime(2026, 3, 2, 0, 30))  # noqa: DTZ001 - made aware here
    rows = [
        {
            "meter_id": "W-7",
            "at": (start + timedelta(minutes=30 * step)).isoformat(),
            "value": 0.02 if step < 16 else 0.0,
        }
        for step in range(48)
    ]
    report = services.readings_ingest(actor=feed, rows=rows)
    assert report.accepted == 48
    household = Household.objects.get(resident=resident)
    services.detection_run(household_id=household.pk)
    services.alerts_escalate(now=timezone.now() + timedelta(minutes=30))
    return VisitTask.objects.get(alert__kind="no_use")


def test_a_worker_accepts_a_no_activity_visit_and_records_the_outcome(
    chromium: Browser, live_server: Any, community_worker: User, visit_task: Any
) -> None:
    context = chromium.new_context(base_url=live_server.url, viewport=PHONE, locale="zh-CN")
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        sign_in(page, community_worker.username)
        page.goto("/wellbeing/visits/")
        check_page(page, "wellbeing-visits")
        page.get_by_role("link", name=visit_task.alert.household.resident.name).click()
        page.wait_for_url(f"**/wellbeing/visits/{visit_task.pk}/")
        assert page.locator("svg.wb-chart rect.wb-bar").count() > 0
        assert "升水" in page.locator(".wb-explanation").inner_text()  # in the reader's language
        assert page.get_by_role("row", name="规则下限（升）").count() == 1
        check_page(page, "wellbeing-visit")
        # By keyboard alone, as with a phone's external keyboard or a switch device.
        page.get_by_role("button", name="接单").focus()
        with page.expect_navigation():
            page.keyboard.press("Enter")
        page.get_by_label("需要帮助").focus()
        page.keyboard.press("Space")
        page.keyboard.press("ArrowDown")  # arrows move through the group: taken to hospital,
        page.keyboard.press("ArrowDown")  # then not at home
        assert page.get_by_label("不在家").is_checked()
        page.get_by_label("误报").focus()
        page.keyboard.press("Space")
        page.keyboard.press("Tab")
        page.keyboard.type("老人在女儿家，电话确认平安")
        assert page.get_by_label("备注").input_value() == "老人在女儿家，电话确认平安"
        check_page(page, "wellbeing-visit-accepted")
        page.get_by_role("button", name="记录结果").focus()
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "不在家" in page.locator(".wb-forms").inner_text()
        check_page(page, "wellbeing-visit-done")
    finally:
        context.close()
    visit_task.refresh_from_db()
    assert (visit_task.status, visit_task.outcome, visit_task.real) == (
        "visited",
        "not_home",
        False,
    )


def test_a_worker_enrols_a_household_with_consent_and_sees_it_on_the_dashboard_map(
    chromium: Browser, live_server: Any, city: Any, community_worker: User
) -> None:
    """Without JavaScript-only controls: find the resident, record how they consented, list the
    meters and the family contacts, then mark time away; the dashboard draws the home on its map
    and lists it in the table. Each page is checked with axe on a phone-sized screen."""
    from django.utils import timezone

    from civichub.core import services as core
    from civichub.wellbeing.models import Household

    resident = core.resident_create(
        actor=None,
        name="郑桂芝",
        address="桃园路 8 号",
        community=city.community_a1,
        latitude=39.905,
        longitude=116.391,
        crs="wgs84",
    )
    context = chromium.new_context(base_url=live_server.url, viewport=PHONE, locale="zh-CN")
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        sign_in(page, community_worker.username)
        page.goto("/wellbeing/enrol/")
        check_page(page, "wellbeing-enrol")
        page.get_by_label("查找居民（姓名）").fill("郑桂")
        with page.expect_navigation():
            page.get_by_role("button", name="查找").click()
        page.get_by_label("郑桂芝").check()
        page.get_by_label("由谁代为登记").select_option("worker")
        page.get_by_label("本人如何表示同意").select_option("signed_form")
        page.get_by_label("书面同意书编号").fill("TY-2026-0101")
        page.get_by_label("同意经过").fill("本人在社区服务中心签字，女儿在场")
        page.get_by_label("水表表号").fill("W-BROWSER")
        page.locator("#contact_0_name").fill("郑丽")
        page.locator("#contact_0_phone").fill("13500000001")
        check_page(page, "wellbeing-enrol-filled")
        with page.expect_navigation():
            page.get_by_role("button", name="登记", exact=True).click()
        household = Household.objects.get(resident=resident)
        page.wait_for_url(f"**/wellbeing/households/{household.pk}/")
        assert "TY-2026-0101" in page.locator(".wb-facts").inner_text()
        check_page(page, "wellbeing-household")

        page.get_by_label("外出类型").select_option("children")
        # Away now, for a short stay (a long one needs a reason and a review date).
        now = timezone.localtime()
        page.get_by_label("开始", exact=True).fill(f"{now - timedelta(hours=1):%Y-%m-%dT%H:%M}")
        page.get_by_label("结束", exact=True).fill(f"{now + timedelta(days=2):%Y-%m-%dT%H:%M}")
        with page.expect_navigation():
            page.get_by_role("button", name="登记外出").click()
        assert "住在子女家" in page.get_by_role("list", name="外出时段").inner_text()

        page.goto("/wellbeing/")
        # The home on the map: named with its state, shaped as "away", leading to its page.
        marker = page.locator("#wb-map .map-shape")
        marker.wait_for()
        assert marker.get_attribute("title") == "郑桂芝 · 外出中"
        assert marker.locator("path").get_attribute("class") == "wb-marker wb-state-away"
        row = page.get_by_role("row", name="郑桂芝")
        assert "外出中" in row.inner_text()
        check_page(page, "wellbeing-dashboard")
    finally:
        context.close()
    household.refresh_from_db()
    assert (household.consent_method, household.consent_document) == ("signed_form", "TY-2026-0101")


def test_a_family_member_answers_the_alert_from_the_sms_link_without_an_account(
    chromium: Browser, live_server: Any, visit_task: Any, settings: Any
) -> None:
    """A second alert for the same home: the daughter opens the link from her SMS, says she
    cannot reach her mother, and a visit task is made at once. The SMS carries an absolute
    link on the deployment's address, here the live server's."""
    settings.CIVICHUB_PROFILE = {**settings.CIVICHUB_PROFILE, "site_url": live_server.url}
    from datetime import timedelta

    from django.utils import timezone

    from civichub.wellbeing import services
    from civichub.wellbeing.models import Alert, AlertStatus, VisitTask

    household = visit_task.alert.household
    alert = Alert.objects.create(
        household=household,
        kind="no_use",
        severity="urgent",
        at=timezone.now(),
        explanation="No water for 12 hours.",
        family_deadline=timezone.now() + timedelta(minutes=15),
    )
    link = services.ack_link(alert=alert, contact=household.contacts.get())
    assert link.startswith(live_server.url + "/")
    context = chromium.new_context(base_url=live_server.url, viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(link)
        check_page(page, "wellbeing-acknowledge")
        with page.expect_navigation():
            page.get_by_role("button", name="联系不上，请上门查看").click()
        assert "立即上门" in page.get_by_role("status").inner_text()
        check_page(page, "wellbeing-acknowledge-done")
    finally:
        context.close()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.VISIT
    assert VisitTask.objects.filter(alert=alert).exists()


@FOUR_WAYS
def test_a_worker_handles_an_alert_to_an_outcome_with_a_confirmation_at_each_step(
    chromium: Browser,
    live_server: Any,
    community_worker: User,
    visit_task: Any,
    language: str,
    viewport: Any,
) -> None:
    """On a phone and a desktop, in Chinese and English: from the list of visits to the task,
    accepted, on the way, the outcome recorded; each step says what happened at the top of the
    page. Every page fits the screen's width and passes axe."""
    from django.utils import translation

    from civichub.wellbeing.views import VISIT_DONE

    context = chromium.new_context(base_url=live_server.url, viewport=viewport, locale="zh-CN")
    context.set_default_timeout(15_000)
    context.set_default_navigation_timeout(60_000)
    page = context.new_page()
    shot = f"wellbeing-visit-{language}-{viewport['width']}"

    def confirmed(action: str) -> None:
        notice = page.locator("#wb-notice")
        with translation.override(language):
            said = str(VISIT_DONE[action])
        assert notice.inner_text().strip() == said
        assert page.evaluate("document.activeElement && document.activeElement.id") == "wb-notice"
        fits_width(page)
        check_page(page, f"{shot}-{action}")

    try:
        sign_in(page, community_worker.username)
        choose_language(page, language)
        page.goto("/wellbeing/visits/")
        fits_width(page)
        check_page(page, f"{shot}-list")
        with page.expect_navigation():
            page.locator(f'main a[href$="/wellbeing/visits/{visit_task.pk}/"]').first.click()
        assert page.locator("svg.wb-chart rect.wb-bar").count() > 0
        fits_width(page)
        check_page(page, f"{shot}-task")
        with page.expect_navigation():
            page.get_by_role("button", name=words(language, "接单"), exact=True).click()
        confirmed("accept")
        with page.expect_navigation():
            page.get_by_role("button", name=words(language, "我在路上"), exact=True).click()
        confirmed("on-the-way")
        page.locator("#outcome-not_home").check()
        page.locator("#real-no").check()
        page.locator("#note").fill("老人在女儿家，电话确认平安")
        with page.expect_navigation():
            page.get_by_role("button", name=words(language, "记录结果"), exact=True).click()
        confirmed("outcome")
    finally:
        context.close()
    visit_task.refresh_from_db()
    assert (visit_task.status, visit_task.outcome, visit_task.real) == (
        "visited",
        "not_home",
        False,
    )
