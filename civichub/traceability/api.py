"""The traceability API (Django Ninja): a lot's journey by trace code (public, what the kiosk
and the phone app show), a lot's trace graph for staff, recalls and their acknowledgement.
The EPCIS 2.0 binding itself is under /epcis/ (its own standard); this is the platform's API."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Router, Schema

from civichub.core.errors import NotFound
from civichub.core.http import request_user
from civichub.traceability import selectors, services
from civichub.traceability.models import Participant, Recall, RecallNotice

router = Router(tags=["traceability"])


class StepOut(Schema):
    when: dt.datetime
    step: str
    label_zh: str
    label_en: str
    participant: str | None
    participant_kind: str | None
    certificates: list[str]
    results: list[str]
    corrected: bool


class JourneyOut(Schema):
    product: str
    product_en: str
    gtin: str
    lot: str
    trace_code: str
    origin: str | None
    fresh: bool | None
    recalled: bool
    recall_reasons: list[str]
    steps: list[StepOut]


class GraphEdgeOut(Schema):
    source: str
    target: str
    via: str
    event: str


class ParticipantOut(Schema):
    id: int
    kind: str
    name: str
    location: str


class TraceOut(Schema):
    start: str
    hops: int
    upstream: list[str]
    downstream: list[str]
    participants_upstream: list[ParticipantOut]
    participants_downstream: list[ParticipantOut]
    edges: list[GraphEdgeOut]


class RecallIn(Schema):
    lot_id: int
    reason: str


class RecallScopeIn(Schema):
    """A recall's scope: `farm` (farm_id, within since/until if given), `feed` (the feed
    batch's 20-digit trace code) or `dates` (since and/or until: the lots made in the range)."""

    kind: Literal["farm", "feed", "dates"]
    farm_id: int | None = None
    feed_trace_code: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None


class RecallScopedIn(RecallScopeIn):
    reason: str


class RecallScopePreviewOut(Schema):
    kind: str
    starts: int
    limit: int
    too_wide: bool
    lots: int
    codes: int
    participants: list[ParticipantOut]
    stalls: int
    retail: int


class NoticeOut(Schema):
    id: int
    participant: str
    notified_at: dt.datetime
    acknowledged_at: dt.datetime | None
    quantity_withdrawn: float | None
    reminders_sent: int


class RecallOut(Schema):
    id: int
    lot_id: int
    reason: str
    state: str
    affected_codes: list[str]
    announcement_url: str
    notices: list[NoticeOut]


class RemindOut(Schema):
    reminded: int


class AcknowledgeIn(Schema):
    quantity_withdrawn: float
    note: str = ""


def _participant(p: Participant) -> ParticipantOut:
    return ParticipantOut(id=p.pk, kind=p.kind, name=p.name, location=p.location_uri)


def _notice(n: RecallNotice) -> NoticeOut:
    return NoticeOut(
        id=n.pk,
        participant=n.participant.name,
        notified_at=n.notified_at,
        acknowledged_at=n.acknowledged_at,
        quantity_withdrawn=n.quantity_withdrawn,
        reminders_sent=n.reminders_sent,
    )


def _recall(request: HttpRequest, recall: Recall) -> RecallOut:
    notices = selectors.notices_for(user=request_user(request), recall=recall)
    return RecallOut(
        id=recall.pk,
        lot_id=recall.lot_id,
        reason=recall.reason,
        state=recall.state,
        affected_codes=recall.affected_codes,
        announcement_url=recall.announcement_url,
        notices=[_notice(n) for n in notices],
    )


@router.get(
    "/codes/{code}", response=JourneyOut, auth=None, summary="A lot's journey by trace code"
)
def journey_by_code(request: HttpRequest, code: str) -> JourneyOut:
    lot = selectors.lot_by_trace_code(code)
    journey = selectors.lot_journey(lot=lot)
    return JourneyOut(
        product=lot.product.name,
        product_en=lot.product.name_en,
        gtin=lot.product.gtin,
        lot=lot.lot,
        trace_code=lot.trace_code,
        origin=lot.origin.name if lot.origin else None,
        fresh=journey.fresh,
        recalled=bool(journey.recalls),
        recall_reasons=[r.reason for r in journey.recalls],
        steps=[
            StepOut(
                when=s.when,
                step=s.step,
                label_zh=s.label_zh,
                label_en=s.label_en,
                participant=s.participant.name if s.participant else None,
                participant_kind=s.participant.kind if s.participant else None,
                certificates=s.certificates,
                results=s.results,
                corrected=s.declared_error,
            )
            for s in journey.steps
        ],
    )


@router.get("/lots/{lot_id}/trace", response=TraceOut, summary="A lot's trace, both ways")
def lot_trace(request: HttpRequest, lot_id: int) -> TraceOut:
    user = request_user(request)
    lot = selectors.lot_list(user=user).filter(pk=lot_id).first()
    if lot is None:
        raise NotFound("no such lot")
    trace = selectors.lot_trace(user=user, lot=lot)
    return TraceOut(
        start=trace.start,
        hops=trace.hops,
        upstream=sorted(trace.upstream),
        downstream=sorted(trace.downstream),
        participants_upstream=[_participant(p) for p in trace.participants_upstream],
        participants_downstream=[_participant(p) for p in trace.participants_downstream],
        edges=[GraphEdgeOut(source=a, target=b, via=k, event=e) for a, b, k, e in trace.edges],
    )


@router.post("/recalls", response={201: RecallOut}, summary="Start a recall of a lot")
def recall_start(request: HttpRequest, payload: RecallIn) -> tuple[int, RecallOut]:
    user = request_user(request)
    lot = selectors.lot_list(user=user).filter(pk=payload.lot_id).first()
    if lot is None:
        raise NotFound("no such lot")
    recall = services.recall_start(
        actor=user,
        lot=lot,
        reason=payload.reason,
        organisation=selectors.regulator_organisation(user),
    )
    return 201, _recall(request, recall)


@router.get("/recalls/{recall_id}", response=RecallOut, summary="A recall and its notices")
def recall_detail(request: HttpRequest, recall_id: int) -> RecallOut:
    recall = selectors.recall_detail(user=request_user(request), recall_id=recall_id)
    return _recall(request, recall)


@router.post(
    "/recalls/{recall_id}/remind",
    response=RemindOut,
    summary="Remind every participant that has not acknowledged the recall",
)
def recall_remind(request: HttpRequest, recall_id: int) -> RemindOut:
    user = request_user(request)
    recall = selectors.recall_detail(user=user, recall_id=recall_id)
    return RemindOut(reminded=services.recall_remind(actor=user, recall=recall))


@router.post(
    "/notices/{notice_id}/acknowledge", response=NoticeOut, summary="Acknowledge a recall notice"
)
def notice_acknowledge(request: HttpRequest, notice_id: int, payload: AcknowledgeIn) -> NoticeOut:
    user = request_user(request)
    notice = selectors.notice_for_acknowledgement(user=user, notice_id=notice_id)
    notice = services.recall_acknowledge(
        actor=user,
        notice=notice,
        quantity_withdrawn=payload.quantity_withdrawn,
        note=payload.note,
    )
    return _notice(notice)


def _choice(payload: RecallScopeIn) -> dict[str, Any]:
    return {
        "kind": payload.kind,
        "farm_id": payload.farm_id,
        "feed_code": payload.feed_trace_code,
        "since": payload.since,
        "until": payload.until,
    }


@router.post(
    "/recalls/scope/preview",
    response=RecallScopePreviewOut,
    summary="What a recall by farm, feed batch or dates would reach, before starting it",
)
def recall_scope_preview(request: HttpRequest, payload: RecallScopeIn) -> RecallScopePreviewOut:
    scope = selectors.recall_scope_preview(user=request_user(request), **_choice(payload))
    return RecallScopePreviewOut(
        kind=scope.kind,
        starts=len(scope.starts),
        limit=scope.limit,
        too_wide=scope.too_wide,
        lots=scope.lots,
        codes=len(scope.affected),
        participants=[_participant(p) for p in scope.participants],
        stalls=len(scope.stalls),
        retail=len(scope.retail),
    )


@router.post(
    "/recalls/scope/start",
    response={201: RecallOut},
    summary="Start a recall by farm, feed batch or dates",
)
def recall_start_scoped(request: HttpRequest, payload: RecallScopedIn) -> tuple[int, RecallOut]:
    user = request_user(request)
    organisation = selectors.regulator_organisation(user)  # the permission check comes first
    recall = services.recall_start_scoped(
        actor=user,
        reason=payload.reason,
        organisation=organisation,
        **selectors.recall_scope_choice(**_choice(payload)),
    )
    return 201, _recall(request, recall)
