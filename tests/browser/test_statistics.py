"""Statistics across services in a real browser: a dispatcher reads the figures of casework's
small known data set (rolled up into the daily table), picks a measure and downloads the CSV; a
visitor without an account reads the public service evaluation (好差评). Both pages are checked
with axe, on a desktop and a phone screen."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from civichub.casework.models import Case
from civichub.casework.tests.conftest import (  # noqa: F401 (fixtures)
    Casework,
    _immediate_tasks,
    after_commit,
    cw,
    frozen_now,
    submit,
)
from civichub.casework.tests.test_statistics import known  # noqa: F401 (fixture)
from civichub.statistics.services import figures_roll_up
from tests.browser.support import PHONE, check_page, sign_in
from tests.statistics.conftest import LATER

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.either_database]
MARCH = "?since=2026-03-01&until=2026-03-31"


@pytest.fixture
def rolled_up(cw: Casework, known: dict[str, Case]) -> Casework:  # noqa: F811
    figures_roll_up(now=LATER)
    return cw


def _fits(page: Page) -> None:
    widths = page.evaluate(
        "({scroll: document.documentElement.scrollWidth, view: window.innerWidth})"
    )
    assert widths["scroll"] <= widths["view"], f"the page scrolls sideways: {widths}"


def test_dispatcher_reads_the_figures_and_downloads_them(page: Page, rolled_up: Casework) -> None:
    sign_in(page, rolled_up.dispatcher.username)
    page.goto(f"/statistics/{MARCH}")

    organisations = page.get_by_role("table", name="各组织机构指标")
    assert rolled_up.city.health_a.name in organisations.inner_text()
    assert page.get_by_role("img", name="各周期指标柱状图").is_visible()
    check_page(page, "statistics-figures")

    page.locator("#f-measure").select_option("casework.satisfaction")
    page.locator("#f-period").select_option("month")
    with page.expect_navigation():
        page.get_by_role("button", name="统计").click()
    series = page.get_by_role("table", name="各周期指标").inner_text()
    assert "2026-03-01" in series and "66.7" in series
    assert "医疗卫生" in page.get_by_role("table", name="服务事项").inner_text()
    check_page(page, "statistics-figures-satisfaction")

    with page.expect_download() as download:
        page.get_by_role("link", name="导出 CSV").click()
    path = download.value.path()
    text = path.read_text(encoding="utf-8") if path else ""
    assert text.startswith("period_start,measure,organisation")
    assert "casework.satisfaction" in text

    page.set_viewport_size(PHONE)
    _fits(page)


def test_visitor_reads_the_public_evaluation(page: Page, rolled_up: Casework) -> None:
    page.goto("/evaluation/")

    departments = page.get_by_role("table", name="各部门评价").inner_text()
    assert rolled_up.city.health_a.name in departments and "66.7%" in departments
    assert page.get_by_role("img", name="各部门好评率柱状图").is_visible()
    check_page(page, "statistics-evaluation")

    page.set_viewport_size(PHONE)
    _fits(page)
    check_page(page, "statistics-evaluation-phone")
