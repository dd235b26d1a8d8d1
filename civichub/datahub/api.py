"""The data hub API: sources and their health, pushing records, imports with progress and
refused rows, withdrawal, the review queue, sharing agreements, agreement-scoped reads of a
person, and a resident's own record with its access log. Thin: parse, call a selector or a
service, shape the answer."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Field, Query, Router, Schema, Status

from civichub.core.http import request_user
from civichub.core.selectors import organisation_get
from civichub.datahub import selectors, services
from civichub.datahub.exchange import exchange_allow, exchange_record
from civichub.datahub.models import (
    AccessEntry,
    Agreement,
    CorrectionRequest,
    ExchangeEntry,
    ImportBatch,
    ReviewItem,
)
from civichub.datahub.selectors import AttributeReading, SourceHealth

router = Router(tags=["datahub"])


class SourceOut(Schema):
    key: str
    name: str
    department_id: int
    format: str
    batches: int
    rows_accepted: int
    rows_rejected: int
    records: int
    linked: int
    linkage_rate: float | None
    open_reviews: int
    stale: bool
    last_received_at: dt.datetime | None


def _source(h: SourceHealth) -> SourceOut:
    return SourceOut(
        key=h.source.key,
        name=h.source.name,
        department_id=h.source.department_id,
        format=h.source.format,
        batches=h.batches,
        rows_accepted=h.rows_accepted,
        rows_rejected=h.rows_rejected,
        records=h.records,
        linked=h.linked,
        linkage_rate=h.linkage_rate,
        open_reviews=h.open_reviews,
        stale=h.stale,
        last_received_at=h.source.last_received_at,
    )


class ImportBatchOut(Schema):
    id: int
    source: str = Field(..., alias="source.key")
    status: str
    file_name: str
    rows_total: int
    rows_done: int
    rows_accepted: int
    rows_rejected: int
    rows_unchanged: int
    values_written: int
    created_at: dt.datetime
    finished_at: dt.datetime | None
    rolled_back_at: dt.datetime | None


class ImportRowErrorOut(Schema):
    row_number: int
    code: str
    field: str
    message: str


class RecordsIn(Schema):
    items: list[dict[str, Any]] = Field(..., min_length=1, max_length=5000)


class ReviewOut(Schema):
    id: int
    source: str
    record_id: str
    candidate_id: int
    weight: float
    explanation: list[dict[str, Any]]
    status: str


def _review(item: ReviewItem) -> ReviewOut:
    return ReviewOut(
        id=item.pk,
        source=item.record.source.key,
        record_id=item.record.record_id,
        candidate_id=item.candidate_id,
        weight=item.weight,
        explanation=item.explanation,
        status=item.status,
    )


class ReviewDecisionIn(Schema):
    same: bool


class AgreementIn(Schema):
    source: str = Field(..., max_length=48)
    reader_id: int
    role: str = Field(..., max_length=48)
    area_id: int
    attributes: list[str] = Field(..., min_length=1, max_length=50)
    purpose: str = Field(..., min_length=1, max_length=100)
    legal_basis: str = Field("", max_length=200, description="Required unless basis is consent.")
    scope: str = Field(
        "area",
        description="area: everyone in the area; contracted: only the "
        "people whose record names the reader in the source's contract attribute",
    )
    basis: str = Field("law", description="law (legal_basis) or consent (each person's own)")
    consent_text: str = Field("", max_length=4000)
    consent_version: str = Field("", max_length=20)
    valid_from: dt.date
    valid_until: dt.date | None = None


class AgreementOut(Schema):
    id: int
    source: str = Field(..., alias="source.key")
    reader_id: int
    role: str
    area_id: int
    attributes: list[str]
    purpose: str
    legal_basis: str
    scope: str
    basis: str
    consent_version: str
    valid_from: dt.date
    valid_until: dt.date | None
    ended_at: dt.datetime | None


class AttributeQuery(Schema):
    purpose: str = Field(
        ..., min_length=1, max_length=100, description="Why the data is read; the person sees it."
    )
    names: str = Field(
        "", max_length=1000, description="Comma-separated attribute names; all if empty."
    )


class ReadingOut(Schema):
    id: int
    name: str
    value: str
    source: str
    source_name: str
    record_id: str
    received_at: dt.datetime
    valid_from: dt.datetime
    valid_to: dt.datetime | None


def _reading(r: AttributeReading) -> ReadingOut:
    return ReadingOut(**r.__dict__)


class PersonAttributesOut(Schema):
    person_id: int
    purpose: str
    values: list[ReadingOut]
    withheld: list[str]


class AccessOut(Schema):
    at: dt.datetime
    reader: str
    organisation: str
    role: str
    purpose: str
    attributes: list[str]


def _access(a: AccessEntry) -> AccessOut:
    return AccessOut(
        at=a.at,
        reader=a.reader_label,
        organisation=a.organisation.name if a.organisation else "",
        role=a.role,
        purpose=a.purpose,
        attributes=a.attributes,
    )


class CorrectionIn(Schema):
    value_id: int
    proposed_value: str = Field("", max_length=300)
    reason: str = Field(..., min_length=1, max_length=500)


class CorrectionOut(Schema):
    id: int
    source: str = Field(..., alias="source.key")
    attribute: str
    current_value: str
    proposed_value: str
    reason: str
    status: str
    answer: str
    created_at: dt.datetime
    answered_at: dt.datetime | None


class CorrectionAnswerIn(Schema):
    corrected: bool
    answer: str = Field(..., min_length=1, max_length=500)


class ConsentOut(Schema):
    agreement_id: int
    purpose: str
    text_version: str
    given_at: dt.datetime
    withdrawn_at: dt.datetime | None


class ConsentChoiceOut(Schema):
    agreement_id: int
    source: str
    purpose: str
    attributes: list[str]
    consent_text: str
    consent_version: str
    given: bool


class ConsentIn(Schema):
    given: bool = Field(..., description="true to give consent, false to withdraw it")


class MyRecordOut(Schema):
    person_id: int | None
    values: list[ReadingOut]
    history: list[ReadingOut]
    accesses: list[AccessOut]
    corrections: list[CorrectionOut]
    consents: list[ConsentChoiceOut] = []
    consent_history: list[ConsentOut] = []


@router.get("/sources", response=list[SourceOut], summary="Sources in scope, with their health")
def source_list(request: HttpRequest) -> list[SourceOut]:
    return [_source(h) for h in selectors.source_list(actor=request_user(request))]


@router.post(
    "/sources/{key}/records",
    response={201: ImportBatchOut},
    summary="Push records to a source (a JSON delivery); the same items again change nothing",
)
def records_push(request: HttpRequest, key: str, body: RecordsIn) -> Status:
    actor = request_user(request)
    exchange_allow(actor)
    source = selectors.source_get(actor=actor, key=key)
    content = json.dumps(body.items, ensure_ascii=False, sort_keys=True).encode()
    batch = services.import_start(
        actor=actor, source=source, content=content, file_name="api", fmt="json"
    )
    exchange_record(
        request,
        client=actor,
        service=f"datahub.records.push:{source.key}",
        purpose="",
        status=201,
        body=batch.content_hash.encode(),
    )
    return Status(201, batch)


@router.get("/imports/{batch_id}", response=ImportBatchOut, summary="An import and its progress")
def batch_get(request: HttpRequest, batch_id: int) -> ImportBatch:
    return selectors.batch_get(actor=request_user(request), pk=batch_id)


@router.get(
    "/imports/{batch_id}/rejects",
    response=list[ImportRowErrorOut],
    summary="The rows an import refused",
)
def batch_rejects(request: HttpRequest, batch_id: int) -> list[Any]:
    actor = request_user(request)
    batch = selectors.batch_get(actor=actor, pk=batch_id)
    return selectors.batch_row_errors(actor=actor, batch=batch, limit=1000)


@router.post("/imports/{batch_id}/rollback", response=ImportBatchOut, summary="Withdraw an import")
def batch_rollback(request: HttpRequest, batch_id: int) -> ImportBatch:
    actor = request_user(request)
    batch = selectors.batch_get(actor=actor, pk=batch_id)
    return services.import_rollback(actor=actor, batch=batch)


@router.get("/reviews", response=list[ReviewOut], summary="Open review items in scope")
def review_list(request: HttpRequest) -> list[ReviewOut]:
    items = selectors.review_queue(actor=request_user(request))[:200]
    return [_review(i) for i in items]


@router.post("/reviews/{review_id}/decision", response=ReviewOut, summary="Settle a pair")
def review_decide(request: HttpRequest, review_id: int, body: ReviewDecisionIn) -> ReviewOut:
    actor = request_user(request)
    item = selectors.review_get(actor=actor, pk=review_id)
    services.review_decide(actor=actor, item=item, same=body.same)
    item.refresh_from_db()
    return _review(item)


@router.get("/agreements", response=list[AgreementOut], summary="Sharing agreements in scope")
def agreement_list(request: HttpRequest) -> list[Agreement]:
    return list(selectors.agreement_list(actor=request_user(request))[:500])


@router.post("/agreements", response={201: AgreementOut}, summary="Approve a sharing agreement")
def agreement_create(request: HttpRequest, body: AgreementIn) -> Status:
    actor = request_user(request)
    agreement = services.agreement_create(
        actor=actor,
        source=selectors.source_get(actor=actor, key=body.source),
        reader=organisation_get(pk=body.reader_id),
        role=body.role,
        area=organisation_get(pk=body.area_id),
        attributes=body.attributes,
        purpose=body.purpose,
        legal_basis=body.legal_basis,
        valid_from=body.valid_from,
        valid_until=body.valid_until,
        scope=body.scope,
        basis=body.basis,
        consent_text=body.consent_text,
        consent_version=body.consent_version,
    )
    return Status(201, agreement)


@router.post("/agreements/{agreement_id}/end", response=AgreementOut, summary="End an agreement")
def agreement_end(request: HttpRequest, agreement_id: int) -> Agreement:
    actor = request_user(request)
    agreement = selectors.agreement_get(actor=actor, pk=agreement_id)
    return services.agreement_end(actor=actor, agreement=agreement)


@router.get(
    "/persons/{person_id}/attributes",
    response=PersonAttributesOut,
    summary="A person's attributes as far as an agreement allows; the person sees the read",
)
def person_attributes(
    request: HttpRequest, person_id: int, query: Query[AttributeQuery]
) -> HttpResponse:
    names = [n.strip() for n in query.names.split(",") if n.strip()]
    actor = request_user(request)
    exchange_allow(actor)
    found = selectors.person_attributes(
        actor=actor,
        person=selectors.person_get(pk=person_id),
        names=names or None,
        purpose=query.purpose,
        channel="api",
    )
    answer = PersonAttributesOut(
        person_id=found.person_id,
        purpose=found.purpose,
        values=[_reading(r) for r in found.values],
        withheld=found.withheld,
    )
    # rendered here, so that the logged hash is the hash of the very bytes sent
    response = JsonResponse(answer.model_dump(mode="json"))
    exchange_record(
        request,
        client=actor,
        service="datahub.person.attributes",
        purpose=found.purpose,
        status=200,
        body=response.content,
    )
    return response


@router.get("/me", response=MyRecordOut, summary="My own record and who looked at it")
def my_record(request: HttpRequest) -> MyRecordOut:
    mine = selectors.my_record(actor=request_user(request))
    if mine is None:
        return MyRecordOut(person_id=None, values=[], history=[], accesses=[], corrections=[])
    return MyRecordOut(
        person_id=mine.person.pk,
        values=[_reading(r) for r in mine.values],
        history=[_reading(r) for r in mine.history],
        accesses=[_access(a) for a in mine.accesses],
        corrections=[CorrectionOut.from_orm(c) for c in mine.corrections],
        consents=[
            ConsentChoiceOut(
                agreement_id=c.agreement.pk,
                source=c.agreement.source.key,
                purpose=c.agreement.purpose,
                attributes=c.agreement.attributes,
                consent_text=c.agreement.consent_text,
                consent_version=c.agreement.consent_version,
                given=c.consent is not None,
            )
            for c in mine.consents
        ],
        consent_history=[ConsentOut.from_orm(c) for c in mine.consent_history],
    )


@router.post(
    "/me/consents/{agreement_id}",
    response=ConsentOut,
    summary="Give or withdraw my separate consent to an agreement that rests on consent",
)
def my_consent(request: HttpRequest, agreement_id: int, body: ConsentIn) -> Any:
    actor = request_user(request)
    person, agreement = selectors.my_consent_agreement(actor=actor, pk=agreement_id)
    change = services.consent_give if body.given else services.consent_withdraw
    return change(actor=actor, person=person, agreement=agreement)


@router.post(
    "/me/corrections",
    response={201: CorrectionOut},
    summary="Ask the source department to correct one of my values",
)
def correction_request(request: HttpRequest, body: CorrectionIn) -> Status:
    actor = request_user(request)
    value = selectors.my_value_get(actor=actor, pk=body.value_id)
    made = services.correction_request(
        actor=actor, value=value, proposed_value=body.proposed_value, reason=body.reason
    )
    return Status(201, made)


@router.get(
    "/corrections", response=list[CorrectionOut], summary="Correction requests to my departments"
)
def correction_list(request: HttpRequest) -> list[CorrectionRequest]:
    return list(selectors.correction_list(actor=request_user(request))[:500])


@router.post(
    "/corrections/{correction_id}/answer", response=CorrectionOut, summary="Answer a request"
)
def correction_answer(request: HttpRequest, correction_id: int, body: CorrectionAnswerIn) -> Any:
    actor = request_user(request)
    found = selectors.correction_get(actor=actor, pk=correction_id)
    return services.correction_answer(
        actor=actor, request=found, corrected=body.corrected, answer=body.answer
    )


class ExchangeOut(Schema):
    at: dt.datetime
    request_id: str
    client: str = Field(..., alias="client_label")
    service: str
    acting_user: str
    purpose: str
    status: int
    response_hash: str
    sequence: int | None
    previous_hash: str
    entry_hash: str


class ExchangeQuery(Schema):
    service: str = Field("", max_length=100)
    request_id: str = Field("", max_length=36)
    client: str = Field("", max_length=150, description="The client account's username.")
    acting_user: str = Field("", max_length=100)
    purpose: str = Field("", max_length=200, description="A part of the purpose or case id.")
    since: dt.datetime | None = None
    until: dt.datetime | None = None


@router.get(
    "/exchange-log",
    response=list[ExchangeOut],
    summary="The exchange API's message log (auditors)",
)
def exchange_log(request: HttpRequest, query: Query[ExchangeQuery]) -> list[ExchangeEntry]:
    found = selectors.exchange_log(actor=request_user(request), **query.model_dump())
    return list(found[:500])
