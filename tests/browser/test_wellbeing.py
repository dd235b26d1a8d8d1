"""Elderly wellbeing in a real browser, on a phone-sized screen: a community worker gets a
no-activity alert as a visit task, sees the chart and the evidence, accepts the visit and records
the outcome. Every page on the way is checked with axe."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.support import PHONE, check_page, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from civichub.core.models import User

pytestmark = pytest.mark.browser


@pytest.fixture
def visit_task(city: Any, community_worker: User) -> Any:
    """A household whose water stopped at 08:00 and stayed off: the no-use alert, unacknowledged
    by the family, has become a visit task for the worker."""
    from django.utils import timezone

    from civichub.core.models import Resident
    from civichub.core.testing import staff_user
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
        assert "litres of water" in page.locator(".wb-explanation").inner_text()
        check_page(page, "wellbeing-visit")
        with page.expect_navigation():
            page.get_by_role("button", name="接单").click()
        page.get_by_label("不在家").check()
        page.get_by_label("误报").check()
        page.get_by_label("备注").fill("老人在女儿家，电话确认平安")
        check_page(page, "wellbeing-visit-accepted")
        with page.expect_navigation():
            page.get_by_role("button", name="记录结果").click()
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
