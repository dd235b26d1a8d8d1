"""The community worker's pages, made for a phone: open visit tasks, and one task with the
alert's explanation, evidence and chart, and the accept / on the way / outcome forms. Thin: the
same selectors and services as the API."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from civichub.core.errors import Conflict, NotFound, ValidationFailed
from civichub.core.models import User
from civichub.core.views import domain_errors_as_http
from civichub.wellbeing import selectors, services
from civichub.wellbeing.models import VisitOutcome, VisitStatus

CHART_WIDTH, CHART_HEIGHT = 320, 120
ERROR_KEY = "wellbeing_visit_error"


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def chart_svg_points(chart: dict[str, Any]) -> dict[str, Any]:
    """Bars of water use per hour over the last two days, and the household's usual chance of
    activity at each hour as a line, scaled into the chart's box."""
    hours = chart.get("hours", [])
    if not hours:
        return {"bars": [], "usual": "", "width": CHART_WIDTH, "height": CHART_HEIGHT}
    step = CHART_WIDTH / len(hours)
    peak = max([h["water_l"] or 0.0 for h in hours] + [1.0])
    bars = []
    for i, hour in enumerate(hours):
        litres = hour["water_l"]
        height = 0.0 if litres is None else (CHART_HEIGHT - 10) * litres / peak
        bars.append(
            {
                "x": round(i * step, 1),
                "y": round(CHART_HEIGHT - height, 1),
                "w": round(max(step - 1, 1), 1),
                "h": round(height, 1),
                "missing": litres is None,
                "label": hour["at"],
                "litres": litres,
            }
        )
    points = []
    for i, hour in enumerate(hours):
        y = CHART_HEIGHT - (CHART_HEIGHT - 10) * hour["usual"]
        points.append(f"{round(i * step + step / 2, 1)},{round(y, 1)}")
    usual = " ".join(points)
    return {"bars": bars, "usual": usual, "width": CHART_WIDTH, "height": CHART_HEIGHT}


@login_required
@domain_errors_as_http
def visits(request: HttpRequest) -> HttpResponse:
    tasks = selectors.visits_open(actor=_user(request)).order_by("due_at")[:100]
    return render(request, "wellbeing/visits.html", {"tasks": tasks})


@login_required
@domain_errors_as_http
def visit(request: HttpRequest, visit_id: int) -> HttpResponse:
    task = selectors.visit_detail(actor=_user(request), visit_id=visit_id)
    alert = task.alert
    return render(
        request,
        "wellbeing/visit.html",
        {
            "task": task,
            "alert": alert,
            "error": request.session.pop(ERROR_KEY, ""),
            "resident": alert.household.resident,
            "chart": chart_svg_points(alert.chart),
            "evidence": sorted(alert.evidence.items()),
            "outcomes": VisitOutcome.choices,
            "can_accept": task.status in {VisitStatus.WAITING, VisitStatus.ESCALATED},
            "can_go": task.status == VisitStatus.ACCEPTED,
            "can_record": task.status
            in {VisitStatus.ACCEPTED, VisitStatus.ON_THE_WAY, VisitStatus.ESCALATED},
        },
    )


@login_required
@require_POST
@domain_errors_as_http
def visit_action(request: HttpRequest, visit_id: int, action: str) -> HttpResponse:
    user = _user(request)
    task = selectors.visit_detail(actor=user, visit_id=visit_id)
    try:
        if action == "accept":
            services.visit_accept(actor=user, task=task)
        elif action == "on-the-way":
            services.visit_on_the_way(actor=user, task=task)
        elif action == "outcome":
            services.visit_record(
                actor=user,
                task=task,
                outcome=request.POST.get("outcome", ""),
                real=request.POST.get("real") == "yes",
                note=request.POST.get("note", "")[:2000],
            )
        else:
            raise NotFound(_("没有这个操作。"))
    except (ValidationFailed, Conflict) as exc:
        # Shown once on the task page. (The base template's message list carries role="status",
        # which hides its items from assistive technology as list items; see the module notes.)
        request.session[ERROR_KEY] = exc.message
    return HttpResponseRedirect(reverse("wellbeing:visit", args=[visit_id]))
