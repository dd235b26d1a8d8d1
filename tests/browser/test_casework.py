"""Citizens' messages in a real browser: a resident sends a message with a photo, the community
worker finds it in the inbox and replies, the resident reads the reply and rates it; on a phone
and a desktop, in Chinese and English, the resident follows the reply's notification to the
message and rates it there. Every page on the way is checked with axe."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.support import (
    FOUR_WAYS,
    PASSWORD,
    PHONE,
    check_page,
    choose_language,
    fits_width,
    shows_no_code,
    sign_in,
    words,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from civichub.core.models import User

pytestmark = [pytest.mark.browser, pytest.mark.either_database]

PIN = (30.0, 120.0)


@pytest.fixture
def casework_city(city: Any, community_worker: User, settings: Any, tmp_path: Any) -> User:
    """The health category routed to the Donghu health commission, community A1's area around
    PIN, tasks run at once; returns the resident who will write."""
    from civichub.casework import services
    from civichub.testing.areas import community_areas_set
    from civichub.testing.city import staff_user

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    settings.MEDIA_ROOT = tmp_path / "media"
    services.category_create(
        actor=None,
        key="health",
        name="医疗卫生",
        department=city.health_a,
        keywords=["医院", "挂号", "看病"],
    )
    community_areas_set({city.community_a1: PIN}, radius_m=500)
    return staff_user(
        None,
        None,
        username="lixiuying",
        password=PASSWORD,
        last_name="李",
        first_name="秀英",
        phone="13800000001",
    )


def _photo(tmp_path: Any) -> Any:
    from PIL import Image

    path = tmp_path / "queue.jpg"
    image = Image.new("RGB", (120, 90), "orange")
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (30.0, 0.0, 0.0), 3: "E", 4: (120.0, 0.0, 0.0)}
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes())
    path.write_bytes(buffer.getvalue())
    return path


def _new_page(chromium: Browser, live_server: Any) -> Page:
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 800}, locale="zh-CN"
    )
    context.set_default_timeout(10_000)
    return context.new_page()


def test_resident_writes_worker_replies_resident_rates(
    page: Page, chromium: Browser, live_server: Any, casework_city: User, tmp_path: Any
) -> None:
    from civichub.casework.models import Case

    # The resident writes, with a photo.
    sign_in(page, "lixiuying")
    page.goto("/messages/new/")
    check_page(page, "casework-submit")
    page.get_by_label("留言类型").select_option("complaint")
    page.get_by_label("标题").fill("社区医院挂号难")
    page.get_by_label("留言内容").fill("桃源社区医院每天挂号排队很久，老人看病很难。")
    page.get_by_label("地点（地址）").fill("桃源社区卫生服务站")
    page.get_by_label("照片（可多选，JPEG/PNG/WebP）").set_input_files(str(_photo(tmp_path)))
    page.get_by_label("同意在留言公开栏公开本留言（不显示姓名、联系方式和地址）").check()
    with page.expect_navigation():
        page.get_by_role("button", name="提交留言").click()

    case = Case.objects.get()
    assert case.tracking_number in page.locator("main").inner_text()
    check_page(page, "casework-sent")
    assert case.photos.count() == 1 and case.community is not None
    assert case.department is not None

    # The community worker finds it in the inbox and replies.
    worker = _new_page(chromium, live_server)
    sign_in(worker, "wangfang")
    worker.goto("/messages/inbox/")
    check_page(worker, "casework-inbox")
    with worker.expect_navigation():
        worker.get_by_role("link", name=case.tracking_number).click()
    assert worker.get_by_role("img", name="留言照片 1").is_visible()
    check_page(worker, "casework-case-staff")
    # One primary action for a case in hand, the reply; the others wait under "more actions".
    assert worker.get_by_role("button", name="发送答复").is_visible()
    assert not worker.get_by_role("button", name="保存备注").is_visible()
    worker.get_by_text("更多操作").click()
    assert worker.get_by_role("button", name="保存备注").is_visible()
    worker.get_by_label("答复内容").fill("您好，已协调社区医院增加上午号源，并开通电话预约。")
    worker.get_by_label("已解决：请来信人评价，满意即办结").check()
    with worker.expect_navigation():
        worker.get_by_role("button", name="发送答复").click()
    assert "答复已发送" in worker.locator("main").inner_text()

    # The resident reads the reply and rates it.
    page.goto(f"/messages/{case.tracking_number}/")
    main = page.locator("main").inner_text()
    assert "已协调社区医院增加上午号源" in main
    check_page(page, "casework-case-sender")
    page.get_by_label("基本满意").check()
    page.get_by_label("意见（可选）").fill("希望尽快落实。")
    with page.expect_navigation():
        page.get_by_role("button", name="提交评价").click()

    assert "感谢您的评价" in page.locator("main").inner_text()
    case.refresh_from_db()
    assert case.status == "closed" and case.ratings.get().value == "basic"


def test_public_board_and_message_form_fit_a_phone(page: Page, casework_city: User) -> None:
    page.set_viewport_size(PHONE)
    sign_in(page, "lixiuying")

    for url, name in (
        ("/messages/new/", "casework-submit-phone"),
        ("/messages/board/", "casework-board-phone"),
    ):
        page.goto(url)
        widths = page.evaluate(
            "({scroll: document.documentElement.scrollWidth, view: window.innerWidth})"
        )
        assert widths["scroll"] <= widths["view"], f"{url} scrolls sideways: {widths}"
        check_page(page, name)


@FOUR_WAYS
def test_a_resident_follows_the_reply_notification_and_rates_the_reply(
    chromium: Browser, live_server: Any, mapped_city: Any, language: str, viewport: Any
) -> None:
    """The reply's notification links to the message; opened, it is read, the reply and the
    rating form are there, and the rating closes the resolved case. Every page fits the screen's
    width, shows no internal code and passes axe."""
    from civichub.casework import services
    from civichub.casework.models import Case
    from civichub.core.models import User
    from civichub.notify.models import Notification

    resident = User.objects.get(username="lixiuying")
    sent = services.case_submit(
        actor=resident,
        kind="complaint",
        title="楼下路灯坏了",
        text="桃园路 12 号楼下的路灯已经坏了三天，晚上很黑。",
        address="桃园路 12 号",
    )
    streets = services.category_create(
        actor=None, key="streets", name="市政设施", department=mapped_city.health_a
    )
    case = services.case_triage(
        actor=None, case=Case.objects.get(pk=sent.case.pk), category=streets
    )
    services.case_reply(
        actor=User.objects.get(username="wangfang"),
        case=case,
        text="路灯已修好，请您看看。",
        resolved=True,
    )
    reply = Notification.objects.get(recipient=resident, dispatch__kind="casework.case_replied")
    context = chromium.new_context(base_url=live_server.url, viewport=viewport, locale="zh-CN")
    context.set_default_timeout(15_000)
    context.set_default_navigation_timeout(60_000)
    page = context.new_page()
    shot = f"casework-rate-{language}-{viewport['width']}"
    try:
        sign_in(page, "lixiuying")
        choose_language(page, language)
        page.goto("/notifications/")
        for check in (fits_width, shows_no_code):
            check(page)
        check_page(page, f"{shot}-notifications")
        with page.expect_navigation():
            page.locator(f'main a[href="/notifications/{reply.pk}/open/"]').first.click()
        assert f"/messages/{case.tracking_number}/" in page.url
        reply.refresh_from_db()
        assert reply.read_at is not None
        assert "路灯已修好，请您看看。" in page.locator("main").inner_text()
        for check in (fits_width, shows_no_code):
            check(page)
        check_page(page, f"{shot}-message")
        # Each choice sits beside its words on one line (the buttons stood above them).
        radio = page.locator("input[name=value][value=basic]")
        line, box = page.locator("label", has=radio).bounding_box(), radio.bounding_box()
        assert line is not None and box is not None and line["height"] < 60, line
        assert line["y"] <= box["y"] + box["height"] / 2 <= line["y"] + line["height"]
        page.get_by_label(words(language, "基本满意")).check()
        with page.expect_navigation():
            page.get_by_role("button", name=words(language, "提交评价")).click()
        assert words(language, "感谢您的评价。") in page.locator("main").inner_text()
        for check in (fits_width, shows_no_code):
            check(page)
        check_page(page, f"{shot}-rated")
    finally:
        context.close()
    case.refresh_from_db()
    assert case.status == "closed" and case.ratings.get().value == "basic"
