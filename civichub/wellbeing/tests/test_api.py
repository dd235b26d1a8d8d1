"""The readings batch API and the CSV import: per-row reports, idempotency, and the worker's
visit actions; every response checked against the committed OpenAPI document."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from civichub.core import services as core
from civichub.core.models import AuditEvent
from civichub.wellbeing import services
from civichub.wellbeing.models import Reading, VisitTask
from civichub.wellbeing.tests.test_services import at, home, quiet_day  # noqa: F401

pytestmark = pytest.mark.django_db


def test_a_batch_keeps_good_rows_reports_bad_ones_and_counts_repeats_once(
    home: dict[str, Any],  # noqa: F811
    api_as: Any,
) -> None:
    client = api_as(home["feed"])
    body = {
        "readings": [
            {"meter_id": "W-001", "at": at(0), "value": 0.02},
            {"meter_id": "W-001", "at": at(30), "value": "x"},
            {"meter_id": "W-404", "at": at(30), "value": 0.01},
        ]
    }
    first = client.post("/api/wellbeing/readings", body)
    assert first.status_code == 200
    assert first.json()["accepted"] == 1
    assert [e["row"] for e in first.json()["errors"]] == [1, 2]
    again = client.post("/api/wellbeing/readings", body)
    assert again.json()["duplicates"] == 1
    assert Reading.objects.count() == 1


def test_an_oversized_batch_is_refused_whole_with_a_problem_naming_the_limit(
    home: dict[str, Any],  # noqa: F811
    api_as: Any,
) -> None:
    from civichub.wellbeing.api import READINGS_PER_BATCH

    row = {"meter_id": "W-001", "at": at(0), "value": 0.02}
    response = api_as(home["feed"]).post(
        "/api/wellbeing/readings", {"readings": [row] * (READINGS_PER_BATCH + 1)}
    )
    assert response.status_code == 422
    assert response["Content-Type"].startswith("application/problem+json")
    assert "readings" in response.json()["errors"]
    assert Reading.objects.count() == 0
    at_limit = api_as(home["feed"]).post(
        "/api/wellbeing/readings", {"readings": [row] * READINGS_PER_BATCH}
    )
    assert at_limit.status_code == 200
    assert at_limit.json()["accepted"] == 1
    assert at_limit.json()["duplicates"] == READINGS_PER_BATCH - 1


def test_a_worker_cannot_send_readings(home: dict[str, Any], api_as: Any) -> None:  # noqa: F811
    response = api_as(home["worker"]).post("/api/wellbeing/readings", {"readings": []})
    assert response.status_code == 403


def test_the_worker_accepts_and_records_a_visit_through_the_api(
    home: dict[str, Any],  # noqa: F811
    api_as: Any,
) -> None:
    services.readings_ingest(actor=home["feed"], rows=quiet_day())
    services.detection_run(household_id=home["household"].pk)
    services.alerts_escalate(now=timezone.now() + timedelta(minutes=30))
    task = VisitTask.objects.first()
    assert task is not None
    client = api_as(home["worker"])
    assert client.post(f"/api/wellbeing/visits/{task.pk}/accept").json()["status"] == "accepted"
    done = client.post(
        f"/api/wellbeing/visits/{task.pk}/outcome",
        {"outcome": "not_home", "real": False, "note": "在女儿家"},
    )
    assert done.json()["status"] == "visited"
    assert client.post(f"/api/wellbeing/visits/{task.pk}/accept").status_code == 409


def test_csv_import_reports_bad_lines_and_keeps_the_rest(
    home: dict[str, Any],  # noqa: F811
    tmp_path: Path,
    capsys: Any,
) -> None:
    path = tmp_path / "readings.csv"
    path.write_text(
        "meter_id,at,value,reset\n"
        f"E-001,{at(0)},100.0,\n"
        f"E-001,{at(30)},99.5,\n"
        f"E-001,{at(60)},0.2,yes\n"
        f"E-001,{at(0)},100.0,\n",
        encoding="utf-8",
    )
    call_command("wellbeing_import", str(path))
    out = capsys.readouterr().out
    assert "accepted: 2" in out
    assert "duplicates: 1" in out
    assert "line 3:" in out


def _enrol_body(home: dict[str, Any], resident_id: int, **extra: Any) -> dict[str, Any]:  # noqa: F811
    return {
        "resident_id": resident_id,
        "worker_id": home["worker"].pk,
        "consent_by": "worker",
        "consent_method": "signed_form",
        "consent_document": "TY-7",
        "consent_note": "本人签字",
        "meters": [{"utility": "water", "meter_id": "W-API", "cumulative": False}],
        "contacts": [
            {"name": "儿子", "phone": "13700000000"},
            {"name": "女儿", "phone": "", "username": home["daughter"].username},
        ],
        **extra,
    }


def test_a_worker_enrols_a_household_and_reads_it_back(
    home: dict[str, Any],  # noqa: F811
    api_as: Any,
) -> None:
    resident = core.resident_create(actor=None, name="孙玉珍", community=home["city"].community_a1)
    client = api_as(home["worker"])
    created = client.post("/api/wellbeing/households", _enrol_body(home, resident.pk))
    assert created.status_code == 201
    body = created.json()
    assert [c["name"] for c in body["contacts"]] == ["儿子", "女儿"]
    assert body["contacts"][1]["username"] == home["daughter"].username
    assert (body["consent_method"], body["consent_document"]) == ("signed_form", "TY-7")
    again = client.get(f"/api/wellbeing/households/{body['id']}")
    assert again.json()["meters"][0]["meter_id"] == "W-API"
    assert AuditEvent.objects.filter(
        action="wellbeing.household.view", object_id=str(body["id"])
    ).exists()


def test_enrolment_errors_are_problems_naming_the_fields(
    home: dict[str, Any],  # noqa: F811
    api_as: Any,
) -> None:
    resident = core.resident_create(actor=None, name="周大爷", community=home["city"].community_a1)
    body = _enrol_body(home, resident.pk, consent_document="", meters=[])
    response = api_as(home["worker"]).post("/api/wellbeing/households", body)
    assert response.status_code == 422
    assert response["Content-Type"].startswith("application/problem+json")
    assert {"consent_document", "meters"} <= set(response.json()["errors"])


def test_a_worker_of_another_community_cannot_read_the_household(
    home: dict[str, Any],  # noqa: F811
    api_as: Any,
    make_user: Any,
) -> None:
    stranger = make_user("community_worker", home["city"].community_b1)
    response = api_as(stranger).get(f"/api/wellbeing/households/{home['household'].pk}")
    assert response.status_code == 403
    assert response.json()["status"] == 403


def test_the_family_marks_time_away_and_ends_it_early(
    home: dict[str, Any],  # noqa: F811
    api_as: Any,
) -> None:
    client = api_as(home["daughter"])
    now = timezone.now()
    household_id = home["household"].pk
    marked = client.post(
        f"/api/wellbeing/households/{household_id}/away",
        {
            "kind": "children",
            "starts_at": (now - timedelta(hours=2)).isoformat(),
            "ends_at": (now + timedelta(days=5)).isoformat(),
            "reason": "去女儿家",
        },
    )
    assert marked.status_code == 201
    away_id = marked.json()["id"]
    listed = client.get(f"/api/wellbeing/households/{household_id}/away").json()
    assert [p["id"] for p in listed] == [away_id]
    ended = client.post(f"/api/wellbeing/away/{away_id}/end").json()
    assert datetime.fromisoformat(ended["ends_at"]) <= timezone.now()
    assert client.post(f"/api/wellbeing/away/{away_id}/end").status_code == 409
    assert client.post(f"/api/wellbeing/away/{away_id}/cancel").json()["cancelled_at"]


def test_time_away_until_the_year_9999_is_refused(
    home: dict[str, Any],  # noqa: F811
    api_as: Any,
) -> None:
    client = api_as(home["daughter"])
    now = timezone.now()
    url = f"/api/wellbeing/households/{home['household'].pk}/away"
    refused = client.post(
        url,
        {"starts_at": now.isoformat(), "ends_at": "9999-12-31T00:00:00+00:00", "reason": "x"},
    )
    assert refused.status_code == 422
    assert "ends_at" in refused.json()["errors"]
    long = {"starts_at": now.isoformat(), "ends_at": (now + timedelta(days=10)).isoformat()}
    refused = client.post(url, long)
    assert refused.status_code == 422
    assert {"reason", "review_on"} <= set(refused.json()["errors"])
    review_on = (now + timedelta(days=7)).date().isoformat()
    marked = client.post(url, {**long, "reason": "住院", "review_on": review_on})
    assert marked.status_code == 201
    assert marked.json()["review_on"] == review_on


def test_contacts_and_meters_are_kept_up_to_date(
    home: dict[str, Any],  # noqa: F811
    api_as: Any,
) -> None:
    client = api_as(home["worker"])
    household_id = home["household"].pk
    contacts = client.request(
        "PUT",
        f"/api/wellbeing/households/{household_id}/contacts",
        {
            "contacts": [
                {"name": "外甥", "phone": "13600000000"},
                {"name": "李明", "phone": "1", "email": "li.ming@example.org"},
            ]
        },
    )
    assert [c["order"] for c in contacts.json()] == [0, 1]
    assert [c["email"] for c in contacts.json()] == ["", "li.ming@example.org"]
    shown = client.get(f"/api/wellbeing/households/{household_id}").json()
    assert [c["email"] for c in shown["contacts"]] == ["", "li.ming@example.org"]
    refused = client.request(
        "PUT",
        f"/api/wellbeing/households/{household_id}/contacts",
        {"contacts": [{"name": "外甥", "email": "not an address"}]},
    )
    assert refused.status_code == 422
    meter = client.post(
        f"/api/wellbeing/households/{household_id}/meters",
        {"utility": "gas", "meter_id": "G-API"},
    ).json()
    removed = client.post(f"/api/wellbeing/households/{household_id}/meters/{meter['id']}/remove")
    assert removed.json()["active"] is False


def test_a_family_contact_answers_from_the_signed_link_without_an_account(
    home: dict[str, Any],  # noqa: F811
    api_as: Any,
) -> None:
    services.readings_ingest(actor=home["feed"], rows=quiet_day())
    alert = next(
        a for a in services.detection_run(household_id=home["household"].pk) if a.kind == "no_use"
    )
    token = services.ack_token(alert=alert, contact=home["household"].contacts.get())
    anonymous = api_as(None)
    assert (
        anonymous.post(f"/api/wellbeing/acknowledge/{token}x", {"answer": "fine"}).status_code
        == 403
    )
    answered = anonymous.post(f"/api/wellbeing/acknowledge/{token}", {"answer": "unreachable"})
    assert answered.status_code == 200
    assert answered.json()["status"] == "visit" and answered.json()["visit_id"]
    task = api_as(home["worker"]).get(f"/api/wellbeing/visits/{answered.json()['visit_id']}")
    assert task.json()["chart"]["hours"] and task.json()["explanation"] == alert.explanation


def test_the_dashboard_gives_counts_and_markers_and_a_task_can_be_escalated(
    home: dict[str, Any],  # noqa: F811
    api_as: Any,
) -> None:
    services.readings_ingest(actor=home["feed"], rows=quiet_day())
    services.detection_run(household_id=home["household"].pk)
    services.alerts_escalate(now=timezone.now() + timedelta(minutes=30))
    client = api_as(home["worker"])
    board = client.get("/api/wellbeing/dashboard").json()
    assert board["counts"]["visit"] == 1 and board["households"][0]["state"] == "visit"
    visit_id = board["open_visit_ids"][0]
    assert [v["id"] for v in client.get("/api/wellbeing/visits").json()] == [visit_id]
    escalated = client.post(f"/api/wellbeing/visits/{visit_id}/escalate", {"note": "需要两人"})
    assert escalated.json()["status"] == "escalated"
    assert api_as(home["daughter"]).get("/api/wellbeing/dashboard").status_code == 403


def test_the_family_reads_the_households_alerts_and_answers_one(
    home: dict[str, Any],  # noqa: F811
    api_as: Any,
    make_user: Any,
) -> None:
    services.readings_ingest(actor=home["feed"], rows=quiet_day())
    services.detection_run(household_id=home["household"].pk)
    client = api_as(home["daughter"])
    alerts = client.get(f"/api/wellbeing/households/{home['household'].pk}/alerts").json()
    no_use = next(a for a in alerts if a["kind"] == "no_use")
    assert no_use["status"] == "family"
    answered = client.post(f"/api/wellbeing/alerts/{no_use['id']}/acknowledge", {"answer": "fine"})
    assert answered.json()["acknowledged_answer"] == "fine"
    stranger = api_as(make_user(None, None))
    path = f"/api/wellbeing/households/{home['household'].pk}/alerts"
    assert stranger.get(path).status_code == 403


def test_a_withdrawal_whose_body_is_not_an_object_is_refused_and_consent_stands(
    home: dict[str, Any],  # noqa: F811
    api_as: Any,
) -> None:
    household = home["household"]
    refused = api_as(home["worker"]).post(
        f"/api/wellbeing/households/{household.pk}/withdraw", False
    )
    assert refused.status_code == 422 and "request" in refused.json()["errors"]
    assert refused["Content-Type"] == "application/problem+json"
    household.refresh_from_db()
    assert household.consent_withdrawn_at is None


def test_an_escalation_whose_body_is_not_an_object_is_refused(
    home: dict[str, Any],  # noqa: F811
    api_as: Any,
) -> None:
    services.readings_ingest(actor=home["feed"], rows=quiet_day())
    services.detection_run(household_id=home["household"].pk)
    services.alerts_escalate(now=timezone.now() + timedelta(minutes=30))
    client = api_as(home["worker"])
    visit_id = client.get("/api/wellbeing/dashboard").json()["open_visit_ids"][0]
    refused = client.post(f"/api/wellbeing/visits/{visit_id}/escalate", [None, None])
    assert refused.status_code == 422 and "request" in refused.json()["errors"]
    assert VisitTask.objects.get(pk=visit_id).status != "escalated"
