"""The platform API: a lot's journey by trace code for anyone, the trace graph for staff, a
recall started and acknowledged; every response checked against the committed OpenAPI."""

from __future__ import annotations

from typing import Any

from civichub.traceability.tests.conftest import Chain


def test_journey_by_trace_code_is_public(chain: Chain, api_as: Any) -> None:
    response = api_as(None).get(f"/api/traceability/codes/{chain.mince.trace_code}")
    assert response.status_code == 200
    body = response.json()
    assert body["lot"] == "M1" and body["recalled"] is False
    assert [s["step"] for s in body["steps"]][:2] == ["commissioning", "killing"]


def test_a_mistyped_trace_code_is_refused(chain: Chain, api_as: Any) -> None:
    code = chain.mince.trace_code
    response = api_as(None).get(f"/api/traceability/codes/{code[:-1]}{(int(code[-1]) + 1) % 10}")
    assert response.status_code == 422


def test_trace_graph_for_staff(chain: Chain, api_as: Any) -> None:
    assert api_as(None).get(f"/api/traceability/lots/{chain.carcass.pk}/trace").status_code == 401
    body = api_as(chain.regulator).get(f"/api/traceability/lots/{chain.carcass.pk}/trace").json()
    assert chain.mince.epc_class in body["downstream"]
    assert {p["kind"] for p in body["participants_downstream"]} >= {"stall", "canteen"}


def test_recall_started_and_acknowledged(chain: Chain, api_as: Any) -> None:
    started = api_as(chain.regulator).post(
        "/api/traceability/recalls", json_body={"lot_id": chain.carcass.pk, "reason": "检出瘦肉精"}
    )
    assert started.status_code == 201, started.content.decode()
    recall = started.json()
    assert len(recall["notices"]) == 4
    mine = api_as(chain.keeper).get(f"/api/traceability/recalls/{recall['id']}").json()
    assert [n["participant"] for n in mine["notices"]] == [chain.stall.name]
    acknowledged = api_as(chain.keeper).post(
        f"/api/traceability/notices/{mine['notices'][0]['id']}/acknowledge",
        json_body={"quantity_withdrawn": 20},
    )
    assert acknowledged.status_code == 200 and acknowledged.json()["quantity_withdrawn"] == 20
    assert (
        api_as(chain.keeper)
        .post("/api/traceability/recalls", json_body={"lot_id": chain.carcass.pk, "reason": "x"})
        .status_code
        == 403
    )
    journey = api_as(None).get(f"/api/traceability/codes/{chain.mince.trace_code}").json()
    assert journey["recalled"] is True and journey["recall_reasons"] == ["检出瘦肉精"]


def test_the_regulator_reminds_those_who_have_not_acknowledged(chain: Chain, api_as: Any) -> None:
    regulator = api_as(chain.regulator)
    recall = regulator.post(
        "/api/traceability/recalls", json_body={"lot_id": chain.carcass.pk, "reason": "抽检不合格"}
    ).json()
    remind = f"/api/traceability/recalls/{recall['id']}/remind"
    assert api_as(chain.keeper).post(remind).status_code == 403
    reminded = regulator.post(remind)
    assert reminded.status_code == 200 and reminded.json() == {"reminded": 1}  # the keeper
    notices = regulator.get(f"/api/traceability/recalls/{recall['id']}").json()["notices"]
    assert {n["reminders_sent"] for n in notices} == {1}
