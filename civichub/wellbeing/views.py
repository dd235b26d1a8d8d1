"""Wellbeing's pages: the community dashboard with its map, enrolment with consent, a household's
page (meters, family contacts, time away, withdrawal), the family's acknowledgement page reached
from a signed link, and the community worker's visit pages, made for a phone. Thin: the same
selectors and services as the API; every page works without JavaScript."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from civichub.core import selectors as core_selectors
from civichub.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from civichub.core.http import request_user
from civichub.core.models import Resident
from civichub.core.permissions import allowed
from civichub.core.views import domain_errors_as_http
from civichub.wellbeing import forms, selectors, services
from civichub.wellbeing.maps import household_map, legend
from civichub.wellbeing.models import (
    AwayKind,
    ConsentGiver,
    ConsentMethod,
    FamilyAnswer,
    Utility,
    VisitOutcome,
    VisitStatus,
)
from civichub.wellbeing.wording import (
    KINDS,
    SEVERITIES,
    detection_delay,
    evidence_rows,
    explain,
)

CHART_WIDTH, CHART_HEIGHT = 360, 160
CHART_LEFT, CHART_RIGHT = 34, 34
ERROR_KEY = "wellbeing_visit_error"
NOTICE_KEY = "wellbeing_notice"


# What each of the worker's actions confirms, at the top of the task page it returns to.
VISIT_DONE = {
    "accept": gettext_lazy("已接单。下一步：出发时点“我在路上”，到达后记录上门结果。"),
    "on-the-way": gettext_lazy("已标记为“在路上”。到达后请记录上门结果。"),
    "outcome": gettext_lazy("已记录上门结果，任务已完成，提醒已关闭。"),
    "escalate": gettext_lazy("已上报社区负责人，任务状态见下方。"),
}


def _flash(request: HttpRequest, key: str, text: str) -> None:
    request.session[key] = text


def _hour_label(at: str, first: bool) -> tuple[datetime | None, str]:
    """The local time of an hour, with its date on the first hour and after midnight. The
    detection grid's hours carry no offset: they are already the household's local time."""
    try:
        when = datetime.fromisoformat(at)
    except (TypeError, ValueError):
        return None, ""
    if timezone.is_aware(when):
        when = timezone.localtime(when)
    return when, f"{when:%m-%d %H:%M}" if first or when.hour == 0 else f"{when:%H:%M}"


def _nice_peak(value: float) -> float:
    """The top of the litres axis: the peak rounded up to 1, 2 or 5 times a power of ten."""
    magnitude = 10 ** math.floor(math.log10(value)) if value > 0 else 1.0
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def chart_svg_points(chart: dict[str, Any]) -> dict[str, Any]:
    """Bars of water use per hour over the last two days, and the household's usual chance of
    activity at each hour as a line, scaled into the chart's plot area, with a litres axis on
    the left, a probability axis on the right and the local time at about four points below."""
    hours = chart.get("hours", [])
    empty = {"bars": [], "usual": "", "width": CHART_WIDTH, "height": CHART_HEIGHT}
    if not hours:
        return empty
    left, right, top, bottom = CHART_LEFT, CHART_WIDTH - CHART_RIGHT, 8, CHART_HEIGHT - 22
    plot_h = bottom - top
    step = (right - left) / len(hours)
    peak = _nice_peak(max([h["water_l"] or 0.0 for h in hours] + [1.0]))
    bars, ticks = [], []
    # About four time labels whatever the span: every 12 hours over two days.
    every = max(1, math.ceil(len(hours) / 4))
    for i, hour in enumerate(hours):
        litres = hour["water_l"]
        height = 0.0 if litres is None else plot_h * min(litres / peak, 1.0)
        when, label = _hour_label(hour.get("at", ""), i == 0)
        bars.append(
            {
                "x": round(left + i * step, 1),
                "y": round(bottom - height, 1),
                "w": round(max(step - 1, 1), 1),
                "h": round(height, 1),
                "missing": litres is None,
                "label": label,
                "litres": litres,
            }
        )
        if when is not None and i % every == 0:
            ticks.append({"x": round(left + i * step, 1), "label": label})
    points = []
    for i, hour in enumerate(hours):
        y = bottom - plot_h * hour["usual"]
        points.append(f"{round(left + i * step + step / 2, 1)},{round(y, 1)}")
    peak_label = f"{peak:g}"
    half_label = f"{peak / 2:g}"
    return {
        "bars": bars,
        "usual": " ".join(points),
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": left,
        "right": right,
        "top": top,
        "bottom": bottom,
        "middle": round((top + bottom) / 2, 1),
        "missing_y": bottom - 4,
        "x_ticks": ticks,
        "y_ticks": [
            {"y": bottom, "label": "0", "share": "0%"},
            {"y": round((top + bottom) / 2, 1), "label": half_label, "share": "50%"},
            {"y": top, "label": peak_label, "share": "100%"},
        ],
        "first": bars[0]["label"],
        "last": bars[-1]["label"],
    }


# --- dashboard ------------------------------------------------------------------------------


@login_required
@domain_errors_as_http
def dashboard(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    if not allowed(user, "wellbeing.household.view"):
        # A resident or a family member: their own households only.
        return render(
            request,
            "wellbeing/mine.html",
            {
                "households": list(selectors.households_mine(actor=user)),
                "can_enrol_self": user.resident_id is not None,
            },
        )
    areas = selectors.dashboard_areas(actor=user)
    chosen = request.GET.get("area", "")
    area = next((a for a in areas if str(a.pk) == chosen), None)
    data = selectors.dashboard(actor=user, area=area)
    alerts = [
        {"alert": a, "explanation": explain(a.kind, a.evidence, a.explanation)}
        for a in data.open_alerts
    ]
    state_labels = dict(selectors.STATES)
    shown = household_map(
        data.households,
        lambda state: str(state_labels.get(state, state)),
        lambda pk: reverse("wellbeing:household", args=[pk]),
    )
    return render(
        request,
        "wellbeing/dashboard.html",
        {
            "data": data,
            "map": shown,
            "map_points": [point.as_json() for point in shown.points],
            "legend": legend(),
            "areas": areas,
            "area": area,
            "alerts": alerts,
            "states": [(key, label, data.counts[key]) for key, label in selectors.STATES],
            "can_enrol": allowed(user, "wellbeing.household.enrol"),
        },
    )


# --- enrolment ------------------------------------------------------------------------------


@login_required
@domain_errors_as_http
def enrol(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    staff = allowed(user, "wellbeing.household.enrol")
    own = None if staff else user.resident
    if not staff and own is None:
        raise NotFound(_("只有社区工作者或居民本人可以登记。"))
    query = request.GET.get("q", "").strip()[:50]
    candidates: list[Resident] = []
    if staff and query:
        candidates = core_selectors.resident_list(
            actor=user, purpose=selectors.ENROL_PURPOSE, query=query, limit=20
        ).items
    values: dict[str, Any] = {"consent_by": ConsentGiver.RESIDENT if own else ""}
    errors: dict[str, list[str]] = {}
    message = ""
    if request.method == "POST":
        values = forms.enrol_values(request.POST)
        contacts, contact_errors = forms.contact_specs(values["contacts"])
        meters = forms.enrol_meters(values)
        resident: Resident | None = own
        if resident is None and values["resident"].isdigit():
            resident = core_selectors.resident_get(
                actor=user, pk=int(values["resident"]), purpose=selectors.ENROL_PURPOSE
            )
        try:
            if resident is None:
                raise ValidationFailed.on("resident", _("请选择要登记的居民。"))
            if contact_errors:
                raise ValidationFailed(contact_errors[0], errors={"contacts": contact_errors})
            workers = {str(w.pk): w for w in selectors.workers_for(resident.community)}
            worker = workers.get(values["worker"])
            if worker is None:
                raise ValidationFailed.on("worker", _("请选择负责的社区工作者。"))
            household = services.household_enrol(
                actor=user,
                resident=resident,
                worker=worker,
                consent_by=ConsentGiver.RESIDENT if own else values["consent_by"],
                consent_method=ConsentMethod.APP if own else values["consent_method"],
                consent_at=forms.local_datetime(values["consent_at"]),
                consent_document=values["consent_document"],
                guardian_name=values["guardian_name"],
                consent_note=values["consent_note"],
                meters=meters,
                contacts=contacts,
            )
        except (ValidationFailed, Conflict) as exc:
            message, errors = exc.message, exc.errors
        else:
            _flash(request, NOTICE_KEY, _("已登记，关爱服务即日起生效。"))
            return HttpResponseRedirect(reverse("wellbeing:household", args=[household.pk]))
    chosen = own
    if chosen is None and not candidates and str(values.get("resident", "")).isdigit():
        chosen = selectors.resident_for_enrol(pk=int(values["resident"]))
    # Without JavaScript the worker list cannot follow the chosen resident: it offers the
    # workers of every community shown, and the service checks the pair.
    communities = {r.community_id: r.community for r in [*candidates, *filter(None, [chosen])]}
    offered = {w.pk: w for c in communities.values() for w in selectors.workers_for(c)}
    return render(
        request,
        "wellbeing/enrol.html",
        {
            "own": own,
            "query": query,
            "candidates": candidates,
            "chosen": chosen,
            "workers": list(offered.values()),
            "values": values,
            "errors": errors,
            "message": message,
            "givers": [c for c in ConsentGiver.choices if own or c[0] != ConsentGiver.RESIDENT],
            "methods": [c for c in ConsentMethod.choices if c[0] != ConsentMethod.APP],
            "meter_rows": forms.meter_rows(values),
            "reading": forms.reading_choices(),
            "contact_rows": list(enumerate(values.get("contacts") or [{}] * forms.CONTACT_ROWS)),
        },
    )


# --- one household ----------------------------------------------------------------------------


@login_required
@domain_errors_as_http
def household(request: HttpRequest, household_id: int) -> HttpResponse:
    user = request_user(request)
    home = selectors.household_detail(actor=user, household_id=household_id)
    now = timezone.now()
    contacts = list(home.contacts.select_related("user"))
    meters = list(home.meters.all())
    daily = selectors.household_daily_use(household=home)
    away = [
        {
            "period": period,
            "current": period.cancelled_at is None and period.starts_at <= now < period.ends_at,
            "upcoming": period.cancelled_at is None and period.starts_at > now,
        }
        for period in home.away.all()[:20]
    ]
    return render(
        request,
        "wellbeing/household.html",
        {
            "home": home,
            "resident": home.resident,
            "meters": meters,
            "delay": detection_delay(selectors.detection_delay_minutes(meters)),
            "reading": forms.reading_choices(),
            "default_interval": str(forms.DEFAULT_INTERVAL),
            "daily": daily,
            "daily_any": any(
                value is not None
                for d in daily
                for value in (d.water_l, d.electricity_kwh, d.gas_m3)
            ),
            "metered": {m.utility for m in meters},
            "contacts": contacts,
            "contact_rows": [
                {"i": i, "c": contacts[i] if i < len(contacts) else None}
                for i in range(max(forms.CONTACT_ROWS, len(contacts) + 1))
            ],
            "away": away,
            "alerts": [
                {"alert": a, "explanation": explain(a.kind, a.evidence, a.explanation)}
                for a in home.alerts.all()[:10]
            ],
            "can_manage": allowed(user, "wellbeing.household.manage", home),
            "can_acknowledge": allowed(user, "wellbeing.alert.acknowledge", home),
            "away_kinds": AwayKind.choices,
            "utilities": Utility.choices,
            "answers": FamilyAnswer.choices,
            "notice": request.session.pop(NOTICE_KEY, ""),
            **_visit_errors(request.session.pop(ERROR_KEY, "")),
        },
    )


# The household page's forms: the service's field name -> the control (its id and message name)
# a problem is shown at, the first for a problem that names no field.
METER_CONTROLS = {
    "meter_id": "meter-id",
    "meters": "meter-id",
    "utility": "meter-utility",
    "kind": "meter-kind",
    "unit": "meter-unit",
    "interval_minutes": "meter-interval",
    "report_every_minutes": "meter-report",
}
AWAY_CONTROLS = {
    "starts_at": "away-starts",
    "ends_at": "away-ends",
    "kind": "away-kind",
    "reason": "away-reason",
    "review_on": "away-review",
}


def _back_to(household_id: int) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("wellbeing:household", args=[household_id]))


def _household_change(
    request: HttpRequest,
    household_id: int,
    change: Any,
    done: str,
    controls: dict[str, str] | None = None,
) -> HttpResponse:
    """Runs a change from a household page's form and returns to the page with its outcome. A
    refused change's problems are kept by the control each is about (`controls`: the service's
    field name -> the control's message name; a problem that names no field goes to the first).
    A change made by a button alone names the list that shows what it changes (`{"": "wb-away"}`):
    its refusal is about the state shown there."""
    try:
        change()
    except (ValidationFailed, Conflict) as exc:
        fields: dict[str, list[str]] = {}
        if controls:
            first = next(iter(controls.values()))
            for name, found in (exc.errors or {"": [exc.message]}).items():
                fields.setdefault(controls.get(name, first), []).extend(map(str, found))
        repeated = any(str(exc.message) in found for found in fields.values())
        request.session[ERROR_KEY] = {
            "message": "" if repeated else exc.message,
            "errors": fields,
        }
    else:
        _flash(request, NOTICE_KEY, done)
    return _back_to(household_id)


@login_required
@require_POST
@domain_errors_as_http
def contacts_set(request: HttpRequest, household_id: int) -> HttpResponse:
    user = request_user(request)
    home = selectors.household_for_change(actor=user, household_id=household_id)
    specs, errors = forms.contact_specs(forms.contact_rows(request.POST))

    def change() -> None:
        if errors:
            raise ValidationFailed(errors[0], errors={"contacts": errors})
        services.household_contacts_set(actor=user, household=home, contacts=specs)

    return _household_change(
        request, household_id, change, _("家属联系人已更新。"), {"contacts": "contacts"}
    )


@login_required
@require_POST
@domain_errors_as_http
def meter_add(request: HttpRequest, household_id: int) -> HttpResponse:
    user = request_user(request)
    home = selectors.household_for_change(actor=user, household_id=household_id)
    spec = forms.meter_spec(request.POST)
    return _household_change(
        request,
        household_id,
        lambda: services.meter_add(actor=user, household=home, spec=spec),
        _("已添加表计。"),
        METER_CONTROLS,
    )


@login_required
@require_POST
@domain_errors_as_http
def meter_remove(request: HttpRequest, household_id: int, meter_id: int) -> HttpResponse:
    user = request_user(request)
    meter = selectors.meter_for_change(actor=user, household_id=household_id, meter_pk=meter_id)
    return _household_change(
        request,
        household_id,
        lambda: services.meter_remove(actor=user, meter=meter),
        _("该表已停用。"),
        {"": "wb-meters"},
    )


@login_required
@require_POST
@domain_errors_as_http
def away_mark(request: HttpRequest, household_id: int) -> HttpResponse:
    user = request_user(request)
    home = selectors.household_for_change(actor=user, household_id=household_id)
    starts, ends = (
        forms.local_datetime(request.POST.get("starts_at", "")),
        forms.local_datetime(request.POST.get("ends_at", "")),
    )

    def change() -> None:
        if starts is None or ends is None:
            raise ValidationFailed.on("starts_at", _("请填写开始和结束时间。"))
        services.away_mark(
            actor=user,
            household=home,
            starts_at=starts,
            ends_at=ends,
            kind=request.POST.get("kind", AwayKind.OTHER),
            reason=request.POST.get("reason", "")[:100],
            review_on=forms.form_date(request.POST.get("review_on", "")),
        )

    return _household_change(request, household_id, change, _("已登记外出时段。"), AWAY_CONTROLS)


@login_required
@require_POST
@domain_errors_as_http
def away_change(request: HttpRequest, away_id: int, action: str) -> HttpResponse:
    user = request_user(request)
    period = selectors.away_for_change(actor=user, away_id=away_id)
    if action == "end":
        return _household_change(
            request,
            period.household_id,
            lambda: services.away_end(actor=user, period=period),
            _("外出时段已提前结束。"),
            {"": "wb-away"},
        )
    if action == "cancel":
        return _household_change(
            request,
            period.household_id,
            lambda: services.away_cancel(actor=user, period=period),
            _("外出时段已取消。"),
            {"": "wb-away"},
        )
    raise NotFound(_("没有这个操作。"))


@login_required
@domain_errors_as_http
def withdraw(request: HttpRequest, household_id: int) -> HttpResponse:
    user = request_user(request)
    home = selectors.household_for_change(actor=user, household_id=household_id)
    if request.method == "POST":
        if request.POST.get("confirm") == "yes":
            services.consent_withdraw(
                actor=user, household=home, reason=request.POST.get("reason", "")[:200]
            )
            _flash(request, NOTICE_KEY, _("已撤回同意，即日起不再处理该户的数据。"))
            return _back_to(household_id)
        return render(
            request,
            "wellbeing/withdraw.html",
            {"home": home, "errors": {"confirm": [_("请勾选确认撤回同意。")]}},
        )
    # The confirmation page shows the household: an audited read like any other.
    shown = selectors.household_detail(
        actor=user, household_id=household_id, purpose=selectors.WITHDRAW_PURPOSE
    )
    return render(request, "wellbeing/withdraw.html", {"home": shown, "errors": {}})


@login_required
@require_POST
@domain_errors_as_http
def alert_acknowledge(request: HttpRequest, alert_id: int) -> HttpResponse:
    user = request_user(request)
    alert = selectors.alert_detail(actor=user, alert_id=alert_id)
    answer = request.POST.get("answer", "")
    done = (
        _("已记录：联系不上家属。已立即转为上门查看任务，提醒状态见下方。")
        if answer == FamilyAnswer.UNREACHABLE
        else _("已记录：家属已联系上，一切安好。提醒已关闭，状态见下方。")
    )
    return _household_change(
        request,
        alert.household_id,
        lambda: services.alert_acknowledge(actor=user, alert=alert, answer=answer),
        done,
        {"": "wb-alerts"},
    )


# --- the family's signed link -----------------------------------------------------------------


def acknowledge(request: HttpRequest, token: str) -> HttpResponse:
    """Reached from the SMS a family contact received; no account needed: the signed token
    names the alert and the contact, and expires."""
    try:
        alert, contact = selectors.alert_by_link(token=token)
    except DomainError as exc:
        return render(request, "wellbeing/acknowledge.html", {"invalid": exc.message}, status=403)
    message, done = "", ""
    if request.method == "POST":
        try:
            alert = services.alert_acknowledge_by_link(
                token=token, answer=request.POST.get("answer", "")
            )
        except (ValidationFailed, Conflict) as exc:
            message = exc.message
        else:
            done = (
                _("谢谢，已记录：一切安好。")
                if alert.acknowledged_answer == FamilyAnswer.FINE
                else _("已通知社区工作者立即上门查看。")
            )
    return render(
        request,
        "wellbeing/acknowledge.html",
        {
            "alert": alert,
            "explanation": explain(alert.kind, alert.evidence, alert.explanation),
            "contact": contact,
            "resident": alert.household.resident,
            "waiting": alert.status == "family",
            "answers": FamilyAnswer.choices,
            "message": message,
            "done": done,
        },
    )


# --- the worker's visit pages -----------------------------------------------------------------


@login_required
@domain_errors_as_http
def visits(request: HttpRequest) -> HttpResponse:
    tasks = selectors.visits_list(actor=request_user(request))
    for task in tasks:
        task.kind_label = KINDS.get(task.alert.kind, task.alert.kind)  # type: ignore[attr-defined]
    return render(request, "wellbeing/visits.html", {"tasks": tasks})


def _visit_errors(kept: Any) -> dict[str, Any]:
    """The error kept from the last action: its message, and each field's messages."""
    if isinstance(kept, dict):
        return {"error": kept.get("message", ""), "field_errors": kept.get("errors") or {}}
    return {"error": kept or "", "field_errors": {}}


@login_required
@domain_errors_as_http
def visit(request: HttpRequest, visit_id: int) -> HttpResponse:
    task = selectors.visit_detail(actor=request_user(request), visit_id=visit_id)
    alert = task.alert
    return render(
        request,
        "wellbeing/visit.html",
        {
            "task": task,
            "alert": alert,
            "notice": request.session.pop(NOTICE_KEY, ""),
            **_visit_errors(request.session.pop(ERROR_KEY, "")),
            "resident": alert.household.resident,
            "explanation": explain(alert.kind, alert.evidence, alert.explanation),
            "kind": KINDS.get(alert.kind, alert.kind),
            "severity": SEVERITIES.get(alert.severity, alert.severity),
            "contacts": list(alert.household.contacts.all()),
            "chart": chart_svg_points(alert.chart),
            "evidence": evidence_rows(alert.evidence),
            "outcomes": VisitOutcome.choices,
            "can_accept": task.status in {VisitStatus.WAITING, VisitStatus.ESCALATED},
            "can_go": task.status == VisitStatus.ACCEPTED,
            "can_record": task.status
            in {VisitStatus.ACCEPTED, VisitStatus.ON_THE_WAY, VisitStatus.ESCALATED},
            "can_escalate": task.status
            in {VisitStatus.WAITING, VisitStatus.ACCEPTED, VisitStatus.ON_THE_WAY},
        },
    )


@login_required
@require_POST
@domain_errors_as_http
def visit_action(request: HttpRequest, visit_id: int, action: str) -> HttpResponse:
    user = request_user(request)
    task = selectors.visit_detail(actor=user, visit_id=visit_id)
    done = VISIT_DONE.get(action)
    if done is None:
        raise NotFound(_("没有这个操作。"))
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
            services.visit_escalate(actor=user, task=task, note=request.POST.get("note", "")[:2000])
    except (ValidationFailed, Conflict) as exc:
        # Shown once on the task page: a summary at the top and each field's error at the
        # field. (The base template's message list carries role="status", which hides its
        # items from assistive technology as list items; see the module notes.)
        errors = exc.errors
        if action == "escalate":  # its note is not the outcome's note: its own control
            errors = {"escalate-note" if k == "note" else k: v for k, v in errors.items()}
        request.session[ERROR_KEY] = {"message": exc.message, "errors": errors}
        return HttpResponseRedirect(reverse("wellbeing:visit", args=[visit_id]) + "#error-summary")
    _flash(request, NOTICE_KEY, str(done))
    return HttpResponseRedirect(reverse("wellbeing:visit", args=[visit_id]) + "#wb-notice")
