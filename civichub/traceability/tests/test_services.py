"""Capture is all-or-nothing by default, reports duplicates, takes corrections as error
declarations; recalls reach every participant downstream through the transformation and the
pallet, notify their members through the outbox and track each acknowledgement."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from civichub.core.errors import Conflict, PermissionDenied, ValidationFailed
from civichub.notify.selectors import notification_list
from civichub.testing.city import staff_user
from civichub.traceability import selectors, services
from civichub.traceability.models import CaptureJob, Event, Recall
from civichub.traceability.tests.conftest import Chain, at, document, place


def _receiving(chain: Chain, **extra: Any) -> dict[str, Any]:
    return (
        at(
            timezone.now() - timedelta(hours=1),
            type="ObjectEvent",
            action="OBSERVE",
            bizStep="receiving",
            quantityList=[{"epcClass": chain.other.epc_class, "quantity": 5, "uom": "KGM"}],
            bizLocation=place(chain.stall),
        )
        | extra
    )


def test_rollback_stores_nothing_when_one_event_is_bad(chain: Chain) -> None:
    before = Event.objects.count()
    bad = _receiving(chain, epcList=["https://id.gs1.org/01/09520123456789/21/1"])
    with pytest.raises(ValidationFailed) as refused:
        services.events_capture(actor=chain.keeper, document=document(_receiving(chain), bad))
    assert "$.epcisBody.eventList[1]" in refused.value.errors
    assert "check digit" in refused.value.errors["$.epcisBody.eventList[1]"][0]
    assert Event.objects.count() == before


def test_proceed_stores_the_good_events_and_reports_the_bad(chain: Chain) -> None:
    before = Event.objects.count()
    future = _receiving(chain, eventTime=(timezone.now() + timedelta(days=3)).isoformat())
    result = services.events_capture(
        actor=chain.keeper,
        document=document(_receiving(chain), future),
        error_behaviour="proceed",
    )
    assert len(result.captured) == 1
    assert result.errors[0]["path"] == "$.epcisBody.eventList[1].eventTime"
    assert Event.objects.count() == before + 1


def test_an_error_declaration_marks_the_event_and_edits_nothing(chain: Chain) -> None:
    event = _receiving(chain, eventID="urn:uuid:2f0c6a8e-1d3b-4c5a-9e7f-0a1b2c3d4e5f")
    services.events_capture(actor=chain.keeper, document=document(event))
    declaration = event | {
        "errorDeclaration": {
            "declarationTime": timezone.now().isoformat(),
            "reason": "incorrect_data",
        }
    }
    result = services.events_capture(actor=chain.keeper, document=document(declaration))
    assert result.captured == ["urn:uuid:2f0c6a8e-1d3b-4c5a-9e7f-0a1b2c3d4e5f#errorDeclaration"]
    original = Event.objects.get(event_id="urn:uuid:2f0c6a8e-1d3b-4c5a-9e7f-0a1b2c3d4e5f")
    assert original.declared_error is True
    assert original.body["quantityList"][0]["quantity"] == 5  # never edited


def test_a_citizen_cannot_capture(chain: Chain) -> None:
    citizen = staff_user(None, None)
    with pytest.raises(PermissionDenied):
        services.events_capture(actor=citizen, document=document(_receiving(chain)))


def test_capture_job_runs_once_and_records_the_outcome(
    chain: Chain, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        job = services.capture_job_submit(actor=chain.keeper, document=document(_receiving(chain)))
    job.refresh_from_db()
    assert job.state == CaptureJob.State.SUCCESS and job.captured == 1
    again = services.capture_job_run(job_id=str(job.pk))
    assert again.captured == 1 and again.state == CaptureJob.State.SUCCESS


def test_a_failed_capture_job_keeps_the_errors(
    chain: Chain, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    broken = document(_receiving(chain, action="FOO"))
    with django_capture_on_commit_callbacks(execute=True):
        job = services.capture_job_submit(actor=chain.keeper, document=broken)
    job.refresh_from_db()
    assert job.state == CaptureJob.State.FAILED
    assert job.errors[0]["path"] == "$.epcisBody.eventList[0].action"


def test_staff_form_events_are_valid_epcis_and_show_on_the_journey(chain: Chain) -> None:
    services.node_event_record(
        actor=chain.keeper,
        step="inspecting",
        lot=chain.other,
        participant=chain.other_stall,
        certificate="A61010099",
        results={"铅": 0.02},
    )
    journey = selectors.lot_journey(lot=chain.other)
    inspected = [s for s in journey.steps if s.step == "inspecting"][0]
    assert inspected.results == ["铅 0.02 59"]
    assert inspected.certificates == ["urn:civichub:certificate:A61010099"]
    with pytest.raises(ValidationFailed):
        services.node_event_record(
            actor=chain.keeper, step="cooking", lot=chain.other, participant=chain.stall
        )


def test_recall_through_transformation_and_pallet_reaches_every_receiver(
    chain: Chain, immediate_tasks: None
) -> None:
    recall = services.recall_start(
        actor=chain.regulator,
        lot=chain.carcass,
        reason="瘦肉精抽检阳性",
        organisation=chain.city.city,
    )
    notified = {n.participant.name for n in recall.notices.all()}
    assert notified == {
        chain.processor.name,
        chain.market.name,
        chain.stall.name,
        chain.canteen.name,
    }
    assert chain.mince.epc_class in recall.affected_codes
    assert [r.pk for r in selectors.recalls_for_code(chain.mince.epc_class)] == [recall.pk]
    assert selectors.recalls_for_code(chain.other.epc_class) == []
    assert {e["via"] for e in recall.graph["edges"]} >= {"TransformationEvent", "AggregationEvent"}
    inbox = notification_list(actor=chain.keeper).items
    assert len(inbox) == 1 and "冷鲜猪肉" in inbox[0].subject
    with pytest.raises(Conflict):
        services.recall_start(
            actor=chain.regulator, lot=chain.carcass, reason="again", organisation=chain.city.city
        )


def test_stall_acknowledges_with_the_quantity_withdrawn(chain: Chain) -> None:
    recall = services.recall_start(
        actor=chain.regulator, lot=chain.carcass, reason="抽检不合格", organisation=chain.city.city
    )
    notice = recall.notices.get(participant=chain.stall)
    services.recall_acknowledge(actor=chain.keeper, notice=notice, quantity_withdrawn=38.5)
    notice.refresh_from_db()
    assert notice.acknowledged_by == chain.keeper and notice.quantity_withdrawn == 38.5
    canteen_notice = recall.notices.get(participant=chain.canteen)
    with pytest.raises(PermissionDenied):  # the keeper works for the stall, not the canteen
        services.recall_acknowledge(actor=chain.keeper, notice=canteen_notice, quantity_withdrawn=1)
    services.recall_close(actor=chain.regulator, recall=recall)
    assert Recall.objects.get().state == Recall.State.CLOSED


def test_only_a_regulator_starts_a_recall(chain: Chain) -> None:
    with pytest.raises(PermissionDenied):
        services.recall_start(
            actor=chain.keeper, lot=chain.carcass, reason="x", organisation=chain.city.city
        )


def test_csv_batch_is_captured_all_or_nothing_with_the_row_named(chain: Chain) -> None:
    before = Event.objects.count()
    good = (
        "step,trace_code,quantity,certificate,when\n"
        f"receiving,{chain.other.trace_code},12.5,A6101,2026-12-01T08:00:00+08:00\n"
        f"retail_selling,{chain.other.trace_code},0.8,,2026-12-01T09:00:00+08:00\n"
    )
    result = services.node_events_from_csv(actor=chain.keeper, text=good, participant=chain.stall)
    assert len(result.captured) == 2 and Event.objects.count() == before + 2
    bad = good.replace("retail_selling", "cooking") + "receiving,12345,1,,\n"
    with pytest.raises(ValidationFailed) as refused:
        services.node_events_from_csv(actor=chain.keeper, text=bad, participant=chain.stall)
    assert set(refused.value.errors) == {"row 3", "row 4"}
    assert Event.objects.count() == before + 2


def test_csv_rows_are_refused_with_stable_codes_and_nothing_stored(chain: Chain) -> None:
    before = Event.objects.count()
    code = chain.other.trace_code
    text = (
        "step,trace_code,quantity,residue_name,residue_value,when\n"
        f"receiving,{code},1,,,2026-12-01T08:00:00+08:00\n"  # a good row
        f"receiving,,1,,,\n"
        f"receiving,12345,1,,,\n"
        f"cooking,{code},1,,,\n"
        f"receiving,{code},many,,,\n"
        f"inspecting,{code},,clenbuterol,high,\n"
        f"receiving,{code},1,,,yesterday\n"
    )
    with pytest.raises(ValidationFailed) as refused:
        services.node_events_from_csv(actor=chain.keeper, text=text, participant=chain.stall)
    assert [(r["row"], r["code"]) for r in refused.value.extra["rows"]] == [
        (3, "missing_trace_code"),
        (4, "unknown_trace_code"),
        (5, "unknown_step"),
        (6, "bad_quantity"),
        (7, "bad_residue_value"),
        (8, "bad_time"),
    ]
    assert {r["code"] for r in refused.value.extra["rows"]} == set(services.CSV_ROW_ERRORS)
    assert Event.objects.count() == before


def test_a_csv_row_makes_the_same_event_as_the_staff_form(chain: Chain) -> None:
    from datetime import datetime

    from civichub.traceability.gs1.epcis import event_hash

    when = "2026-12-01T08:00:00+08:00"
    text = (
        "step,trace_code,quantity,certificate,residue_name,residue_value,when\n"
        f"inspecting,{chain.other.trace_code},2.5,A6101,clenbuterol,0.1,{when}\n"
    )
    from_csv = services.node_events_from_csv(actor=chain.keeper, text=text, participant=chain.stall)
    form = services.node_event_document(
        step="inspecting",
        lot=chain.other,
        participant=chain.stall,
        when=datetime.fromisoformat(when),
        quantity=2.5,
        certificate="A6101",
        results={"clenbuterol": 0.1},
    )
    stored = Event.objects.get(event_id=from_csv.captured[0])
    assert stored.event_hash == event_hash(form["epcisBody"]["eventList"][0])
