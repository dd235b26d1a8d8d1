"""A capture document is one batch: its events are validated and hashed each on their own,
checked for duplicates in one query, stored in one transaction and audited as one entry that
names the eventIDs. A duplicate inside the document or of an event held already is skipped and
reported; an eventID that names two different events is an error at its index; with the default
`rollback` one bad event stores nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from civichub.core.errors import ValidationFailed
from civichub.core.models import AuditEvent
from civichub.traceability import services
from civichub.traceability.models import Event, EventEpc
from civichub.traceability.tests.conftest import Chain, at, document, place


def _receiving(chain: Chain, n: int, **extra: Any) -> dict[str, Any]:
    return (
        at(
            timezone.now() - timedelta(hours=2, minutes=n),
            type="ObjectEvent",
            action="OBSERVE",
            bizStep="receiving",
            quantityList=[{"epcClass": chain.other.epc_class, "quantity": n + 1, "uom": "KGM"}],
            bizLocation=place(chain.stall),
        )
        | extra
    )


def _captures() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="traceability.events.capture").order_by("pk"))


def test_a_duplicate_inside_the_document_is_stored_once_and_reported(chain: Chain) -> None:
    before = Event.objects.count()
    first = _receiving(chain, 1, eventID="urn:uuid:0b6f8e1c-0000-4000-8000-000000000001")
    again = first | {"eventID": "urn:uuid:0b6f8e1c-0000-4000-8000-000000000002"}
    result = services.events_capture(
        actor=chain.keeper, document=document(first, _receiving(chain, 2), again)
    )
    assert len(result.captured) == 2
    assert result.duplicates == ["urn:uuid:0b6f8e1c-0000-4000-8000-000000000002"]
    assert Event.objects.count() == before + 2


def test_a_document_sent_twice_stores_nothing_the_second_time(chain: Chain) -> None:
    events = [_receiving(chain, n) for n in range(5)]
    first = services.events_capture(actor=chain.keeper, document=document(*events))
    count = Event.objects.count()
    edges = EventEpc.objects.count()
    second = services.events_capture(actor=chain.keeper, document=document(*events))
    assert len(first.captured) == 5
    assert second.captured == []
    assert len(second.duplicates) == 5
    assert (Event.objects.count(), EventEpc.objects.count()) == (count, edges)


def test_one_event_id_for_two_events_in_one_document_is_an_error_at_its_index(
    chain: Chain,
) -> None:
    before = Event.objects.count()
    event_id = "urn:uuid:0b6f8e1c-0000-4000-8000-000000000003"
    events = [
        _receiving(chain, 1, eventID=event_id),
        _receiving(chain, 2),
        _receiving(chain, 3, eventID=event_id),
    ]
    with pytest.raises(ValidationFailed) as refused:
        services.events_capture(actor=chain.keeper, document=document(*events))
    assert list(refused.value.errors) == ["$.epcisBody.eventList[2].eventID"]
    assert Event.objects.count() == before

    result = services.events_capture(
        actor=chain.keeper, document=document(*events), error_behaviour="proceed"
    )
    assert len(result.captured) == 2
    assert [e["path"] for e in result.errors] == ["$.epcisBody.eventList[2].eventID"]
    assert Event.objects.filter(event_id=event_id).count() == 1


@pytest.mark.parametrize(
    ("broken", "path"),
    [
        ({"action": "FOO"}, "$.epcisBody.eventList[3].action"),  # the schema
        (
            {"epcList": ["https://id.gs1.org/01/09520123456789/21/1"]},  # a check digit
            "$.epcisBody.eventList[3]",
        ),
        ({"eventTime": "2026-12-01T08:00:00"}, "$.epcisBody.eventList[3].eventTime"),
    ],
)
def test_one_bad_event_in_a_batch_stores_nothing_and_names_its_index(
    chain: Chain, broken: dict[str, Any], path: str
) -> None:
    before = (Event.objects.count(), EventEpc.objects.count(), len(_captures()))
    events = [_receiving(chain, n) for n in range(6)]
    events[3] = events[3] | broken
    with pytest.raises(ValidationFailed) as refused:
        services.events_capture(actor=chain.keeper, document=document(*events))
    assert path in refused.value.errors
    assert (Event.objects.count(), EventEpc.objects.count(), len(_captures())) == before


def test_a_batch_is_one_audit_entry_naming_its_events(chain: Chain) -> None:
    held = _receiving(chain, 0)
    services.events_capture(actor=chain.keeper, document=document(held))
    before = len(_captures())
    events = [held] + [_receiving(chain, n) for n in range(1, 40)]
    result = services.events_capture(actor=chain.keeper, document=document(*events))
    entries = _captures()[before:]
    assert len(entries) == 1
    assert entries[0].changes["event_ids"] == result.captured
    assert len(result.captured) == 39
    assert entries[0].changes["duplicate_event_ids"] == result.duplicates
    assert len(result.duplicates) == 1
    assert entries[0].actor_id == chain.keeper.pk


def test_the_queries_of_a_batch_do_not_grow_with_its_events(chain: Chain) -> None:
    def queries(size: int, offset: int) -> int:
        events = [_receiving(chain, offset + n) for n in range(size)]
        with CaptureQueriesContext(connection) as captured:
            services.events_capture(actor=chain.keeper, document=document(*events))
        return len(captured.captured_queries)

    queries(2, 200)  # the actor's roles are read once and remembered
    # Up to the inserts' own batching (dozens of rows a statement), one query count.
    assert queries(60, 0) == queries(5, 100)


def test_events_without_an_event_id_get_time_ordered_uuids(chain: Chain) -> None:
    first = services.events_capture(
        actor=chain.keeper, document=document(*[_receiving(chain, 300 + n) for n in range(3)])
    )
    then = services.events_capture(actor=chain.keeper, document=document(_receiving(chain, 310)))
    ids = first.captured + then.captured
    assert len(set(ids)) == 4
    for event_id in ids:
        assert event_id.startswith("urn:uuid:")
        value = uuid.UUID(event_id.removeprefix("urn:uuid:"))
        assert (value.version, value.variant) == (7, uuid.RFC_4122)
        assert Event.objects.get(event_id=event_id).body["eventID"] == event_id
    # The milliseconds come first: a later document's ids sort after an earlier one's.
    assert max(first.captured) < then.captured[0] or (
        uuid.UUID(max(first.captured)[9:]).int >> 80 == uuid.UUID(then.captured[0][9:]).int >> 80
    )
