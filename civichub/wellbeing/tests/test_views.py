"""The worker's phone pages: the visit page shows the explanation, evidence and chart, and its
forms accept the visit and record the outcome."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from civichub.core import services as core
from civichub.core.models import AuditEvent
from civichub.testing.summaries import described_by, summary_targets
from civichub.wellbeing import services
from civichub.wellbeing.models import Household, VisitStatus, VisitTask
from civichub.wellbeing.services import MeterSpec
from civichub.wellbeing.tests.test_services import home, quiet_day  # noqa: F401

pytestmark = pytest.mark.django_db


def _no_use_visit_and_its_worker(home: dict[str, Any]) -> tuple[VisitTask, Client]:  # noqa: F811
    """A quiet day raises a no-use alert whose visit task goes to the community's worker: the
    task, and a client signed in as that worker."""
    services.readings_ingest(actor=home["feed"], rows=quiet_day())
    services.detection_run(household_id=home["household"].pk)
    services.alerts_escalate(now=timezone.now() + timedelta(minutes=30))
    task = VisitTask.objects.get(alert__kind="no_use")
    client = Client()
    client.force_login(home["worker"])
    return task, client


def test_a_worker_sees_the_alert_and_records_the_visit(home: dict[str, Any]) -> None:  # noqa: F811
    task, client = _no_use_visit_and_its_worker(home)
    listing = client.get("/wellbeing/visits/")
    assert "王秀英" in listing.content.decode()
    page = client.get(f"/wellbeing/visits/{task.pk}/").content.decode()
    assert "<svg" in page and "wb-bar" in page
    evidence = task.alert.evidence
    assert f"过去 {evidence['hours']:.0f} 小时只用了 {evidence['water_12h_l']:.0f} 升水" in page
    assert "规则下限（升）" in page  # evidence labelled in words
    assert 'href="tel:13800000000"' in page  # the family to call first
    assert AuditEvent.objects.filter(action="wellbeing.visit.view").exists()
    client.post(f"/wellbeing/visits/{task.pk}/accept/")
    client.post(
        f"/wellbeing/visits/{task.pk}/outcome/", {"outcome": "fine", "real": "no", "note": "好"}
    )
    task.refresh_from_db()
    assert (task.status, task.outcome, task.real) == (VisitStatus.VISITED, "fine", False)


def test_a_worker_of_another_community_cannot_open_the_visit(
    home: dict[str, Any],  # noqa: F811
    make_user: Any,
) -> None:
    services.readings_ingest(actor=home["feed"], rows=quiet_day())
    services.detection_run(household_id=home["household"].pk)
    services.alerts_escalate(now=timezone.now() + timedelta(minutes=30))
    task = VisitTask.objects.first()
    assert task is not None
    stranger = make_user("community_worker", home["city"].community_b1)
    client = Client()
    client.force_login(stranger)
    assert client.get(f"/wellbeing/visits/{task.pk}/").status_code == 403


def _located_resident(home: dict[str, Any], name: str, lat: float, lng: float) -> Any:  # noqa: F811
    return core.resident_create(
        actor=None,
        name=name,
        community=home["city"].community_a1,
        address=f"{name}家",
        latitude=lat,
        longitude=lng,
        crs="wgs84",
    )


def test_a_worker_enrols_a_household_with_recorded_consent_from_the_page(
    home: dict[str, Any],  # noqa: F811
) -> None:
    resident = _located_resident(home, "陈淑芬", 39.91, 116.40)
    client = Client()
    client.force_login(home["worker"])
    found = client.get("/wellbeing/enrol/", {"q": "陈淑"}).content.decode()
    assert f'value="{resident.pk}"' in found
    form = {
        "resident": str(resident.pk),
        "worker": str(home["worker"].pk),
        "consent_by": "worker",
        "consent_method": "signed_form",
        "consent_at": "2026-03-01T10:00",
        "consent_document": "",
        "consent_note": "本人在社区签字",
        "meter_water": "W-PAGE",
        "meter_water_kind": "interval",
        "contact_0_name": "陈强",
        "contact_0_phone": "13500000000",
    }
    refused = client.post("/wellbeing/enrol/", form)
    assert refused.status_code == 200
    assert 'role="alert"' in refused.content.decode()
    assert "W-PAGE" in refused.content.decode()  # what was typed is kept
    # Each problem is linked from the summary to its box, which names its message beside it.
    assert summary_targets(refused.content.decode()) == ["consent_document"]
    assert described_by(refused.content.decode(), "consent_document") == ["consent_document-error"]
    unreachable = client.post(
        "/wellbeing/enrol/", {**form, "consent_document": "F-1", "contact_0_phone": ""}
    ).content.decode()
    assert summary_targets(unreachable) == ["contact_0_name"]
    assert described_by(unreachable, "contact_0_phone") == ["contacts-error"]
    done = client.post("/wellbeing/enrol/", {**form, "consent_document": "F-1"})
    household = Household.objects.get(resident=resident)
    assert done["Location"] == f"/wellbeing/households/{household.pk}/"
    assert (household.consent_method, household.consent_document) == ("signed_form", "F-1")
    assert household.meters.get().cumulative is False
    page = client.get(done["Location"]).content.decode()
    assert "F-1" in page and "陈强" in page
    # Enrolled already: a problem of the resident chosen, linked to the choice of resident.
    again = {**form, "consent_document": "F-1", "meter_water": "W-PAGE-2"}
    twice = client.post("/wellbeing/enrol/", again).content.decode()
    assert summary_targets(twice) == ["resident"] and "该居民的住户已登记关爱服务。" in twice


def test_a_resident_enrols_their_own_home_and_sees_it(
    home: dict[str, Any],  # noqa: F811
    make_user: Any,
) -> None:
    resident = _located_resident(home, "刘奶奶", 39.9, 116.4)
    account = make_user(None, None, resident=resident)
    client = Client()
    client.force_login(account)
    assert "为自己的住所登记" in client.get("/wellbeing/").content.decode()
    page = client.get("/wellbeing/enrol/").content.decode()
    assert "刘奶奶" in page and 'name="consent_method"' not in page
    client.post(
        "/wellbeing/enrol/", {"worker": str(home["worker"].pk), "meter_electricity": "E-SELF"}
    )
    household = Household.objects.get(resident=resident)
    assert (household.consent_by, household.consent_method) == ("resident", "app")
    assert "刘奶奶" in client.get("/wellbeing/").content.decode()


def test_the_dashboard_draws_the_map_and_lists_the_same_households(
    home: dict[str, Any],  # noqa: F811
) -> None:
    worker = home["worker"]
    for name, lat, lng, meter in [("甲", 39.90, 116.40, "G-A"), ("乙", 39.92, 116.43, "G-B")]:
        services.household_enrol(
            actor=worker,
            resident=_located_resident(home, name, lat, lng),
            worker=worker,
            consent_by="worker",
            consent_note="当面同意",
            meters=[MeterSpec("gas", meter)],
        )
    client = Client()
    client.force_login(worker)
    page = client.get("/wellbeing/").content.decode()
    block = re.search(r'<script id="wb-map-points" type="application/json">(.+?)</script>', page)
    assert block is not None
    points = json.loads(block.group(1))
    located = Household.objects.exclude(resident__name="王秀英")  # she has no coordinates
    # Each home is named, says its state, leads to its page and has its state's shape.
    assert sorted((p["label"], p["url"], p["kind"]) for p in points) == sorted(
        (
            f"{h.resident.name} · 正常",
            f"/wellbeing/households/{h.pk}/",
            "wb-marker wb-state-ok",
        )
        for h in located
    )
    assert all(p["shape"].startswith("M") for p in points)
    assert {(p["lat"], p["lng"]) for p in points} == {(39.9, 116.4), (39.92, 116.43)}
    assert 'data-map="show"' in page and 'data-areas="/messages/map/areas/"' in page
    assert "1 户没有住址坐标" in page
    rows = re.findall(
        r'<tr class="wb-row-(\w+)"><td><a href="/wellbeing/households/\d+/">(.+?)<', page
    )
    assert sorted(rows) == [("ok", "乙"), ("ok", "王秀英"), ("ok", "甲")]
    assert AuditEvent.objects.filter(action="wellbeing.household.list").count() == 1


def test_the_family_marks_time_away_and_ends_it_on_the_household_page(
    home: dict[str, Any],  # noqa: F811
) -> None:
    household = home["household"]
    client = Client()
    client.force_login(home["daughter"])
    now = timezone.localtime()
    client.post(
        f"/wellbeing/households/{household.pk}/away/",
        {
            "kind": "hospital",
            "starts_at": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (now + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
        },
    )
    period = household.away.get()
    assert period.kind == "hospital" and period.marked_by == home["daughter"]
    page = client.get(f"/wellbeing/households/{household.pk}/").content.decode()
    assert f"/wellbeing/away/{period.pk}/end/" in page
    client.post(f"/wellbeing/away/{period.pk}/end/")
    period.refresh_from_db()
    assert period.ends_at <= timezone.now()


def test_contacts_are_reordered_and_consent_withdrawn_from_the_pages(
    home: dict[str, Any],  # noqa: F811
) -> None:
    household = home["household"]
    client = Client()
    client.force_login(home["worker"])
    client.post(
        f"/wellbeing/households/{household.pk}/contacts/",
        {
            "contact_0_order": "2",
            "contact_0_name": "李明",
            "contact_0_phone": "13800000000",
            "contact_1_order": "1",
            "contact_1_name": "李红",
            "contact_1_phone": "13900000001",
            "contact_2_order": "3",
            "contact_2_name": "李华",
            "contact_2_email": "li.hua@example.org",
        },
    )
    assert list(household.contacts.values_list("name", "email")) == [
        ("李红", ""),
        ("李明", ""),
        ("李华", "li.hua@example.org"),
    ]
    page = client.get(f"/wellbeing/households/{household.pk}/").content.decode()
    assert 'value="li.hua@example.org"' in page
    assert client.post(f"/wellbeing/households/{household.pk}/withdraw/", {}).status_code == 200
    household.refresh_from_db()
    assert household.consenting  # not without ticking the confirmation
    client.post(f"/wellbeing/households/{household.pk}/withdraw/", {"confirm": "yes"})
    household.refresh_from_db()
    assert not household.consenting


def test_a_family_member_answers_from_the_sms_link_without_signing_in(
    home: dict[str, Any],  # noqa: F811
) -> None:
    services.readings_ingest(actor=home["feed"], rows=quiet_day())
    alert = next(
        a for a in services.detection_run(household_id=home["household"].pk) if a.kind == "no_use"
    )
    link = services.ack_link(alert=alert, contact=home["household"].contacts.get())
    client = Client()
    page = client.get(link).content.decode()
    assert "王秀英" in page and "升水（规则：少于" in page
    client.post(link, {"answer": "fine"})
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_answer) == ("acknowledged", "fine")
    assert "已处理" in client.get(link).content.decode()
    assert client.get(link[:-3] + "xx/").status_code == 403
    purposes = AuditEvent.objects.filter(action="wellbeing.alert.view").values_list(
        "purpose", flat=True
    )
    assert any("李明" in p for p in purposes)


def test_the_withdrawal_page_is_an_audited_read(home: dict[str, Any]) -> None:  # noqa: F811
    household = home["household"]
    client = Client()
    client.force_login(home["daughter"])
    page = client.get(f"/wellbeing/households/{household.pk}/withdraw/").content.decode()
    assert "王秀英" in page
    event = AuditEvent.objects.get(action="wellbeing.household.view")
    assert (event.actor, event.object_id) == (home["daughter"], str(household.pk))


IDEOGRAPHS_AND_FULL_WIDTH = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


def test_the_pages_in_english_show_no_chinese_interface_text(
    home: dict[str, Any],  # noqa: F811
) -> None:
    services.readings_ingest(actor=home["feed"], rows=quiet_day())
    services.detection_run(household_id=home["household"].pk)
    services.alerts_escalate(now=timezone.now() + timedelta(minutes=30))
    task = VisitTask.objects.get(alert__kind="no_use")
    household = home["household"]
    client = Client()
    client.cookies["django_language"] = "en"
    client.force_login(home["worker"])
    data = [
        "王秀英",
        "桃园路 3 号 2 单元 401",
        "李明",
        "本人口头同意，社区工作者在场记录",
        home["city"].community_a1.name,
        "简体中文",  # the language switcher names each language in itself
    ]
    for path in [
        "/wellbeing/",
        "/wellbeing/enrol/",
        f"/wellbeing/households/{household.pk}/",
        f"/wellbeing/households/{household.pk}/withdraw/",
        "/wellbeing/visits/",
        f"/wellbeing/visits/{task.pk}/",
    ]:
        html = client.get(path).content.decode()
        for value in sorted(data, key=len, reverse=True):
            html = html.replace(value, "")
        found = [
            html[max(m.start() - 40, 0) : m.end() + 40]
            for m in IDEOGRAPHS_AND_FULL_WIDTH.finditer(html)
        ]
        assert not found, (path, found[:3])


def test_someone_elses_family_cannot_open_or_change_the_household(
    home: dict[str, Any],  # noqa: F811
    make_user: Any,
) -> None:
    household = home["household"]
    outsider = make_user(None, None)
    client = Client()
    client.force_login(outsider)
    assert client.get(f"/wellbeing/households/{household.pk}/").status_code == 403
    response = client.post(
        f"/wellbeing/households/{household.pk}/contacts/",
        {"contact_0_name": "冒充者", "contact_0_phone": "1"},
    )
    assert response.status_code == 403
    assert list(household.contacts.values_list("name", flat=True)) == ["李明"]
    assert client.get("/wellbeing/enrol/").status_code == 404  # neither staff nor a resident
    assert "王秀英" not in client.get("/wellbeing/").content.decode()


def test_the_household_page_shows_each_days_use_and_no_reading_is_not_zero(
    home: dict[str, Any],  # noqa: F811
) -> None:
    yesterday = timezone.localtime().replace(hour=9, minute=0, second=0, microsecond=0)
    yesterday -= timedelta(days=1)
    rows = [
        {"meter_id": "W-001", "at": (yesterday + timedelta(minutes=30 * i)).isoformat(), "value": v}
        for i, v in enumerate([0.01, 0.02, 0.0])
    ] + [
        {"meter_id": "E-001", "at": (yesterday + timedelta(minutes=30 * i)).isoformat(), "value": v}
        for i, v in enumerate([100.0, 100.5, 101.5])
    ]
    assert services.readings_ingest(actor=home["feed"], rows=rows).accepted == 6
    client = Client()
    client.force_login(home["worker"])
    page = client.get(f"/wellbeing/households/{home['household'].pk}/").content.decode()
    day = yesterday.strftime("%m-%d")
    # Only the utilities the home has meters for (water and electricity, no gas).
    assert f'<th scope="row">{day}</th><td>30.0</td><td>1.5</td></tr>' in page
    today = timezone.localdate().strftime("%m-%d")
    assert f'<th scope="row">{today}</th><td>无读数</td><td>无读数</td></tr>' in page


def test_the_household_page_shows_a_refused_change_at_its_controls(
    home: dict[str, Any],  # noqa: F811
) -> None:
    """Time away without its times, a meter without its number: back on the household page, the
    summary links to the control each problem is about, and the control names its message."""
    client = Client()
    client.force_login(home["worker"])
    household = home["household"]
    page = f"/wellbeing/households/{household.pk}/"
    client.post(f"{page}away/", {"kind": "other", "starts_at": "", "ends_at": ""})
    html = client.get(page).content.decode()
    assert summary_targets(html) == ["away-starts"]
    assert described_by(html, "away-starts") == ["away-starts-error"]
    client.post(f"{page}meters/", {"utility": "water", "meter_id": ""})
    html = client.get(page).content.decode()
    assert summary_targets(html) == ["meter-id"]
    assert described_by(html, "meter-id") == ["meter-id-error"]
    assert "error-summary" not in client.get(page).content.decode()  # shown once


def test_a_refused_button_links_to_the_list_it_changes(home: dict[str, Any]) -> None:  # noqa: F811
    """Time away cancelled twice (a button alone, refused because the state moved on): the
    summary links to the list of time away, which shows it cancelled."""
    household = home["household"]
    client = Client()
    client.force_login(home["daughter"])
    now = timezone.localtime()
    page = f"/wellbeing/households/{household.pk}/"
    client.post(
        f"{page}away/",
        {
            "kind": "hospital",
            "starts_at": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (now + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
        },
    )
    period = household.away.get()
    client.post(f"/wellbeing/away/{period.pk}/cancel/")
    client.post(f"/wellbeing/away/{period.pk}/cancel/")
    html = client.get(page).content.decode()
    assert summary_targets(html) == ["wb-away"] and "该外出时段已取消。" in html


def test_a_visit_accepted_twice_links_to_its_status(home: dict[str, Any]) -> None:  # noqa: F811
    task, client = _no_use_visit_and_its_worker(home)
    client.post(f"/wellbeing/visits/{task.pk}/accept/")
    client.post(f"/wellbeing/visits/{task.pk}/accept/")
    html = client.get(f"/wellbeing/visits/{task.pk}/").content.decode()
    assert summary_targets(html) == ["wb-status"] and "不能执行此操作" in html


def test_a_family_link_answered_twice_links_to_what_it_says_now(
    home: dict[str, Any],  # noqa: F811
) -> None:
    """A wrong answer links to the first answer's button; an answer after the alert was handled,
    to the sentence that says so."""
    services.readings_ingest(actor=home["feed"], rows=quiet_day())
    alert = next(
        a for a in services.detection_run(household_id=home["household"].pk) if a.kind == "no_use"
    )
    link = services.ack_link(alert=alert, contact=home["household"].contacts.get())
    family = Client()
    wrong = family.post(link, {"answer": "maybe"}).content.decode()
    assert summary_targets(wrong) == ["ack"] and 'name="answer" value="fine" id="ack"' in wrong
    family.post(link, {"answer": "fine"})
    again = family.post(link, {"answer": "fine"}).content.decode()
    assert summary_targets(again) == ["ack"] and "该提醒已不在等待家属确认。" in again
    assert '<p id="ack" tabindex="-1">' in again
