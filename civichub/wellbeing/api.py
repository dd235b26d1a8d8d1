"""Wellbeing's API at /api/wellbeing/: the JSON batch of meter readings a utility sends, and the
visit actions a worker's phone calls. Thin: parse, call a service, shape the answer."""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from ninja import Router, Schema

from civichub.core.models import User
from civichub.wellbeing import selectors, services
from civichub.wellbeing.models import VisitTask

router = Router(tags=["wellbeing"])


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


class ReadingIn(Schema):
    meter_id: str
    at: str
    value: float | str | None
    reset: bool = False


class BatchIn(Schema):
    readings: list[ReadingIn]


class RowErrorOut(Schema):
    row: int
    error: str


class BatchOut(Schema):
    accepted: int
    duplicates: int
    errors: list[RowErrorOut]


@router.post("/readings", response=BatchOut, summary="Send a batch of meter readings")
def readings_batch(request: HttpRequest, payload: BatchIn) -> BatchOut:
    report = services.readings_ingest(
        actor=_user(request), rows=[r.dict() for r in payload.readings]
    )
    return BatchOut(
        accepted=report.accepted,
        duplicates=report.duplicates,
        errors=[RowErrorOut(**e) for e in report.errors],
    )


class VisitOut(Schema):
    id: int
    status: str
    outcome: str
    alert_id: int


class OutcomeIn(Schema):
    outcome: Literal["fine", "needed_help", "hospital", "not_home"]
    real: bool
    note: str = ""


def _visit(task: VisitTask) -> VisitOut:
    return VisitOut(id=task.pk, status=task.status, outcome=task.outcome, alert_id=task.alert_id)


def _task(request: HttpRequest, visit_id: int) -> VisitTask:
    return selectors.visit_detail(actor=_user(request), visit_id=visit_id)


@router.post("/visits/{visit_id}/accept", response=VisitOut, summary="Accept a visit task")
def visit_accept(request: HttpRequest, visit_id: int) -> VisitOut:
    return _visit(services.visit_accept(actor=_user(request), task=_task(request, visit_id)))


@router.post("/visits/{visit_id}/on-the-way", response=VisitOut, summary="Say you are on the way")
def visit_on_the_way(request: HttpRequest, visit_id: int) -> VisitOut:
    return _visit(services.visit_on_the_way(actor=_user(request), task=_task(request, visit_id)))


@router.post("/visits/{visit_id}/outcome", response=VisitOut, summary="Record the visit's outcome")
def visit_outcome(request: HttpRequest, visit_id: int, payload: OutcomeIn) -> VisitOut:
    task = services.visit_record(
        actor=_user(request),
        task=_task(request, visit_id),
        outcome=payload.outcome,
        real=payload.real,
        note=payload.note,
    )
    return _visit(task)
