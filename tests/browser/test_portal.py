"""The resident portal at phone width: an anonymous visitor searches in pinyin, reads the
guide, signs in, applies with prefilled data and a document, and finds the application in
"my applications"; axe is clean on every page of the journey."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.support import PASSWORD, PHONE, check_page, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.either_database]


@pytest.fixture
def resident_account(city: Any) -> Any:
    from civichub.core import services
    from civichub.portal import demo
    from civichub.portal.tests.conftest import FEW, add_departments
    from civichub.testing.city import staff_user

    add_departments(city)
    demo.publish_catalogue(city.city, FEW)
    resident = services.resident_create(
        actor=None,
        name="王小梅",
        phone="13800000001",
        address="桃源社区 3 栋 201",
        community=city.community_a1,
        identity_number="11010519491231002X",
    )
    return staff_user(None, None, username="wangxm", password=PASSWORD, resident=resident)


def test_a_visitor_finds_a_service_by_pinyin_signs_in_and_applies_with_prefilled_data(
    page: Page, resident_account: Any, tmp_path: Path
) -> None:
    page.set_viewport_size(PHONE)
    page.goto("/")
    check_page(page, "portal-home")
    page.locator("#portal-q").fill("juzhuzheng")
    page.locator("form[role=search] button").click()
    check_page(page, "portal-search")
    page.get_by_role("link", name="居住证申领").first.click()
    check_page(page, "portal-guide")
    assert "受理条件" in page.locator("main").inner_text()

    page.get_by_role("link", name="在线申请").click()
    page.locator("#id_username").fill("wangxm")
    page.locator("#id_password").fill(PASSWORD)
    with page.expect_navigation():
        page.locator("main button[type=submit]").click()
    check_page(page, "portal-apply-consent")
    page.get_by_role("button", name="下一步").click()
    form = page.locator("main")
    assert "王小梅" in form.inner_text() and "居民信息登记" in form.inner_text()
    check_page(page, "portal-apply-form")

    document = tmp_path / "租赁合同.pdf"
    document.write_bytes(b"%PDF-1.4\n% lease\n")
    page.locator("#materials").set_input_files(str(document))
    page.get_by_role("button", name="提交申请").click()
    assert "已提交" in page.locator("main").inner_text()
    check_page(page, "portal-application")

    page.goto("/services/mine/")
    assert "居住证申领" in page.locator("main").inner_text()
    check_page(page, "portal-mine")


def test_a_resident_downloads_the_certificate_and_anyone_verifies_it(
    page: Page, resident_account: Any, settings: Any, tmp_path: Path
) -> None:
    from civichub.portal import services
    from civichub.portal.models import Service
    from civichub.testing.city import staff_user

    settings.DATA_DIR = tmp_path  # the signing key of this test
    service = Service.objects.get(published__name="居住证申领")
    assert service.published is not None
    answers = {field["key"]: "工作" for field in service.published.content.get("form", [])}
    application = services.application_submit(
        actor=resident_account, service=service, answers=answers, consent=True
    )
    handler = staff_user("department_handler", service.department, username="handler")
    services.application_approve(actor=handler, application=application)
    application.refresh_from_db()

    page.set_viewport_size(PHONE)
    sign_in(page, "wangxm")
    page.goto(f"/services/applications/{application.reference}/")
    check_page(page, "portal-application-approved")
    with page.expect_download() as download:
        page.get_by_role("link", name="下载结果证明（PDF）").click()
    pdf = tmp_path / "certificate.pdf"
    download.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF")

    page.context.clear_cookies()  # anyone, signed in or not
    page.goto("/services/verify/")
    check_page(page, "portal-verify")
    page.locator("#code").fill(application.verification_code)
    page.locator("#pdf").set_input_files(str(pdf))
    page.get_by_role("button", name="核验").click()
    text = page.locator("main").inner_text()
    assert "核验通过：结果证明有效" in text and "文件签名核验通过" in text
    assert "王**" in text and "王小梅" not in text
    check_page(page, "portal-verify-result")

    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(pdf.read_bytes().replace(b"/Title", b"/TitlE", 1))
    page.locator("#pdf").set_input_files(str(tampered))
    page.get_by_role("button", name="核验").click()
    assert "文件签名核验不通过" in page.locator("main").inner_text()
    check_page(page, "portal-verify-tampered")


def test_staff_ask_for_more_the_resident_adds_it_staff_approve_and_the_resident_downloads(
    page: Page, resident_account: Any, settings: Any, tmp_path: Path
) -> None:
    from civichub.portal import services
    from civichub.portal.models import Application, Service
    from civichub.testing.city import staff_user

    settings.DATA_DIR = tmp_path  # the signing key of this test
    service = Service.objects.get(published__name="居住证申领")
    assert service.published is not None
    answers = {field["key"]: "工作" for field in service.published.content.get("form", [])}
    application = services.application_submit(
        actor=resident_account, service=service, answers=answers, consent=True
    )
    staff_user("department_handler", service.department, username="handler")
    url = f"/services/applications/{application.reference}/"
    page.set_viewport_size(PHONE)

    sign_in(page, "handler")
    page.goto(url)
    check_page(page, "portal-handle-submitted")
    page.locator("#note-more").fill("请补充房屋租赁合同的第二页")
    page.get_by_role("button", name="要求补正").click()
    assert "待补正" in page.locator("main").inner_text()
    check_page(page, "portal-handle-more-needed")

    page.context.clear_cookies()
    sign_in(page, "wangxm")
    page.goto(url)
    text = page.locator("main").inner_text()
    assert "请补充房屋租赁合同的第二页" in text and "补正期间暂停计时" in text
    check_page(page, "portal-application-more-needed")
    document = tmp_path / "租赁合同第二页.pdf"
    document.write_bytes(b"%PDF-1.4\n% lease, page two\n")
    page.locator("#more-materials").set_input_files(str(document))
    page.get_by_role("button", name="提交补正材料").click()
    assert "租赁合同第二页.pdf" in page.locator("main").inner_text()
    check_page(page, "portal-application-materials-added")

    page.context.clear_cookies()
    sign_in(page, "handler")
    page.goto(url)
    page.get_by_role("button", name="准予办理").click()
    assert "已办结（准予）" in page.locator("main").inner_text()
    check_page(page, "portal-handle-approved")

    page.context.clear_cookies()
    sign_in(page, "wangxm")
    page.goto(url)
    with page.expect_download() as download:
        page.get_by_role("link", name="下载结果证明（PDF）").click()
    pdf = tmp_path / "certificate.pdf"
    download.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF")
    check_page(page, "portal-application-certificate")
    statuses = [e.status for e in Application.objects.get(pk=application.pk).events.order_by("pk")]
    assert statuses == ["submitted", "more_needed", "accepted", "approved"]
