"""Casework pages: the form, the sender's page, the inbox, staff actions, the board, statistics."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from civichub.casework import services
from civichub.casework.models import Case, CaseStatus
from civichub.casework.photos import PhotoUpload
from civichub.casework.tests.conftest import PIN_A1, Casework, jpeg_with_gps
from civichub.core.models import AuditEvent, Organisation, OrganisationKind
from civichub.notify.models import Notification
from civichub.testing.summaries import described_by, summary_targets

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


FORM = {
    "kind": "complaint",
    "category": "",
    "title": "医院挂号难",
    "text": "社区医院每天挂号排队很久，看病很难。",
    "address": "桃源路 8 号",
    "latitude": str(PIN_A1[0]),
    "longitude": str(PIN_A1[1]),
    "is_public": "on",
}


def test_signed_in_resident_sends_a_message_with_a_photo_and_sees_the_tracking_number(
    cw: Casework, after_commit: Callable[[], Any]
) -> None:
    client = client_for(cw.resident)
    photo = SimpleUploadedFile("well.jpg", jpeg_with_gps(), "image/jpeg")

    with after_commit():
        response = client.post(reverse("casework:submit"), {**FORM, "photos": [photo]})

    case = Case.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("casework:sent", args=[case.tracking_number])
    page = client.get(response["Location"]).content.decode()
    assert case.tracking_number in page
    assert case.photos.count() == 1 and case.status == CaseStatus.ASSIGNED
    photo_url = reverse("casework:photo", args=[case.tracking_number, case.photos.get().pk])
    assert client.get(photo_url)["Content-Type"] == "image/jpeg"
    assert client_for(cw.outsider).get(photo_url).status_code == 404
    assert client_for(None).get(photo_url).status_code == 404


def test_form_shows_errors_for_a_wrong_photo_and_stores_nothing(cw: Casework) -> None:
    client = client_for(cw.resident)
    fake = SimpleUploadedFile("x.jpg", b"not an image at all", "image/jpeg")

    response = client.post(reverse("casework:submit"), {**FORM, "photos": [fake], "text": ""})
    page = response.content.decode()

    assert response.status_code == 200
    assert 'aria-invalid="true"' in page
    assert not Case.objects.exists()
    again = SimpleUploadedFile("x.jpg", b"not an image at all", "image/jpeg")
    response = client.post(reverse("casework:submit"), {**FORM, "photos": [again]})
    assert "x.jpg：无法读取这个图片（UnidentifiedImageError）。" in response.content.decode()
    assert not Case.objects.exists()


def test_anonymous_visitor_is_asked_to_verify_a_contact_first(cw: Casework) -> None:
    client = client_for(None)

    response = client.get(reverse("casework:submit"))

    assert response.status_code == 302 and response["Location"] == reverse("casework:verify")
    assert "验证" in client.get(response["Location"]).content.decode()


def test_anonymous_sender_verifies_by_email_sends_and_tracks_with_the_code(
    cw: Casework, after_commit: Callable[[], Any]
) -> None:
    from unittest import mock

    client = client_for(None)
    with mock.patch("civichub.casework.services.contacts.secrets.randbelow", return_value=777777):
        client.post(
            reverse("casework:verify"),
            {"step": "start", "channel": "email", "address": "anon@example.org"},
        )
    confirmed = client.post(reverse("casework:verify"), {"step": "code", "code": "777777"})
    assert confirmed["Location"] == reverse("casework:submit")
    with after_commit():
        sent = client.post(reverse("casework:submit"), FORM)
    case = Case.objects.get()
    page = client.get(sent["Location"]).content.decode()
    assert "查询码" in page

    stranger = client_for(None)
    assert stranger.get(reverse("casework:case", args=[case.tracking_number])).status_code == 302
    wrong = stranger.post(
        reverse("casework:track"),
        {"tracking_number": case.tracking_number, "access_code": "wrong"},
    )
    assert "受理编号或查询码不正确。" in wrong.content.decode()
    assert client.get(reverse("casework:case", args=[case.tracking_number])).status_code == 200


def test_a_session_naming_a_verification_without_its_token_cannot_send(
    cw: Casework, after_commit: Callable[[], Any]
) -> None:
    from unittest import mock

    from civichub.casework.views import SESSION_VERIFICATION, SESSION_VERIFICATION_TOKEN

    victim = client_for(None)
    with mock.patch("civichub.casework.services.contacts.secrets.randbelow", return_value=777777):
        victim.post(
            reverse("casework:verify"),
            {"step": "start", "channel": "email", "address": "victim@example.org"},
        )
    victim.post(reverse("casework:verify"), {"step": "code", "code": "777777"})
    verified_id = victim.session[SESSION_VERIFICATION]
    other = client_for(None)
    other.post(
        reverse("casework:verify"),
        {"step": "start", "channel": "email", "address": "other@example.org"},
    )
    session = other.session  # its own token, but the victim's verification id
    session[SESSION_VERIFICATION] = verified_id
    session.save()

    refused = other.post(reverse("casework:submit"), FORM)

    assert other.session[SESSION_VERIFICATION_TOKEN] != victim.session[SESSION_VERIFICATION_TOKEN]
    assert refused.status_code == 302 and refused["Location"] == reverse("casework:verify")
    assert not Case.objects.exists()
    with after_commit():
        victim.post(reverse("casework:submit"), FORM)
    assert Case.objects.get().contact_email == "victim@example.org"


def test_community_worker_replies_from_the_inbox_and_the_resident_rates(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    case = submit()
    worker = client_for(cw.worker_a1)

    inbox = worker.get(reverse("casework:inbox")).content.decode()
    assert case.tracking_number in inbox
    detail = worker.get(reverse("casework:case", args=[case.tracking_number])).content.decode()
    assert "答复来信人" in detail
    # A signed-in resident is named by their account, not shown as "—".
    sender = detail[
        detail.index("来信人</h2>") : detail.index("</dl>", detail.index("来信人</h2>"))
    ]
    assert f"<dd>{cw.resident.display_name()}</dd>" in sender and "res@example.org" in sender
    worker.post(
        reverse("casework:action", args=[case.tracking_number, "reply"]),
        {"text": "已联系医院增加号源。", "public": "on", "resolved": "yes"},
    )
    resident = client_for(cw.resident)
    # The notification of the reply leads to the rating form and is read once followed.
    replied = Notification.objects.get(
        recipient=cw.resident, dispatch__kind="casework.case_replied"
    )
    assert (
        f'href="/notifications/{replied.pk}/open/"'
        in resident.get("/notifications/").content.decode()
    )
    opened = resident.get(f"/notifications/{replied.pk}/open/")
    assert opened["Location"] == reverse("casework:case", args=[case.tracking_number]) + "#rate"
    replied.refresh_from_db()
    assert replied.read_at is not None
    page = resident.get(opened["Location"]).content.decode()
    assert "已联系医院增加号源。" in page and "评价答复" in page and 'id="rate"' in page

    resident.post(reverse("casework:case", args=[case.tracking_number]), {"value": "basic"})

    case.refresh_from_db()
    assert case.status == CaseStatus.CLOSED
    assert case.ratings.get().value == "basic"


def test_a_progress_reply_is_not_rated_and_leaves_the_case_in_hand_until_the_work_is_done(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    case = submit()
    worker = client_for(cw.worker_a1)
    url = reverse("casework:action", args=[case.tracking_number, "reply"])

    # Whether the reply resolves the matter has no default: a reply without it is refused, and
    # what was typed comes back.
    refused = worker.post(url, {"text": "明天上午派人维修路灯。"}, follow=True).content.decode()
    assert "请选择这条答复是否已解决来信人反映的问题。" in refused
    assert ">明天上午派人维修路灯。</textarea>" in refused
    case.refresh_from_db()
    assert case.first_replied_at is None and not case.events.filter(kind="reply").exists()

    worker.post(url, {"text": "明天上午派人维修路灯。", "resolved": "no"})
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS and case.first_replied_at is not None
    assert Notification.objects.filter(
        recipient=cw.resident, dispatch__kind="casework.case_progress"
    ).exists()
    assert not Notification.objects.filter(
        recipient=cw.resident, dispatch__kind="casework.case_replied"
    ).exists()
    resident = client_for(cw.resident)
    page = resident.get(reverse("casework:case", args=[case.tracking_number])).content.decode()
    assert "明天上午派人维修路灯。" in page and "办理进展" in page
    assert "评价答复" not in page and "届时请您评价" in page
    # A rating sent anyway (an old form, a crafted request) is refused: nothing waits for it.
    resident.post(reverse("casework:case", args=[case.tracking_number]), {"value": "basic"})
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS and not case.ratings.exists()

    # The work done, the reply that resolves it is rated; the rules of closing are stated.
    worker.post(url, {"text": "路灯已修好。", "resolved": "yes"})
    page = resident.get(reverse("casework:case", args=[case.tracking_number])).content.decode()
    assert "评价答复" in page and "留言即办结" in page
    assert "您对答复是否满意？</legend>" in page or "您对答复是否满意？</label>" in page
    resident.post(reverse("casework:case", args=[case.tracking_number]), {"value": "basic"})
    case.refresh_from_db()
    assert case.status == CaseStatus.CLOSED


def test_staff_action_errors_are_shown_on_the_case_page_in_the_readers_language(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    case = submit()
    worker = client_for(cw.worker_a1)
    url = reverse("casework:action", args=[case.tracking_number, "transfer"])
    data = {"reason": "", "category": "security"}

    chinese = worker.post(url, data, follow=True).content.decode()
    worker.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = worker.post(url, data, follow=True).content.decode()

    # The sentence in the summary, linked to the reason's box, and beside the box (never twice in
    # the summary), never a bare error code.
    assert chinese.count("请填写转办理由。") == 2
    assert english.count("Give the reason for the transfer.") == 2
    assert summary_targets(chinese) == ["transfer-reason"]
    assert described_by(chinese, "transfer-reason") == ["transfer-reason-error"]
    assert "请填写转办理由" not in english and "<p>required</p>" not in english
    case.refresh_from_db()
    assert case.department == cw.city.health_a


def test_a_pin_off_the_map_is_shown_at_the_address_box(cw: Casework) -> None:
    """The pin is hidden fields: its problem is at the place's visible box, which the summary
    links to and which names the message, beside its hint."""
    page = (
        client_for(cw.resident)
        .post(reverse("casework:submit"), {**FORM, "latitude": "95"})
        .content.decode()
    )
    assert summary_targets(page) == ["id_address"]
    assert described_by(page, "id_address") == ["id_address_helptext", "id_address_error"]
    assert "地图上的标记有误：" in page
    assert not Case.objects.exists()


def test_a_reply_without_its_outcome_is_shown_at_the_choice(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    """The handler must say whether the reply resolves the matter: the problem links to that
    choice, which names it, and the typed reply comes back."""
    case = submit()
    worker = client_for(cw.worker_a1)
    url = reverse("casework:action", args=[case.tracking_number, "reply"])
    page = worker.post(url, {"text": "明天派人维修。"}, follow=True).content.decode()
    assert summary_targets(page) == ["reply-resolved"]
    assert described_by(page, "reply-resolved") == ["reply-resolved-error"]
    assert "明天派人维修。</textarea>" in page


def test_english_pages_show_english_names_counts_and_actions(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    case = submit(category_key="health", is_public=True)
    services.case_extension_request(actor=cw.handler, case=case, days=1, reason="等待化验结果")
    client = client_for(cw.head)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    inbox = client.get(reverse("casework:inbox")).content.decode()
    detail = client.get(reverse("casework:case", args=[case.tracking_number])).content.decode()
    board = client_for(None)
    board.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    public = board.get(reverse("casework:board")).content.decode()

    assert "1 message." in inbox and "Donghu Health Commission" in inbox
    assert "<dd>Health" in detail and "<dd>Taoyuan Community</dd>" in detail
    assert "Extension requested: 1 working day. Reason: 等待化验结果" in detail
    assert "1 public message." in public and "Donghu Health Commission" in public
    for page in (inbox, detail, public):
        for name in (cw.city.health_a.name, cw.city.community_a1.name, cw.health.name):
            assert name not in page, name


def test_out_of_scope_staff_get_a_403_page(cw: Casework, submit: Callable[..., Case]) -> None:
    case = submit()

    response = client_for(cw.worker_b1).post(
        reverse("casework:action", args=[case.tracking_number, "reply"]), {"text": "x"}
    )
    page = client_for(cw.outsider).get(reverse("casework:case", args=[case.tracking_number]))

    assert response.status_code == 403
    assert page.status_code == 404
    # The refusal is said in words; the permission's code stays inside.
    refusal = response.content.decode()
    assert "您无权在此执行该操作" in refusal and "casework.case" not in refusal


def test_inbox_highlights_overdue_cases_in_words(cw: Casework, submit: Callable[..., Case]) -> None:
    import datetime as dt

    case = submit()
    Case.objects.filter(pk=case.pk).update(due_at=case.created_at - dt.timedelta(hours=1))

    page = client_for(cw.handler).get(reverse("casework:inbox"), {"due": "overdue"})

    assert "已超期" in page.content.decode() and case.tracking_number in page.content.decode()


def test_staff_log_a_phone_call(cw: Casework, after_commit: Callable[[], Any]) -> None:
    client = client_for(cw.worker_a1)
    with after_commit():
        response = client.post(
            reverse("casework:log_call"),
            {**FORM, "contact_name": "张大爷", "contact_phone": "13700000009"},
        )

    assert response.status_code == 302
    assert Case.objects.get().channel == "phone"


def test_public_board_shows_public_messages_and_replies_without_personal_data(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    public = submit(is_public=True, address="桃源路 8 号 3 单元", contact_name="李秀英")
    private = submit(is_public=False, title="私密留言")
    services.case_reply(actor=cw.handler, case=public, text="公开答复内容")
    services.case_reply(actor=cw.handler, case=private, text="不公开的答复")

    page = client_for(None).get(reverse("casework:board"), {"q": "挂号"}).content.decode()

    assert public.tracking_number in page and "公开答复内容" in page
    assert private.tracking_number not in page and "不公开的答复" not in page
    assert "桃源路 8 号 3 单元" not in page and "李秀英" not in page


def test_statistics_page_draws_bars_and_exports_csv(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    submit()
    client = client_for(cw.dispatcher)

    page = client.get(reverse("casework:statistics")).content.decode()
    export = client.get(reverse("casework:statistics"), {"format": "csv"})

    assert "<svg" in page and "<rect" in page and cw.city.health_a.name in page
    assert export["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert rows[0]["section"] == "total" and rows[0]["volume"] == "1"
    assert client_for(cw.handler).get(reverse("casework:statistics")).status_code == 403


def test_statistics_trend_is_columns_over_time_with_empty_weeks(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    submit()
    client = client_for(cw.dispatcher)
    today = timezone.localdate()

    page = client.get(
        reverse("casework:statistics"),
        {"since": (today - dt.timedelta(days=27)).isoformat(), "until": today.isoformat()},
    ).content.decode()

    trend = page[page.index('id="over-time"') :]
    trend = trend[: trend.index("</svg>")]
    # Time along x: one column per week of the four (and a part), the empty ones at height 0.
    assert 'class="chart chart-columns"' in trend and 'class="axis"' in trend
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([0-9.]+)"', trend)]
    assert len(heights) in {4, 5} and heights.count(0) >= 3 and heights[-1] > 0
    assert "件</text>" in trend


def test_dashboard_shows_open_and_overdue_tiles(cw: Casework, submit: Callable[..., Case]) -> None:
    submit()

    page = client_for(cw.handler).get(reverse("core:dashboard")).content.decode()

    assert "待办留言" in page and "超期留言" in page


def test_staff_reading_the_inbox_and_a_photo_leave_audit_rows_the_sender_does_not(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    case = submit(photos=[PhotoUpload(name="home.jpg", data=jpeg_with_gps())])
    photo = case.photos.get()
    photo_url = reverse("casework:photo", args=[case.tracking_number, photo.pk])
    staff = client_for(cw.handler)

    assert case.tracking_number in staff.get(reverse("casework:inbox")).content.decode()
    assert staff.get(photo_url)["Content-Type"] == "image/jpeg"
    assert client_for(cw.resident).get(photo_url)["Content-Type"] == "image/jpeg"

    listed = AuditEvent.objects.get(action="casework.case.list")
    assert (listed.actor, listed.changes["shown"]) == (cw.handler, [case.pk])
    viewed = AuditEvent.objects.get(action="casework.photo.view")
    assert (viewed.actor, viewed.object_type, viewed.object_id) == (
        cw.handler,
        "casework.casephoto",
        str(photo.pk),
    )
    assert viewed.organisation_path and viewed.purpose


def test_the_inbox_through_the_api_is_audited_too(
    cw: Casework, submit: Callable[..., Case], api_as: Callable[..., Any]
) -> None:
    case = submit()

    assert api_as(cw.handler).get("/api/casework/cases").json()["total"] == 1

    listed = AuditEvent.objects.get(action="casework.case.list")
    assert listed.changes["shown"] == [case.pk]


def test_staff_read_the_routing_and_transfers_in_words_not_codes(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    case = submit()
    services.case_transfer(actor=cw.handler, case=case, reason="是治安问题", category=cw.police)
    page = client_for(cw.police_handler).get(reverse("casework:case", args=[case.tracking_number]))
    html = page.content.decode()
    routed = case.events.get(kind="routed").data
    category = case.category
    assert category is not None and routed["category"] == category.key
    assert f"{category.name}" in html
    at = html.find(f"类别 {routed['category']}")
    assert at == -1, html[at - 300 : at + 100]
    assert "置信度" not in html
    assert f"{cw.city.health_a.name} → {cw.city.police_city.name}" in html
    assert f"{cw.city.health_a.code} →" not in html


def test_the_transfer_list_groups_departments_under_their_city_or_district(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    """Forty departments in one flat list were hard to search: each is listed once, under the
    city or district it belongs to."""
    case = submit()
    html = client_for(cw.worker_a1).get(reverse("casework:case", args=[case.tracking_number]))
    page = html.content.decode()
    start = page.index('id="transfer-department"')
    listing = page[start : page.index("</select>", start)]
    groups = re.findall(r'<optgroup label="([^"]+)">(.*?)</optgroup>', listing, re.S)
    departments = Organisation.objects.filter(kind=OrganisationKind.DEPARTMENT)
    assert len(groups) == len({d.parent_id for d in departments}) >= 2
    for label, options in groups:
        listed = {int(pk) for pk in re.findall(r'<option value="(\d+)">', options)}
        parents = {d.parent.name for d in departments if d.pk in listed and d.parent is not None}
        assert listed and parents == {label}
    assert sum(len(re.findall(r"<option value=\"\d+\">", o)) for _, o in groups) == len(departments)


def _primary_and_more(html: str) -> tuple[str, list[str]]:
    """The staff page's primary action (the form's id) and the actions under "more actions"."""
    start = html.index('<section aria-labelledby="actions-heading">')
    section = html[start : html.index("</section>", start)]
    primary = re.search(r'<div class="primary-action">\s*<form [^>]*id="(\w+)"', section)
    more = section[section.index('<details class="more-actions"') :]
    return (primary[1] if primary else ""), re.findall(r'<form [^>]*class="card" id="(\w+)"', more)


def test_the_staff_page_puts_the_next_step_first_by_the_cases_state(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    """One primary action, filled; the others under "more actions" (a <details>, no script):
    triage while the message waits for it, the reply while the case is in hand, the decision
    while an extension waits for it, closing once replied."""

    def page(user: Any, case: Case) -> str:
        url = reverse("casework:case", args=[case.tracking_number])
        return client_for(user).get(url).content.decode()

    unsure = submit(title="一件事", text="想反映一个情况，不知道找谁。")
    primary, more = _primary_and_more(page(cw.dispatcher, unsure))
    assert primary == "triage" and "transfer" in more and "triage" not in more

    case = submit()
    html = page(cw.worker_a1, case)
    primary, more = _primary_and_more(html)
    assert primary == "reply" and "note" in more and "reply" not in more
    assert '<details class="more-actions">' in html  # closed until asked for
    reply = html[html.index('id="reply"') : html.index("</form>", html.index('id="reply"'))]
    assert 'class="secondary"' not in reply
    assert html.count('<button type="submit" class="secondary">') == len(more)

    services.case_extension_request(actor=cw.handler, case=case, days=1, reason="等待化验结果")
    assert _primary_and_more(page(cw.head, case))[0] == "extend_decide"
    assert "延期申请待部门负责人审批。" in page(cw.worker_a1, case)

    progress = submit()
    client_for(cw.worker_a1).post(
        reverse("casework:action", args=[progress.tracking_number, "reply"]),
        {"text": "已联系医院增加号源。", "resolved": "yes"},
    )
    assert _primary_and_more(page(cw.handler, progress))[0] == "close"


def test_a_refused_secondary_action_opens_more_actions(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    """The summary links to a box under "more actions": the group is open, so the link lands."""
    case = submit()
    worker = client_for(cw.worker_a1)
    url = reverse("casework:action", args=[case.tracking_number, "note"])
    html = worker.post(url, {"text": ""}, follow=True).content.decode()
    assert summary_targets(html) == ["note-text"]
    assert '<details class="more-actions" open>' in html
