"""The audit log page: open to auditors, with a filter; refused to everyone else."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.browser.support import RESIDENTS, check_page, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from civichub.core.models import User

pytestmark = [pytest.mark.browser, pytest.mark.either_database]


def _actions(page: Page) -> list[str]:
    return page.locator("tbody td code").all_inner_texts()


def test_auditor_sees_the_events_and_filters_them(page: Page, auditor: User) -> None:
    sign_in(page, "zhaomin")

    response = page.goto("/audit/")

    assert response is not None and response.status == 200
    actions = _actions(page)
    assert {"role.grant", "resident.create"} <= set(actions)
    search = page.get_by_role("search")
    for label in ("操作人", "操作", "对象类型", "对象编号", "起始日期", "截止日期"):
        assert search.get_by_label(label, exact=True).is_visible()
    check_page(page, "audit-log")

    search.get_by_label("操作", exact=True).fill("resident.create")
    with page.expect_navigation():
        search.get_by_role("button").click()

    assert "action=resident.create" in page.url
    assert _actions(page) == ["resident.create"] * len(RESIDENTS)
    assert search.get_by_label("操作", exact=True).input_value() == "resident.create"
    check_page(page, "audit-log-filtered")


def test_community_worker_is_refused_the_audit_log(page: Page, community_worker: User) -> None:
    sign_in(page, "wangfang")
    assert page.get_by_role("navigation", name="主导航").get_by_text("审计日志").count() == 0

    response = page.goto("/audit/")

    assert response is not None and response.status == 403
    assert page.locator("h1").inner_text() == "无权访问"
    assert page.locator("tbody").count() == 0
    check_page(page, "audit-log-refused")
