"""The portal's pages: the public home at `/` (staff keep their workbench), the guide with its
JSON-LD, the CPSV-AP export, applying with prefill, and the staff pages."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from civichub.portal.models import Application, Service
from civichub.portal.tests.conftest import Portal
from civichub.testing.city import staff_user
from civichub.testing.summaries import described_by, summary_targets

pytestmark = pytest.mark.django_db


def _signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_anonymous_visitor_gets_the_public_home_page(portal: Portal) -> None:
    page = Client().get("/")
    assert page.status_code == 200
    text = page.content.decode()
    assert 'role="search"' in text and "按人生大事找服务" in text
    assert "/messages/new/" in text and "/messages/board/" in text


def test_a_resident_sees_their_own_corner_and_staff_keep_the_workbench(portal: Portal) -> None:
    text = _signed_in(portal.applicant).get("/").content.decode()
    assert "我的办件" in text and "我的信息" in text
    workbench = _signed_in(staff_user("department_head", portal.departments["health"])).get("/")
    assert workbench.status_code == 200
    assert "按人生大事找服务" not in workbench.content.decode()


def test_the_guide_page_carries_every_element_and_government_service_json_ld(
    portal: Portal,
) -> None:
    service = Service.objects.get(published__name="居住证申领")
    text = Client().get(f"/services/{service.code}/").content.decode()
    for element in ("事项编码", "设定依据", "受理条件", "承诺办结时限", "到现场次数", "申请材料"):
        assert element in text
    block = re.search(r'<script type="application/ld\+json">(.*?)</script>', text, re.S)
    assert block is not None
    data = json.loads(block.group(1))
    assert data["@type"] == "GovernmentService" and data["identifier"] == service.code
    assert data["serviceOperator"]["name"] == "青山市公安局"
    english = Client(headers={"accept-language": "en"}).get(f"/services/{service.code}/")
    assert "Residence permit application" in english.content.decode()


def test_the_catalogue_exports_cpsv_ap_with_the_mandatory_properties(portal: Portal) -> None:
    data = Client().get("/services/catalogue.jsonld").json()
    services = [n for n in data["@graph"] if n["@type"] == "cpsv:PublicService"]
    assert len(services) == Service.objects.count()
    for node in services:
        assert {
            "dct:identifier",
            "dct:title",
            "dct:description",
            "cv:hasCompetentAuthority",
        } <= set(node)


def test_search_page_groups_results(portal: Portal) -> None:
    text = Client().get("/services/", {"q": "shebao"}).content.decode()
    assert "社会保障卡申领" in text and "服务事项" in text


def test_a_resident_applies_with_prefilled_values_shown_with_their_source(portal: Portal) -> None:
    service = Service.objects.get(published__name="社会保障卡申领")
    client = _signed_in(portal.applicant)
    consent = client.get(f"/services/{service.code}/apply/")
    assert "同意读取并自动填写" in consent.content.decode()
    form = client.post(f"/services/{service.code}/apply/", {"step": "form", "consent": "yes"})
    text = form.content.decode()
    assert "王小梅" in text and "居民信息登记" in text
    photo = SimpleUploadedFile("照片.png", b"\x89PNG\r\n\x1a\n....", content_type="image/png")
    done = client.post(
        f"/services/{service.code}/apply/",
        {"step": "submit", "consent": "yes", "materials": photo},
    )
    application = Application.objects.get()
    assert done.status_code == 302 and application.reference in done["Location"]
    mine = client.get("/services/mine/").content.decode()
    assert application.reference in mine


def test_staff_handle_from_the_queue(portal: Portal, handler: Any) -> None:
    service = Service.objects.get(published__name="最低生活保障申请")
    client = _signed_in(portal.applicant)
    pdf = SimpleUploadedFile("a.pdf", b"%PDF-1.4 x", content_type="application/pdf")
    client.post(
        f"/services/{service.code}/apply/", {"step": "submit", "consent": "yes", "materials": pdf}
    )
    application = Application.objects.get()
    staff = _signed_in(handler)
    assert application.reference in staff.get("/services/queue/").content.decode()
    material = application.materials.get()
    download = staff.get(f"/services/applications/{application.reference}/materials/{material.pk}/")
    assert download.status_code == 200 and download.getvalue().startswith(b"%PDF")
    other = _signed_in(staff_user(None, None))
    url = f"/services/applications/{application.reference}/materials/{material.pk}/"
    assert other.get(url).status_code == 403
    staff.post(f"/services/applications/{application.reference}/approve/")
    application.refresh_from_db()
    assert application.status == "approved"
    verify = Client().get("/services/verify/", {"code": application.verification_code})
    assert "核验通过" in verify.content.decode()
    assert Client().get("/services/verify/", {"code": "NOPE"}).content.decode().count("核验码无效")


def test_staff_edit_a_guide_and_publish_it_from_the_pages(
    portal: Portal, handler: Any, head: Any
) -> None:
    service = Service.objects.get(published__name="最低生活保障申请")
    assert service.published is not None
    content = dict(service.published.content, phone="0990-88888888")
    editor = _signed_in(handler)
    editor.post(
        f"/services/manage/{service.code}/",
        {
            "name": "最低生活保障申请",
            "name_en": "Dibao",
            "content": json.dumps(content, ensure_ascii=False),
            "submit_for_review": "on",
        },
    )
    draft = service.versions.get(number=2)
    assert draft.state == "in_review"
    _signed_in(head).post(f"/services/manage/versions/{draft.pk}/publish/", {"note": "ok"})
    page = Client().get(f"/services/{service.code}/").content.decode()
    assert "0990-88888888" in page


def test_a_bad_application_is_summarised_at_the_top_each_problem_linked_to_its_box(
    portal: Portal,
) -> None:
    service = Service.objects.get(published__name="社会保障卡申领")
    client = _signed_in(portal.applicant)
    refused = client.post(f"/services/{service.code}/apply/", {"step": "submit", "consent": "no"})
    html = refused.content.decode()
    assert refused.status_code == 422 and not Application.objects.exists()
    summary = html[html.index('id="error-summary"') :]
    summary = summary[: summary.index("</div>")]
    assert 'role="alert" tabindex="-1" autofocus' in summary
    links = re.findall(r'<a href="#([^"]+)">', summary)
    assert links and all(f'id="{target}"' in html for target in links)
    assert all(f'aria-describedby="{t.removeprefix("field-")}-error"' in html for t in links)


def test_an_application_refused_as_a_whole_links_to_the_first_box(portal: Portal) -> None:
    """A service closed to online applications after the form was opened: the problem is of the
    application as a whole, and the summary links to the form's first box."""
    service = Service.objects.get(published__name="社会保障卡申领")
    client = _signed_in(portal.applicant)
    Service.objects.filter(pk=service.pk).update(online_application=False)
    refused = client.post(f"/services/{service.code}/apply/", {"step": "submit", "consent": "no"})
    html = refused.content.decode()
    targets = summary_targets(html)
    assert len(targets) == 1 and targets[0].startswith("field-") and "暂不支持网上申请" in html


def test_a_refused_handling_step_links_to_its_box_or_to_the_status(
    portal: Portal, handler: Any
) -> None:
    """A refusal without its reason is shown at the reason's box; a rating before the decision,
    a refusal of the application's state, at its status."""
    service = Service.objects.get(published__name="最低生活保障申请")
    applicant = _signed_in(portal.applicant)
    pdf = SimpleUploadedFile("a.pdf", b"%PDF-1.4 x", content_type="application/pdf")
    applicant.post(
        f"/services/{service.code}/apply/", {"step": "submit", "consent": "yes", "materials": pdf}
    )
    page = f"/services/applications/{Application.objects.get().reference}/"
    staff = _signed_in(handler)
    staff.post(f"{page}refuse/", {"note": ""})
    html = staff.get(page).content.decode()
    assert summary_targets(html) == ["note-refuse"] and "不予办理须说明理由和依据。" in html
    assert described_by(html, "note-refuse") == ["note-refuse-error"]
    assert "error-summary" not in staff.get(page).content.decode()  # shown once
    applicant.post(f"{page}rate/", {"rating": "5"})
    html = applicant.get(page).content.decode()
    assert summary_targets(html) == ["application-status"] and "办结后才能评价" in html


def test_a_refused_review_step_links_to_its_box_or_to_the_history(
    portal: Portal, handler: Any, head: Any
) -> None:
    """A return without its reason is shown at the reason's box of the version; a draft's own
    author (who may not review) publishing it, at the note's box; a bad guide at its box; a
    step on a version that no longer waits for review, at the version history."""
    service = Service.objects.get(published__name="最低生活保障申请")
    assert service.published is not None
    page = f"/services/manage/{service.code}/"
    editor = _signed_in(handler)
    bad = editor.post(page, {"name": "最低生活保障申请", "content": "{", "submit_for_review": "on"})
    assert bad.status_code == 422
    assert summary_targets(bad.content.decode()) == ["id_content"]
    content = json.dumps(service.published.content, ensure_ascii=False)
    editor.post(page, {"name": "最低生活保障申请", "content": content, "submit_for_review": "on"})
    draft = service.versions.get(number=2)
    reviewer = _signed_in(head)
    reviewer.post(f"/services/manage/versions/{draft.pk}/return/", {"note": ""})
    html = reviewer.get(page).content.decode()
    assert summary_targets(html) == [f"ret-{draft.pk}"] and "退回须说明理由。" in html
    assert described_by(html, f"ret-{draft.pk}") == [f"ret-{draft.pk}-error"]
    assert "error-summary" not in reviewer.get(page).content.decode()  # shown once
    editor.post(f"/services/manage/versions/{draft.pk}/publish/", {"note": ""})
    html = editor.get(page).content.decode()
    assert summary_targets(html) == [f"note-{draft.pk}"]
    reviewer.post(f"/services/manage/versions/{draft.pk}/publish/", {"note": "ok"})
    reviewer.post(f"/services/manage/versions/{draft.pk}/publish/", {"note": "ok"})
    html = reviewer.get(page).content.decode()
    assert summary_targets(html) == ["history-h"] and "只有待审核的版本可以发布。" in html
