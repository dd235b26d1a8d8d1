"""The statistics API: the declared measures, the figures in the caller's scope, and the public
service evaluation. Thin: parse, call a selector, shape the answer."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema

from civichub.core.http import request_user
from civichub.statistics import selectors
from civichub.statistics.selectors import Figure, Grade

router = Router(tags=["statistics"])


class MeasureOut(Schema):
    key: str
    label: str
    kind: Literal["count", "mean", "rate"]
    unit: str
    breakdown: str


class MeasureFigureOut(Schema):
    key: str
    label: str
    value: float
    count: int
    figure: float | None


class MeasureTotalOut(MeasureFigureOut):
    kind: Literal["count", "mean", "rate"]
    unit: str


class MeasureFiguresOut(Schema):
    since: dt.date
    until: dt.date
    period: Literal["day", "week", "month"]
    measure: str
    organisation_id: int | None
    area_id: int | None
    totals: list[MeasureTotalOut]
    series: list[MeasureFigureOut]
    organisations: list[MeasureFigureOut]
    breakdown: list[MeasureFigureOut]


def _figure(f: Figure) -> MeasureFigureOut:
    return MeasureFigureOut(key=f.key, label=f.label, value=f.value, count=f.count, figure=f.figure)


@router.get("/measures", response=list[MeasureOut], summary="The measures every module declares")
def measure_list(request: HttpRequest) -> list[MeasureOut]:
    request_user(request)
    return [
        MeasureOut(
            key=m.key,
            label=str(m.label),
            kind=m.kind,
            unit=str(m.unit),
            breakdown=str(m.breakdown_title),
        )
        for m in selectors.measure_list()
    ]


@router.get(
    "/figures", response=MeasureFiguresOut, summary="Figures of every module in the caller's scope"
)
def figures(
    request: HttpRequest,
    since: dt.date,
    until: dt.date,
    period: Literal["day", "week", "month"] = "week",
    measure: str = Query("casework.received", max_length=64),
    organisation: int | None = Query(None, ge=1, le=2**63 - 1),
    area: int | None = Query(None, ge=1, le=2**63 - 1),
) -> MeasureFiguresOut:
    report = selectors.figures_report(
        actor=request_user(request),
        since=since,
        until=until,
        period=period,
        measure=measure,
        organisation_id=organisation,
        area_id=area,
    )
    return MeasureFiguresOut(
        since=report.since,
        until=report.until,
        period=period,
        measure=report.measure.key,
        organisation_id=report.organisation.pk if report.organisation else None,
        area_id=report.area.pk if report.area else None,
        totals=[
            MeasureTotalOut(
                **_figure(f).dict(),
                kind=m.kind,
                unit=str(m.unit),
            )
            for m, f in report.totals
        ],
        series=[_figure(f) for f in report.series],
        organisations=[_figure(f) for f in report.organisations],
        breakdown=[_figure(f) for f in report.breakdown],
    )


class EvaluationGradeOut(Schema):
    key: str
    label: str
    rated: int
    good: int
    bad: int
    good_rate: float | None


class EvaluationOut(Schema):
    month: str | None
    months: list[str]
    total: EvaluationGradeOut
    departments: list[EvaluationGradeOut]
    services: list[EvaluationGradeOut]


def _grade(g: Grade) -> EvaluationGradeOut:
    return EvaluationGradeOut(
        key=g.key, label=g.label, rated=g.rated, good=g.good, bad=g.bad, good_rate=g.good_rate
    )


@router.get(
    "/evaluation",
    response=EvaluationOut,
    auth=None,
    summary="The public service evaluation (好差评) of a month, by department and service",
)
def evaluation(
    request: HttpRequest, month: str | None = Query(None, pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
) -> EvaluationOut:
    chosen = dt.date.fromisoformat(f"{month}-01") if month else None
    result = selectors.evaluation(month=chosen)
    return EvaluationOut(
        month=result.month.strftime("%Y-%m") if result.month else None,
        months=[m.strftime("%Y-%m") for m in result.months],
        total=_grade(result.total),
        departments=[_grade(g) for g in result.departments],
        services=[_grade(g) for g in result.services],
    )
