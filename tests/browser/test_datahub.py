"""The data hub in a real browser: a community worker settles an uncertain pair of the record
linkage; a resident opens "my data" and sees a value's source and who looked at it. Both pages
are checked with axe."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from civichub.datahub import selectors, services
from civichub.datahub.models import Consent, ImportBatch, LinkMethod, Person, SourceRecord
from civichub.datahub.tests.conftest import (  # noqa: F401 (fixtures)
    ZHANG_WEI,
    Hub,
    _immediate_tasks,
    health_import,
    hub,
    police_import,
    police_row,
)
from tests.browser.support import check_page, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.either_database]
CARE = "家庭医生签约服务"


@pytest.fixture
def linked(
    hub: Hub,  # noqa: F811
    police_import: Callable[..., ImportBatch],  # noqa: F811
    health_import: Callable[..., ImportBatch],  # noqa: F811
) -> Hub:
    police_import(
        [
            police_row("P1", "张伟", ZHANG_WEI, "1980-01-01", "男"),
            police_row("P2", "王芳", "", "1975-03-04", "女", household="H002"),
        ]
    )
    health_import([["D2", "汪芳", "", "1975-04-03", "女", "", "", "刘医生", "无", "B", None]])
    services.agreement_create(
        actor=hub.health_head,
        source=hub.sources["health"],
        reader=hub.city.health_a,
        role="family_doctor",
        area=hub.city.city,
        attributes=["blood_group"],
        purpose=CARE,
        legal_basis="基本医疗卫生与健康促进法",
        valid_from=dt.date(2025, 1, 1),
    )
    police_import([police_row("P1", "张伟", ZHANG_WEI, "1980-01-01", "男")])
    health_import(
        [["D1", "张伟", ZHANG_WEI, "1980-01-01", "男", "", "", "刘医生", "无", "A", None]]
    )
    zhang = Person.objects.get(identity_hash__isnull=False)
    selectors.person_attributes(actor=hub.doctor, person=zhang, names=None, purpose=CARE)
    return hub


def test_a_community_worker_reviews_an_uncertain_pair(page: Page, linked: Hub) -> None:
    sign_in(page, linked.worker.username)
    page.goto("/datahub/reviews/")
    page.get_by_role("link", name="卫健家庭医生签约 D2").click()
    comparison = page.get_by_role("table", name="逐项比较").inner_text()
    assert "汪芳" in comparison and "王芳" in comparison and "拼音相同" in comparison
    assert "pinyin" not in comparison and "birth_date" not in comparison
    check_page(page, "datahub-review")
    with page.expect_navigation():
        page.get_by_role("button", name="是同一人", exact=True).click()
    assert "没有待审核的记录" in page.get_by_role("table").inner_text()
    record = SourceRecord.objects.get(record_id="D2")
    assert record.link_method == LinkMethod.REVIEW and record.person is not None
    assert record.person.name == "王芳"


def test_a_resident_sees_a_values_source_and_who_looked(page: Page, linked: Hub) -> None:
    sign_in(page, linked.resident_user.username)
    page.goto("/datahub/my-data/")
    values = page.get_by_role("table", name="我的信息及其来源").inner_text()
    assert "household_number" in values and "公安户籍人口" in values and "H001" in values
    accesses = page.get_by_role("table", name="查看记录").inner_text()
    assert linked.city.health_a.name in accesses and CARE in accesses
    assert "blood_group" in accesses
    check_page(page, "datahub-my-data")


def test_a_resident_gives_and_withdraws_a_separate_consent(page: Page, linked: Hub) -> None:
    agreement = services.agreement_create(
        actor=linked.health_head,
        source=linked.sources["health"],
        reader=linked.city.community_a1,
        role="community_worker",
        area=linked.city.community_a1,
        attributes=["chronic_condition"],
        purpose="居家养老关怀（本人同意）",
        legal_basis="",
        valid_from=dt.date(2025, 1, 1),
        basis="consent",
        consent_text="我同意社区工作者查看我的慢病信息，用于居家养老关怀。",
        consent_version="2026-1",
    )
    sign_in(page, linked.resident_user.username)
    page.goto("/datahub/my-data/")
    consents = page.get_by_role("region", name="我的单独同意")
    assert agreement.consent_text in consents.inner_text()
    with page.expect_navigation():
        consents.get_by_role("button", name="同意", exact=True).click()
    assert Consent.objects.get().withdrawn_at is None
    records = page.get_by_role("table", name="同意记录").inner_text()
    assert "2026-1" in records
    check_page(page, "datahub-my-data-consent")
    with page.expect_navigation():
        page.get_by_role("button", name="撤回同意").click()
    assert Consent.objects.get().withdrawn_at is not None
