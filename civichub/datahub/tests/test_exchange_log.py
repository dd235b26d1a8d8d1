"""The exchange API's message log: hash-chained, so `civichub datahub_exchange verify` finds
an edited, deleted or inserted entry; searchable by auditors; limited per client."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from civichub.datahub import exchange
from civichub.datahub.exchange import entry_digest, exchange_verify
from civichub.datahub.models import ExchangeEntry, ImportBatch, Person
from civichub.datahub.tests.conftest import ZHANG_WEI, Hub, agreement_make, police_row
from civichub.testing.city import staff_user

pytestmark = pytest.mark.django_db

BLOOD = "紧急用血"


@pytest.fixture
def calls(
    hub: Hub, api_as: Callable[..., Any], police_import: Callable[..., ImportBatch]
) -> list[ExchangeEntry]:
    """Four calls of the exchange API by the doctor's clinic system, each naming the official."""
    police_import([police_row("P1", "张伟", ZHANG_WEI, "1980-01-01", "男")])
    agreement_make(hub, purpose=BLOOD, legal_basis="献血法")
    doctor = api_as(hub.doctor)
    url = f"/api/datahub/persons/{Person.objects.get().pk}/attributes"
    for n in range(4):
        doctor.headers["X-Acting-User"] = f"CN-doctor-{n}"
        assert doctor.get(url, purpose=BLOOD).status_code == 200
    return list(ExchangeEntry.objects.order_by("sequence"))


def _verify() -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("datahub_exchange", "verify", stdout=out, stderr=err)
    except CommandError as exc:
        return "broken", err.getvalue() + str(exc)
    return "intact", out.getvalue()


def test_each_entry_is_chained_to_the_one_before(calls: list[ExchangeEntry]) -> None:
    assert [e.sequence for e in calls] == [1, 2, 3, 4]
    assert calls[0].previous_hash == ""
    assert [e.previous_hash for e in calls[1:]] == [e.entry_hash for e in calls[:-1]]
    assert all(entry_digest(e) == e.entry_hash for e in calls)
    status, out = _verify()
    assert status == "intact" and "entries: 4" in out and calls[-1].entry_hash in out


def test_verify_finds_an_edited_entry(calls: list[ExchangeEntry]) -> None:
    ExchangeEntry.objects.filter(pk=calls[1].pk).update(purpose="体检")
    status, out = _verify()
    assert status == "broken" and "#2: changed after it was written" in out
    assert exchange_verify().problems == ["#2: changed after it was written"]


def test_verify_finds_an_edited_entry_whose_hash_was_recomputed(
    calls: list[ExchangeEntry],
) -> None:
    edited = calls[1]
    edited.acting_user = "someone-else"
    edited.entry_hash = entry_digest(edited)
    edited.save()
    assert exchange_verify().problems == ["#3: does not follow the entry before it"]


def test_verify_finds_a_deleted_entry(calls: list[ExchangeEntry]) -> None:
    ExchangeEntry.objects.filter(pk=calls[2].pk).delete()
    status, out = _verify()
    assert status == "broken" and "#4: entries 3..3 missing" in out
    assert "#4: does not follow the entry before it" in out


def test_verify_finds_the_last_entry_deleted(calls: list[ExchangeEntry]) -> None:
    ExchangeEntry.objects.filter(pk=calls[-1].pk).delete()
    assert exchange_verify().problems == ["the log ends at #3 but its head is at #4"]


def test_verify_finds_an_entry_slipped_in(calls: list[ExchangeEntry]) -> None:
    forged = calls[0]
    forged.pk, forged.sequence, forged.purpose = None, None, "无中生有"
    forged.save()
    assert exchange_verify().problems == ["1 entries outside the chain"]


def test_auditors_search_the_log_by_client_official_purpose_and_time(
    hub: Hub, calls: list[ExchangeEntry], api_as: Callable[..., Any]
) -> None:
    auditor = api_as(hub.auditor)

    def found(**query: str) -> list[str]:
        answer = auditor.get("/api/datahub/exchange-log", **query)
        assert answer.status_code == 200
        return sorted(e["acting_user"] for e in answer.json())

    assert found(client=hub.doctor.username) == [f"CN-doctor-{n}" for n in range(4)]
    assert found(client="someone") == []
    assert found(acting_user="CN-doctor-2") == ["CN-doctor-2"]
    assert len(found(purpose="用血")) == 4 and found(purpose="体检") == []
    later = (calls[-1].at + dt.timedelta(seconds=1)).isoformat()
    assert found(since=later) == []
    assert len(found(until=later)) == 4
    (entry,) = auditor.get("/api/datahub/exchange-log", request_id=calls[0].request_id).json()
    assert (entry["sequence"], entry["entry_hash"]) == (1, calls[0].entry_hash)


def test_a_client_has_its_own_rate_limit(
    hub: Hub, api_as: Callable[..., Any], settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one minute throughout, so the count cannot start again halfway
    monkeypatch.setattr(exchange, "time", SimpleNamespace(time=lambda: 60_000_030.0))
    fast = staff_user("data_steward", hub.civil_affairs, username="nightly")
    slow = staff_user("data_steward", hub.civil_affairs, username="clinic")
    settings.CIVICHUB_DATAHUB = {
        "exchange_calls_per_minute": 3,
        "exchange_client_calls_per_minute": {"clinic": 1},
    }
    url = "/api/datahub/sources/civil_affairs/records"
    body = {"items": [{"record_id": "C1", "name": "李秀英"}]}
    assert [api_as(slow).post(url, body).status_code for _ in range(2)] == [201, 429]
    fast_api = api_as(fast)
    assert [fast_api.post(url, body).status_code for _ in range(4)] == [201, 201, 201, 429]
