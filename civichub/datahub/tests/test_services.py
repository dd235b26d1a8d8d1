"""Imports (validation, rejects, idempotence, provenance, history, withdrawal, Excel, JSON and
the REST pull), linkage into the registry and the review that settles uncertain pairs."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from civichub.core.errors import Conflict, PermissionDenied, ValidationFailed
from civichub.core.models import AuditEvent
from civichub.datahub import selectors, services
from civichub.datahub.models import (
    AttributeValue,
    BatchStatus,
    ImportBatch,
    LinkMethod,
    Person,
    ReviewItem,
    Source,
    SourceRecord,
)
from civichub.datahub.tests.conftest import LI_NA, ZHANG_WEI, Hub, police_row

pytestmark = pytest.mark.django_db

Importer = Callable[..., ImportBatch]


def _current(record_id: str, name: str) -> list[str]:
    return list(
        AttributeValue.objects.filter(
            record__record_id=record_id, name=name, valid_to=None
        ).values_list("value", flat=True)
    )


def test_bad_rows_are_refused_with_their_code_and_row_number(
    hub: Hub, police_import: Importer
) -> None:
    batch = police_import(
        [
            police_row("P1", "张伟", ZHANG_WEI, "1980-01-01", "男"),
            police_row(
                "P2", "李娜", LI_NA[:17] + ("0" if LI_NA[17] != "0" else "1"), "1992-03-15", "女"
            ),
            police_row("P3", "", LI_NA, "1992-03-15", "女"),
            police_row("P4", "王芳", "", "1990-13-01", "女"),
            police_row("P5", "赵磊", "", "1985-02-02", "男", relation="邻居"),
            police_row("P1", "张伟", ZHANG_WEI, "1980-01-01", "男"),
            police_row("P6", "陈静", "", "1975-07-07", "女", household=""),
        ]
    )
    assert batch.status == BatchStatus.DONE
    assert (batch.rows_total, batch.rows_accepted, batch.rows_rejected) == (7, 1, 6)
    refused = [(e.row_number, e.code, e.field) for e in batch.row_errors.all()]
    assert refused == [
        (2, "identity_invalid", "sfzh"),
        (3, "name_missing", "xm"),
        (4, "date_invalid", "csrq"),
        (5, "choice_invalid", "yhzgx"),
        (6, "record_id_repeated", "rkbh"),
        (7, "required_missing", "hh"),
    ]
    rejects = selectors.batch_rejects_csv(actor=hub.steward, batch=batch).splitlines()
    assert rejects[0].startswith("row_number,code,field,message,rkbh,xm")
    assert rejects[1].startswith("2,identity_invalid,sfzh,")
    assert len(rejects) == 7


def test_a_rerun_of_the_same_delivery_changes_nothing(hub: Hub, police_import: Importer) -> None:
    rows = [police_row("P1", "张伟", ZHANG_WEI, "1980-01-01", "男")]
    first = police_import(rows)
    values = AttributeValue.objects.count()
    again = police_import(rows)
    assert again.pk == first.pk
    assert AttributeValue.objects.count() == values
    # the same content under another row order is another delivery, but writes nothing new
    second = police_import(rows + [police_row("P2", "李娜", LI_NA, "1992-03-15", "女")])
    assert second.pk != first.pk and second.rows_unchanged == 1


def test_every_value_keeps_its_provenance_and_history(hub: Hub, police_import: Importer) -> None:
    first = police_import([police_row("P1", "张伟", ZHANG_WEI, "1980-01-01", "男")])
    moved = police_import(
        [police_row("P1", "张伟", ZHANG_WEI, "1980-01-01", "男", address="松林街道松风路8号")]
    )
    values = AttributeValue.objects.filter(record__record_id="P1", name="address").order_by("pk")
    old, new = list(values)
    assert (old.batch_id, old.closed_by_id, new.batch_id) == (first.pk, moved.pk, moved.pk)
    assert old.valid_to is not None and new.valid_to is None
    assert new.record.source.key == "public_security" and new.received_at is not None
    assert moved.values_written == 1 and moved.rows_accepted == 1


def test_withdrawing_a_batch_brings_back_what_it_replaced(
    hub: Hub, police_import: Importer
) -> None:
    police_import([police_row("P1", "张伟", ZHANG_WEI, "1980-01-01", "男")])
    wrong = police_import(
        [
            police_row("P1", "张伟", ZHANG_WEI, "1980-01-01", "男", household="H999"),
            police_row("P2", "李娜", LI_NA, "1992-03-15", "女"),
        ]
    )
    assert _current("P1", "household_number") == ["H999"]
    with pytest.raises(PermissionDenied):
        services.import_rollback(actor=hub.worker, batch=wrong)
    services.import_rollback(actor=hub.steward, batch=wrong)
    assert _current("P1", "household_number") == ["H001"]
    assert not SourceRecord.objects.filter(record_id="P2").exists()
    assert not Person.objects.filter(name="李娜").exists()
    assert AuditEvent.objects.filter(action="datahub.import.rollback").count() == 1
    # withdrawn, the same file may come again
    again = police_import(
        [
            police_row("P1", "张伟", ZHANG_WEI, "1980-01-01", "男", household="H999"),
            police_row("P2", "李娜", LI_NA, "1992-03-15", "女"),
        ]
    )
    assert again.pk != wrong.pk and _current("P1", "household_number") == ["H999"]


def test_only_the_source_department_imports(hub: Hub) -> None:
    with pytest.raises(PermissionDenied):
        services.import_start(
            actor=hub.health_steward, source=hub.sources["public_security"], content=b"x"
        )


def test_an_excel_delivery_links_to_the_household_register(
    hub: Hub, police_import: Importer, health_import: Importer
) -> None:
    police_import([police_row("P1", "张伟", ZHANG_WEI, "1980-01-01", "男")])
    batch = health_import(
        [
            # an old 15-digit number: the same person once upgraded
            [
                "D1",
                "张伟",
                "110101800101123",
                "1980-01-01",
                "男",
                "幸福路12号",
                "",
                "刘医生",
                "高血压",
                "A",
                None,
            ],
            [
                "D2",
                "李娜",
                "",
                "1992/03/15",
                "女",
                "",
                "13800000000",
                "刘医生",
                "无",
                "O",
                "2025-10-01",
            ],
            ["D3", "王芳", "", "1990-01-01", "女", "", "", "刘医生", "感冒", "B", None],
        ]
    )
    assert (batch.rows_accepted, batch.rows_rejected) == (2, 1)
    assert batch.row_errors.get().code == "choice_invalid"
    zhang = Person.objects.get(identity_hash__isnull=False, name="张伟")
    d1 = SourceRecord.objects.get(record_id="D1")
    assert d1.person == zhang and d1.link_method == LinkMethod.IDENTITY
    assert zhang.resident == hub.resident


class _Department(BaseHTTPRequestHandler):
    pages: dict[str, dict[str, Any]] = {}

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        cursor = parse_qs(urlsplit(self.path).query).get("cursor", [""])[0]
        body = json.dumps(self.pages.get(cursor, {"items": [], "cursor": ""})).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def department_endpoint() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Department)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/enrolments"
    server.shutdown()


def _student(sid: str, name: str, school: str) -> dict[str, str]:
    return {
        "student_id": sid,
        "name": name,
        "birth_date": "2015-09-01",
        "gender": "女",
        "school": school,
        "grade": "5",
    }


def test_a_rest_source_is_pulled_from_its_cursor_on(
    hub: Hub, department_endpoint: str, settings: Any
) -> None:
    settings.OUTBOUND_ALLOW_LOOPBACK = True
    _Department.pages = {
        "": {"items": [_student("S1", "张小雨", "实验小学")], "cursor": "c1"},
        "c1": {"items": [_student("S2", "李明", "实验小学")], "cursor": "c2"},
    }
    source = hub.sources["education"]
    source.url = department_endpoint
    source.save()
    batches = services.source_pull(actor=None, source=source)
    assert [b.rows_accepted for b in batches] == [1, 1]
    source.refresh_from_db()
    assert source.cursor == "c2" and source.last_pulled_at is not None
    _Department.pages["c2"] = {"items": [_student("S1", "张小雨", "第二中学")], "cursor": "c3"}
    (later,) = services.source_pull(actor=None, source=source)
    assert later.rows_accepted == 1 and _current("S1", "school") == ["第二中学"]
    assert services.source_pull(actor=None, source=source) == []


def test_a_rest_source_on_a_private_address_is_refused(hub: Hub) -> None:
    source = hub.sources["education"]
    source.url = "http://10.1.2.3/enrolments"
    source.save()
    with pytest.raises(ValidationFailed) as refused:
        services.source_pull(actor=None, source=source)
    assert "url" in refused.value.errors
    assert not ImportBatch.objects.exists()


def test_one_department_endpoint_down_does_not_stop_the_periodic_pull_of_the_others(
    hub: Hub, department_endpoint: str, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.OUTBOUND_ALLOW_LOOPBACK = True
    _Department.pages = {"": {"items": [_student("S1", "张小雨", "实验小学")], "cursor": ""}}
    refused, working = hub.sources["health"], hub.sources["education"]
    # The refused one first, as the pull meets them: its failure must not end the run.
    for source, url in ((refused, "http://10.1.2.3/records"), (working, department_endpoint)):
        Source.objects.filter(pk=source.pk).update(format="rest", url=url, pull_every_minutes=60)
    assert {s.pk for s in services.sources_due()} >= {refused.pk, working.pk}

    assert services.sources_pull_due() == 1

    working.refresh_from_db()
    refused.refresh_from_db()
    assert working.last_pulled_at is not None and _current("S1", "school") == ["实验小学"]
    assert refused.last_pulled_at is None  # tried again at the next run
    assert f"data source {refused.key} not pulled" in caplog.text


def test_a_record_without_number_is_linked_by_its_fields(
    hub: Hub, police_import: Importer, health_import: Importer
) -> None:
    police_import(
        [
            police_row("P1", "张伟", ZHANG_WEI, "1980-01-01", "男", phone="13912345678"),
            police_row("P2", "李娜", LI_NA, "1992-03-15", "女"),
        ]
    )
    health_import(
        [
            # traditional characters, no number: same pinyin, birth date and phone
            ["D1", "張偉", "", "1980-01-01", "男", "", "13912345678", "刘医生", "无", "A", None],
            # a different woman born the same day as 李娜
            ["D2", "周敏", "", "1992-03-15", "女", "", "", "刘医生", "无", "O", None],
        ]
    )
    d1, d2 = SourceRecord.objects.get(record_id="D1"), SourceRecord.objects.get(record_id="D2")
    assert d1.link_method == LinkMethod.SCORE and d1.person == Person.objects.get(name="张伟")
    assert d2.link_method == LinkMethod.NEW
    assert d2.person is not None and d2.person.name == "周敏"


def test_an_uncertain_pair_waits_for_review_and_the_decision_links(
    hub: Hub, police_import: Importer, health_import: Importer
) -> None:
    police_import([police_row("P1", "张伟", "", "1980-03-04", "男")])
    # a homophone name and a birth date with day and month swapped: neither sure nor unlikely
    health_import([["D1", "章伟", "", "1980-04-03", "男", "", "", "刘医生", "无", "A", None]])
    record = SourceRecord.objects.get(record_id="D1")
    assert record.person is None and record.link_method == LinkMethod.PENDING
    (item,) = selectors.review_queue(actor=hub.worker)
    assert {p["field"]: p["level"] for p in item.explanation}["name"] == "pinyin"
    assert list(selectors.review_queue(actor=hub.doctor)) == []
    services.review_decide(actor=hub.worker, item=item, same=True)
    record.refresh_from_db()
    assert record.person == item.candidate and record.link_method == LinkMethod.REVIEW
    with pytest.raises(Conflict):
        services.review_decide(actor=hub.worker, item=item, same=False)
    assert ReviewItem.objects.get().decided_by == hub.worker


def test_a_split_is_undone_by_the_opposite_merge(
    hub: Hub, police_import: Importer, health_import: Importer
) -> None:
    police_import([police_row("P1", "张伟", ZHANG_WEI, "1980-01-01", "男")])
    health_import(
        [["D1", "张伟", ZHANG_WEI, "1980-01-01", "男", "", "", "刘医生", "无", "A", None]]
    )
    zhang = Person.objects.get()
    record = SourceRecord.objects.get(record_id="D1")
    split = services.record_relink(actor=hub.worker, record=record, person=None).person
    assert split is not None and split != zhang and split.community == zhang.community
    services.record_relink(actor=hub.worker, record=record, person=zhang)
    record.refresh_from_db()
    assert record.person == zhang
    moves = AuditEvent.objects.filter(action="datahub.record.relink").order_by("pk")
    assert [m.changes["from_person"] for m in moves] == [zhang.pk, split.pk]
    # linkage never changed the health department's values
    assert _current("D1", "blood_group") == ["A"]


def test_a_resident_asks_the_department_to_correct_a_value(
    hub: Hub, police_import: Importer
) -> None:
    police_import([police_row("P1", "张伟", ZHANG_WEI, "1980-01-01", "男")])
    mine = selectors.my_record(actor=hub.resident_user)
    assert mine is not None
    address = next(v for v in mine.values if v.name == "address")
    value = selectors.my_value_get(actor=hub.resident_user, pk=address.id)
    with pytest.raises(PermissionDenied):
        selectors.my_value_get(actor=hub.worker, pk=address.id)
    asked = services.correction_request(
        actor=hub.resident_user, value=value, proposed_value="幸福路14号", reason="已搬家"
    )
    assert list(selectors.correction_list(actor=hub.health_steward)) == []
    (seen,) = selectors.correction_list(actor=hub.steward)
    answered = services.correction_answer(
        actor=hub.steward, request=seen, corrected=True, answer="已在户籍系统更正"
    )
    assert answered.status == "corrected" and asked.pk == answered.pk
    with pytest.raises(Conflict):
        services.correction_answer(actor=hub.steward, request=seen, corrected=False, answer="x")
    # the hub's value is the department's until its next delivery
    assert _current("P1", "address") == [address.value]
