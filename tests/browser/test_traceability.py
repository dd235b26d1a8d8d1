"""Food traceability in a real browser, on a phone screen: a shopper opens the lot's Digital
Link (what the QR code holds) and reads its journey; the regulator recalls the lot from its
trace page; the stall keeper sees the recall and acknowledges it; the shopper's page of the
mince made from the lot now warns. axe finds no serious or critical problem."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from civichub.traceability.tests.conftest import Chain, chain_build
from tests.browser.support import PHONE, check_page, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.either_database]


@pytest.fixture
def chain(city: Any) -> Chain:
    return chain_build(city)


def test_shopper_sees_the_journey_and_after_a_recall_the_warning(page: Page, chain: Chain) -> None:
    from civichub.traceability.models import Participant

    # The slaughterhouse's place too, so that the journey's map joins two places.
    Participant.objects.filter(pk=chain.slaughterhouse.pk).update(latitude=34.30, longitude=108.95)
    page.set_viewport_size(PHONE)
    page.goto(f"/01/{chain.carcass.product.gtin}/10/C1")
    journey_map = page.get_by_role("region", name="这批食品经过的地点，按先后连线")
    journey_map.locator(".leaflet-marker-icon").first.wait_for()
    markers = journey_map.locator(".leaflet-marker-icon")
    assert markers.count() == 2
    assert markers.nth(0).get_attribute("title") == f"1. {chain.slaughterhouse.name}"
    assert markers.nth(1).get_attribute("title") == f"2. {chain.market.name}"
    assert journey_map.locator("svg path").count() == 1  # the line from one place to the next
    journey = page.get_by_role("region", name="流通过程")
    assert (
        chain.farm.name in journey.inner_text() or chain.slaughterhouse.name in journey.inner_text()
    )
    assert "clenbuterol" in journey.inner_text()
    assert page.get_by_role("alert").count() == 0
    check_page(page, "traceability-shopper")

    sign_in(page, chain.regulator.username)
    page.goto(f"/trace/lots/{chain.carcass.pk}/")
    page.get_by_label("召回原因").fill("瘦肉精抽检阳性")
    with page.expect_navigation():
        page.get_by_role("button", name="召回该批次").click()
    assert chain.stall.name in page.get_by_role("table").inner_text()
    page.context.clear_cookies()

    sign_in(page, chain.keeper.username)
    page.goto("/trace/recalls/")
    page.get_by_role("link", name=f"{chain.carcass.product.name} · C1").first.click()
    page.get_by_label("下架数量（千克）").fill("38")
    with page.expect_navigation():
        page.get_by_role("button", name="确认已下架").click()
    assert "38" in page.get_by_role("table").inner_text()
    check_page(page, "traceability-recall")
    page.context.clear_cookies()

    page.goto(f"/01/{chain.mince.product.gtin}/10/M1")
    assert "瘦肉精抽检阳性" in page.get_by_role("alert").inner_text()
    check_page(page, "traceability-shopper-recalled")


def test_regulator_previews_a_recall_by_farm_then_starts_it(page: Page, chain: Chain) -> None:
    page.set_viewport_size(PHONE)
    sign_in(page, chain.regulator.username)
    page.goto("/trace/recalls/")
    page.get_by_role("link", name="按范围召回（养殖场、饲料批次、时间范围）").click()
    page.get_by_label("养殖场/种植基地").check()
    page.locator("#s-farm").select_option(label=chain.farm.name)
    with page.expect_navigation():
        page.get_by_role("button", name="预览召回范围").click()
    preview = page.get_by_role("region", name="召回范围预览")
    assert "涉及 2 个批次" in preview.inner_text()
    assert "其中 1 个摊位" in preview.inner_text() and chain.stall.name in preview.inner_text()
    check_page(page, "traceability-recall-scope-preview")
    page.get_by_label("召回原因").fill("非洲猪瘟疫情")
    with page.expect_navigation():
        page.get_by_role("button", name="确认发起召回").click()
    assert "非洲猪瘟疫情" in page.get_by_role("alert").first.inner_text()
    assert chain.stall.name in page.get_by_role("table").inner_text()
