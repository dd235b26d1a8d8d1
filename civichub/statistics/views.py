"""Pages: the staff figures (with CSV) and the public service evaluation. Thin: parse the
filters, call a selector, render."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from civichub.core.charts import bar_chart, column_chart
from civichub.core.errors import ValidationFailed
from civichub.core.http import request_user
from civichub.core.models import OrganisationKind
from civichub.core.views import domain_errors_as_http
from civichub.statistics import forms, selectors


@login_required
@domain_errors_as_http
def figures(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    chosen = forms.figure_filter(request.GET)
    scope: dict[str, Any] = {
        "since": chosen.since,
        "until": chosen.until,
        "period": chosen.period,
        "organisation_id": chosen.organisation_id,
        "area_id": chosen.area_id,
    }
    errors: dict[str, list[str]] = {}
    try:
        if request.GET.get("format") == "csv":
            response = HttpResponse(
                selectors.figures_csv(actor=user, **scope), content_type="text/csv; charset=utf-8"
            )
            name = f"statistics-{chosen.since.isoformat()}-{chosen.until.isoformat()}.csv"
            response["Content-Disposition"] = f'attachment; filename="{name}"'
            return response
        report = selectors.figures_report(actor=user, measure=chosen.measure, **scope)
    except ValidationFailed as exc:
        # Each problem at the control it is about (the dates when it names none).
        errors = {name: list(map(str, found)) for name, found in exc.errors.items()} or {
            "until": [str(exc.message)]
        }
        scope.update(since=chosen.until, period="week")
        report = selectors.figures_report(actor=user, **scope)
    choices = selectors.organisation_choices(user)
    query = request.GET.copy()
    query["format"] = "csv"
    return render(
        request,
        "statistics/figures.html",
        {
            "report": report,
            "errors": errors,
            "measures": selectors.measure_list(),
            "organisations": choices,
            "areas": [o for o in choices if o.kind != OrganisationKind.DEPARTMENT],
            # Time runs along x: one column per period, empty periods as gaps.
            "series_chart": column_chart(
                [(f.label, f.figure) for f in report.series[-31:]], unit=str(report.measure.unit)
            ),
            "organisation_chart": bar_chart(
                [(f.label or _("未分派"), f.figure) for f in report.organisations[:20]]
            ),
            "csv_query": query.urlencode(),
        },
    )


def evaluation(request: HttpRequest) -> HttpResponse:
    result = selectors.evaluation(month=forms.month_of(request.GET.get("month", "")))
    return render(
        request,
        "statistics/evaluation.html",
        {
            "evaluation": result,
            "department_chart": bar_chart(
                [(g.label, g.good_rate) for g in result.departments[:20]]
            ),
        },
    )
