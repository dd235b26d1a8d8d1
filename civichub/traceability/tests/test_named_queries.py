"""Named EPCIS queries (EPCIS 2.0 `/queries`): created under a name (201 and `Location`), listed,
read, their events paged as an EPCISQueryDocument with the query's name, deleted (204, and
then gone); a name in use is a conflict, an unsupported parameter is refused with its path,
and someone without the query duty cannot create one."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from civichub.core.audit import AuditEvent
from civichub.core.errors import PermissionDenied
from civichub.testing.city import staff_user
from civichub.traceability import services
from civichub.traceability.models import NamedQuery
from civichub.traceability.tests.conftest import Chain

RECEIVED = {
    "name": "received",
    "query": {"eventType": ["ObjectEvent"], "EQ_bizStep": ["receiving"]},
}


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _events(response: Any) -> list[dict[str, Any]]:
    return list(response.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"])


def test_a_named_query_is_created_listed_read_and_answers_its_events(chain: Chain) -> None:
    client = _client(chain.regulator)
    created = client.post("/epcis/queries", RECEIVED, content_type="application/json")
    assert created.status_code == 201
    assert created["Location"] == "/epcis/queries/received"
    assert client.get("/epcis/queries").json() == [RECEIVED]
    assert client.get("/epcis/queries/received").json() == RECEIVED

    answer = client.get("/epcis/queries/received/events")
    assert answer.status_code == 200
    assert answer.json()["epcisBody"]["queryResults"]["queryName"] == "received"
    direct = client.get("/epcis/events?eventType=ObjectEvent&EQ_bizStep=receiving")
    assert _events(answer) == _events(direct)
    assert len(_events(answer)) == 4  # market, stall, canteen, other stall
    assert {e["bizStep"] for e in _events(answer)} == {"receiving"}
    assert AuditEvent.objects.filter(action="traceability.query.create").count() == 1


def test_a_named_querys_events_are_paged_with_next_page_token(chain: Chain) -> None:
    client = _client(chain.regulator)
    client.post("/epcis/queries", RECEIVED, content_type="application/json")
    first = client.get("/epcis/queries/received/events?perPage=3")
    following = first["Link"].split(";")[0].strip("<>")
    assert following.startswith("/epcis/queries/received/events?")
    rest = client.get(following)
    times = [e["eventTime"] for e in _events(first) + _events(rest)]
    assert len(_events(first)) == 3 and len(times) == 4 and times == sorted(times)


def test_deleting_a_named_query_removes_it(chain: Chain) -> None:
    client = _client(chain.regulator)
    client.post("/epcis/queries", RECEIVED, content_type="application/json")
    assert client.delete("/epcis/queries/received").status_code == 204
    assert client.get("/epcis/queries/received").status_code == 404
    assert client.get("/epcis/queries/received/events").status_code == 404
    assert client.delete("/epcis/queries/received").status_code == 404
    assert not NamedQuery.objects.exists()
    assert AuditEvent.objects.filter(action="traceability.query.delete").count() == 1


def test_a_name_in_use_is_a_conflict_and_the_first_definition_stays(chain: Chain) -> None:
    client = _client(chain.regulator)
    client.post("/epcis/queries", RECEIVED, content_type="application/json")
    again = {"name": "received", "query": {"EQ_bizStep": ["shipping"]}}
    answer = client.post("/epcis/queries", again, content_type="application/json")
    assert answer.status_code == 409
    assert answer.json()["type"] == "epcisException:ConflictException"
    assert NamedQuery.objects.get().query == RECEIVED["query"]


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ({"EQ_colour": ["red"]}, "query.EQ_colour"),
        ({"GE_eventTime": "yesterday"}, "query.GE_eventTime"),
        ({"EQ_bizStep": [{"word": "shipping"}]}, "query.EQ_bizStep"),
        ({"perPage": 5}, "query.perPage"),
    ],
)
def test_an_unsupported_parameter_is_refused_with_its_path(
    chain: Chain, query: dict[str, Any], path: str
) -> None:
    client = _client(chain.regulator)
    answer = client.post(
        "/epcis/queries", {"name": "bad", "query": query}, content_type="application/json"
    )
    assert answer.status_code == 422
    assert [e["path"] for e in answer.json()["errors"]] == [path]
    assert not NamedQuery.objects.exists()


def test_a_name_that_is_not_one_path_segment_is_refused(chain: Chain) -> None:
    answer = _client(chain.regulator).post(
        "/epcis/queries",
        {"name": "a/b", "query": {"eventType": ["ObjectEvent"]}},
        content_type="application/json",
    )
    assert answer.status_code == 422 and answer.json()["errors"][0]["path"] == "name"


def test_only_those_with_the_query_duty_create_named_queries(chain: Chain) -> None:
    resident = staff_user(None, chain.city.city)
    with pytest.raises(PermissionDenied):
        services.named_query_create(actor=resident, name="mine", query={"eventType": "ObjectEvent"})
    assert Client().get("/epcis/queries").status_code == 401
    assert not NamedQuery.objects.exists()
