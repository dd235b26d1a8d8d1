"""Emergency blood donors in a real browser: hospital staff create a request on the board, the
first wave's SMS reaches a donor, who accepts on a phone-width page from the link without
signing in, and the board then shows the arrival and the donation. Every page is checked with
axe."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.support import DESKTOP, PASSWORD, PHONE, check_page, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.either_database]


@pytest.fixture
def hospital_staff(city: Any) -> Any:
    from django.utils import timezone

    from civichub.donors import services
    from civichub.testing.city import hospital_create, staff_user

    hospital = hospital_create(city.district_a)
    today = timezone.localdate()
    services.donor_register(
        actor=None,
        registration=services.Registration(
            name="赵磊",
            phone="13900000001",
            community=city.community_a1,
            details=services.DonorDetails(
                sex="male",
                birth_date=today.replace(year=today.year - 32),
                weight_kg=70,
                abo="O",
                rhd="pos",
            ),
            health_consent=True,
            location_consent=True,
            latitude=30.6610,
            longitude=104.0610,
            crs="wgs84",
            verified=True,
        ),
    )
    return staff_user(
        "hospital_staff", hospital, username="linyi", password=PASSWORD, last_name="林"
    )


def test_a_request_is_met_by_a_donor_who_accepts_from_the_sms_link(
    chromium: Browser, live_server: Any, hospital_staff: Any
) -> None:
    from civichub.donors import services
    from civichub.donors.models import BloodRequest
    from civichub.notify.models import Dispatch

    staff = chromium.new_context(base_url=live_server.url, viewport=DESKTOP, locale="zh-CN")
    staff.set_default_timeout(10_000)
    donor = chromium.new_context(base_url=live_server.url, viewport=PHONE, locale="zh-CN")
    donor.set_default_timeout(10_000)
    try:
        board = staff.new_page()
        sign_in(board, hospital_staff.username)
        board.goto("/donors/")
        check_page(board, "donors-board")
        board.get_by_label("血液成分").select_option("red_cells")
        board.get_by_label("患者 ABO 血型").select_option("O")
        board.get_by_label("患者 RhD").select_option("pos")
        board.get_by_label("献血地点（接受召集后才告知献血者）").fill("东湖区人民医院输血科")
        board.get_by_label("纬度").fill("30.6600")
        board.get_by_label("经度").fill("104.0600")
        board.get_by_label("坐标系").select_option("wgs84")
        with board.expect_navigation():
            board.get_by_role("button", name="发起召集").click()
        request = BloodRequest.objects.get()
        # The worker runs the first wave the request queued.
        assert services.call_up_wave(request_id=request.pk) == 1
        sms = Dispatch.objects.get(kind="donors.call_up").text("zh-hans")["body"]
        link = re.search(r"/donors/r/[^/\s]+/", sms)
        assert link is not None, sms

        phone = donor.new_page()
        phone.goto(link.group(0))
        check_page(phone, "donors-respond")
        with phone.expect_navigation():
            phone.get_by_role("button", name="我能来献血").click()
        code = phone.locator("#check-in-code").inner_text()
        assert re.fullmatch(r"\d{6}", code)
        assert "东湖区人民医院输血科" in phone.locator("#address").inner_text()
        check_page(phone, "donors-accepted")

        board.reload()
        assert code in board.locator("table").inner_text()
        with board.expect_navigation():
            board.get_by_role("button", name="已到达").click()
        assert "已到达 1" in board.locator("#counts").inner_text()
        with board.expect_navigation():
            board.get_by_role("button", name="已献血").click()
        assert "已献血 1" in board.locator("#counts").inner_text()
        assert board.locator("#request-status").inner_text() == "已满足"
        check_page(board, "donors-request")
    finally:
        staff.close()
        donor.close()


def test_a_resident_registers_as_a_donor_on_a_phone(chromium: Browser, live_server: Any) -> None:
    from civichub.donors.models import Donor
    from civichub.testing.city import build_city, staff_user

    city = build_city()
    resident = staff_user(None, None, username="lina", password=PASSWORD, last_name="李")
    context = chromium.new_context(base_url=live_server.url, viewport=PHONE, locale="zh-CN")
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        sign_in(page, resident.username)
        page.goto("/donors/me/register/")
        check_page(page, "donors-register")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.get_by_label("姓名").fill("李娜")
        page.get_by_label("手机号码（召集短信发到这里）").fill("13912345678")
        page.get_by_label("居住或工作的社区（工作人员只看到社区，不看到地址）").select_option(
            str(city.community_a1.pk)
        )
        page.get_by_label("我同意保存和使用我的健康信息").check()
        page.get_by_label("ABO 血型（本人填报，血站检测后更正）").select_option("O")
        page.get_by_label("RhD 血型").select_option("neg")
        page.get_by_label("性别").select_option("female")
        page.get_by_label("出生日期").fill("1995-04-02")
        page.get_by_label("体重（公斤）").fill("五十二")
        with page.expect_navigation():
            page.get_by_role("button", name="登记").click()
        # Refused with the reason next to the field; what was typed is still there.
        assert "请用数字填写体重（公斤）。" in page.locator("#weight_kg-error").inner_text()
        assert page.get_by_label("姓名").input_value() == "李娜"
        assert page.get_by_label("我同意保存和使用我的健康信息").is_checked()
        check_page(page, "donors-register-error")
        page.get_by_label("体重（公斤）").fill("52")
        with page.expect_navigation():
            page.get_by_role("button", name="登记").click()
        assert "谢谢您成为献血志愿者" in page.locator("#notice").inner_text()
        donor = Donor.objects.get(user=resident)
        assert donor.group_label == "O-" and donor.health_consent and not donor.location_consent
        check_page(page, "donors-mine")
    finally:
        context.close()
