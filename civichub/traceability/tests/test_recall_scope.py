"""A recall by scope, as the regulator starts one: the scope chosen (farm, feed batch, dates),
a preview of what the trace reaches before anything is sent, then the recall on confirmation.
A scope wider than the limit is said so in the preview and refused at the start, never cut.
The service, the API and the page: one permission check, the same answers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client

from civichub.core.errors import PermissionDenied, ValidationFailed
from civichub.core.models import AuditEvent
from civichub.traceability import selectors, services
from civichub.traceability.models import Event, EventEpc, Recall
from civichub.traceability.tests.conftest import Chain


def _killing(chain: Chain) -> Any:
    return Event.objects.get(biz_step="killing").event_time


def test_the_preview_counts_lots_participants_and_stalls_and_sends_nothing(chain: Chain) -> None:
    preview = selectors.recall_scope_preview(
        user=chain.regulator, kind="farm", farm_id=chain.farm.pk
    )
    assert not preview.too_wide and chain.carcass.epc_class in preview.starts
    assert preview.lots == 2  # the carcass and the mince made from it
    assert {p.pk for p in preview.participants} >= {chain.stall.pk, chain.canteen.pk}
    assert [p.pk for p in preview.stalls] == [chain.stall.pk]
    assert chain.other_stall not in preview.participants
    assert not Recall.objects.exists()
    with pytest.raises(PermissionDenied):
        selectors.recall_scope_preview(user=chain.keeper, kind="farm", farm_id=chain.farm.pk)


def test_the_scope_choice_names_what_is_missing(chain: Chain) -> None:
    with pytest.raises(ValidationFailed) as farm:
        selectors.recall_scope_choice(kind="farm", farm_id=chain.stall.pk)
    assert "farm" in farm.value.errors
    with pytest.raises(ValidationFailed) as dates:
        selectors.recall_scope_choice(kind="dates")
    assert "since" in dates.value.errors
    feed = selectors.recall_scope_choice(kind="feed", feed_code=chain.mince.trace_code)
    assert feed == {"feed": chain.mince}


def test_a_scope_wider_than_the_limit_is_said_and_refused_never_cut(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(selectors, "RECALL_SCOPE_MAX_CODES", 1)
    preview = selectors.recall_scope_preview(
        user=chain.regulator, kind="farm", farm_id=chain.farm.pk
    )
    assert preview.too_wide and preview.limit == 1 and preview.lots == 0
    with pytest.raises(ValidationFailed) as refused:
        services.recall_start_scoped(
            actor=chain.regulator, reason="非洲猪瘟", organisation=chain.city.city, farm=chain.farm
        )
    assert "scope" in refused.value.errors and "1" in refused.value.message
    assert not Recall.objects.exists()


def test_the_api_previews_then_starts_a_recall_by_dates(chain: Chain, api_as: Any) -> None:
    killing = _killing(chain)
    scope = {
        "kind": "dates",
        "since": (killing - timedelta(minutes=30)).isoformat(),
        "until": (killing + timedelta(minutes=30)).isoformat(),
    }
    preview = api_as(chain.regulator).post(
        "/api/traceability/recalls/scope/preview", json_body=scope
    )
    assert preview.status_code == 200, preview.content.decode()
    body = preview.json()
    assert body["starts"] == 1 and body["lots"] == 2 and body["stalls"] == 1
    assert body["limit"] == selectors.RECALL_SCOPE_MAX_CODES and body["too_wide"] is False
    assert not Recall.objects.exists()
    refused = api_as(chain.keeper).post(
        "/api/traceability/recalls/scope/start", json_body=scope | {"reason": "x"}
    )
    assert refused.status_code == 403
    started = api_as(chain.regulator).post(
        "/api/traceability/recalls/scope/start", json_body=scope | {"reason": "屠宰线消毒失败"}
    )
    assert started.status_code == 201, started.content.decode()
    recall = Recall.objects.get(pk=started.json()["id"])
    assert recall.scope["kind"] == "dates" and recall.notices.count() == len(body["participants"])
    assert AuditEvent.objects.filter(
        action="traceability.recall.start", object_id=str(recall.pk)
    ).exists()


def test_the_api_answers_a_missing_farm_with_the_field(chain: Chain, api_as: Any) -> None:
    response = api_as(chain.regulator).post(
        "/api/traceability/recalls/scope/preview", json_body={"kind": "farm"}
    )
    assert response.status_code == 422
    assert "farm" in response.content.decode()


def test_the_page_previews_then_confirms_a_recall_by_farm(chain: Chain) -> None:
    client = Client()
    client.force_login(chain.regulator)
    assert client.get("/trace/recalls/scope/").status_code == 200
    scope = {"kind": "farm", "farm": str(chain.farm.pk), "feed": "", "since": "", "until": ""}
    page = client.post("/trace/recalls/scope/", scope | {"preview": "1"}).content.decode()
    assert "涉及 2 个批次" in page and "其中 1 个摊位" in page and chain.stall.name in page
    assert str(selectors.RECALL_SCOPE_MAX_CODES) in page  # the limit is said, not hidden
    assert not Recall.objects.exists()
    confirmed = client.post("/trace/recalls/scope/", scope | {"confirm": "1", "reason": "非洲猪瘟"})
    recall = Recall.objects.get()
    assert confirmed.status_code == 302 and confirmed["Location"] == f"/trace/recalls/{recall.pk}/"
    assert (
        recall.scope["kind"] == "farm" and recall.notices.filter(participant=chain.stall).exists()
    )


def test_the_page_shows_a_too_wide_scope_and_refuses_it(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(selectors, "RECALL_SCOPE_MAX_CODES", 1)
    client = Client()
    client.force_login(chain.regulator)
    scope = {"kind": "farm", "farm": str(chain.farm.pk)}
    page = client.post("/trace/recalls/scope/", scope | {"preview": "1"}).content.decode()
    assert "超过 1 个" in page and "确认发起召回" not in page
    refused = client.post("/trace/recalls/scope/", scope | {"confirm": "1", "reason": "x"})
    assert refused.status_code == 200 and "超过 1 个" in refused.content.decode()
    assert not Recall.objects.exists()


def test_only_regulators_open_the_scope_page(chain: Chain) -> None:
    client = Client()
    client.force_login(chain.keeper)
    assert client.get("/trace/recalls/scope/").status_code == 403


def _summary(trace: selectors.Trace) -> tuple[Any, ...]:
    return (
        trace.start,
        sorted(trace.upstream),
        sorted(trace.downstream),
        sorted(trace.edges),
        trace.hops,
        [p.pk for p in trace.participants_upstream],
        [p.pk for p in trace.participants_downstream],
    )


def test_many_starts_traced_at_once_are_each_traced_as_alone(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A recall by scope traces its starts a chunk at a time; each start's trace is the one it
    has alone (every identifier of the chain, in chunks of two so that chunks meet)."""
    codes = sorted(set(EventEpc.objects.values_list("epc", flat=True)))
    assert len(codes) >= 5
    monkeypatch.setattr(selectors, "_SCOPE_CHUNK", 2)
    together = selectors.trace_codes([*codes, codes[0]])
    alone = [selectors.trace_code(code) for code in [*codes, codes[0]]]
    assert [_summary(t) for t in together] == [_summary(t) for t in alone]
    assert any(t.downstream for t in together) and any(t.upstream for t in together)
    assert any(t.participants_downstream for t in together)


def test_many_starts_are_looked_up_not_filtered_through_the_whole_table(chain: Chain) -> None:
    """On SQLite, with the statistics of a large registry (20 million identifiers), the walks
    from many starts read the identifiers' indexes: no Bloom filter built from a scan of
    the whole table on every statement (11 s for 250 starts at that size)."""
    from django.db import connection

    known = sorted(set(EventEpc.objects.values_list("epc", flat=True)))
    # A whole chunk of starts (SQLite weighs a Bloom filter by the rows of the outer loop).
    filler = selectors._SCOPE_CHUNK - len(known)
    codes = known + [f"https://id.gs1.org/01/06901234000023/10/N{n}" for n in range(filler)]
    sql = selectors._scope_trace_sql(len(codes))
    parameters = selectors._trace_parameters(codes, 12, many=True)
    with connection.cursor() as cursor:
        if connection.vendor != "sqlite":
            cursor.execute(sql, parameters)
            assert len(cursor.fetchall()) > len(known)
            return
        cursor.execute("ANALYZE")
        for table, rows in (("traceability_eventepc", 20_000_000), ("traceability_event", 10**7)):
            cursor.execute(
                "UPDATE sqlite_stat1 SET stat = %s || substr(stat, instr(stat, ' ')) "
                "WHERE tbl = %s",
                [str(rows), table],
            )
        cursor.execute("ANALYZE sqlite_schema")  # the statistics read again
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", parameters)
        plan = [row[3] for row in cursor.fetchall()]
    assert any("trace_epc_role" in step for step in plan), plan
    assert not [step for step in plan if "BLOOM" in step], plan
