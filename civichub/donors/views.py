"""The donors pages: the request board for hospitals and the blood centre (create a request,
follow its call-ups, record arrivals and donations), the donor's phone page reached from the
SMS link (no sign-in), and the registry. Thin: the same selectors and services as the API;
every page works without JavaScript."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from civichub.core import geo
from civichub.core import selectors as core_selectors
from civichub.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from civichub.core.http import request_user
from civichub.core.views import domain_errors_as_http
from civichub.donors import forms, places, selectors, services
from civichub.donors.links import call_up_from_token
from civichub.donors.models import (
    CallUp,
    CallUpState,
    Component,
    PatientABO,
    PatientRhD,
    RequestStatus,
    Urgency,
)

REQUEST_ROLES = frozenset({"hospital_staff", "blood_centre", "operator"})


def _hospitals(request: HttpRequest) -> list:
    user = request_user(request)
    return [org for role, org in core_selectors.user_roles(user=user) if role in REQUEST_ROLES]


@login_required
@domain_errors_as_http
def board(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    message, errors, form = "", {}, request.POST if request.method == "POST" else None
    hospitals = _hospitals(request)
    if request.method == "POST":
        try:
            values = forms.request_form(request.POST)
            hospital = next(
                (h for h in hospitals if str(h.pk) == request.POST.get("hospital")), None
            )
            if hospital is None:
                raise ValidationFailed.on("hospital", _("请选择医院。"))
            created = services.blood_request_create(actor=user, hospital=hospital, **values)
        except ValidationFailed as exc:
            message, errors = exc.message, exc.errors
        else:
            return HttpResponseRedirect(reverse("donors:request", args=[created.pk]))
    requests = list(selectors.request_list(actor=user)[:50])
    for item in requests:
        item.counts = selectors.request_counts(item)  # type: ignore[attr-defined]
    return render(
        request,
        "donors/board.html",
        {
            "requests": requests,
            "hospitals": hospitals,
            "components": Component.choices,
            "abos": PatientABO.choices,
            "rhds": PatientRhD.choices,
            "urgencies": Urgency.choices,
            "message": message,
            "errors": errors,
            "form": form,
        },
        status=422 if message else 200,
    )


@login_required
@domain_errors_as_http
def request_detail(request: HttpRequest, request_id: int) -> HttpResponse:
    user = request_user(request)
    blood_request = selectors.request_get(actor=user, pk=request_id)
    return render(
        request,
        "donors/request.html",
        {
            "blood_request": blood_request,
            "rows": selectors.request_board(actor=user, blood_request=blood_request),
            "counts": selectors.request_counts(blood_request),
            "groups": services.patient_groups(blood_request),
            "error": request.session.pop("donors_error", ""),
            "open": blood_request.status == RequestStatus.OPEN,
        },
    )


@login_required
@require_POST
@domain_errors_as_http
def call_up_mark(request: HttpRequest, call_up_id: int) -> HttpResponse:
    user = request_user(request)
    call_up = CallUp.objects.filter(pk=call_up_id).first()
    if call_up is None:
        raise NotFound(_("没有这个召集。"))
    try:
        services.call_up_mark(actor=user, call_up=call_up, state=request.POST.get("state", ""))
    except (ValidationFailed, Conflict) as exc:
        request.session["donors_error"] = exc.message
    return HttpResponseRedirect(reverse("donors:request", args=[call_up.request_id]))


@login_required
@domain_errors_as_http
def registry(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    rhd = request.GET.get("rhd") or None
    donors = list(selectors.donor_list(actor=user, purpose="registry page", rhd=rhd)[:200])
    return render(request, "donors/registry.html", {"donors": donors, "rhd": rhd or ""})


@login_required
@domain_errors_as_http
def mine(request: HttpRequest) -> HttpResponse:
    """A donor's own page: eligibility and when it returns, history, pause and the consents."""
    user = request_user(request)
    page = selectors.donor_mine(actor=user)
    if page is not None and request.method == "POST":
        action = request.POST.get("action", "")
        if action == "pause":
            services.donor_pause(
                actor=user, donor=page.donor, until=timezone.now() + timedelta(days=30)
            )
        elif action == "resume":
            services.donor_pause(actor=user, donor=page.donor, until=None)
        elif action in ("health", "location"):
            services.donor_consent_withdraw(actor=user, donor=page.donor, which=action)
        return HttpResponseRedirect(reverse("donors:mine"))
    return render(
        request,
        "donors/mine.html",
        {"page": page, "language": request.LANGUAGE_CODE, "now": timezone.now()},
    )


def respond(request: HttpRequest, token: str) -> HttpResponse:
    """The donor's phone page from the SMS link; no account needed: the signed token names the
    call-up and expires. An answer after the request closed is thanked and changes nothing."""
    try:
        call_up = call_up_from_token(token)
    except DomainError as exc:
        return render(request, "donors/respond.html", {"invalid": exc.message}, status=403)
    notice = ""
    if request.method == "POST":
        changed = services.call_up_respond(
            call_up=call_up, accept=request.POST.get("answer") == "accept"
        )
        call_up.refresh_from_db()
        if not changed:
            notice = _("该需求已经结束或您已回复过，谢谢您的爱心，无需前往。")
        elif call_up.state == CallUpState.ACCEPTED:
            notice = _("谢谢！请尽快前往献血地点，到达后出示签到码。")
        else:
            notice = _("已收到您的回复，谢谢。")
    blood_request = call_up.request
    gcj_lat, gcj_lng = geo.wgs84_to_gcj02(blood_request.latitude, blood_request.longitude)
    going = call_up.state in (CallUpState.ACCEPTED, CallUpState.ARRIVED)
    return render(
        request,
        "donors/respond.html",
        {
            "call_up": call_up,
            "blood_request": blood_request,
            "component": Component(blood_request.component).label,
            "waiting": call_up.state == CallUpState.CALLED
            and blood_request.status == RequestStatus.OPEN,
            "going": going,
            "directions": (
                f"https://uri.amap.com/marker?position={gcj_lng:.6f},{gcj_lat:.6f}" if going else ""
            ),
            "band": places.band_km(call_up.distance_km, selectors.settings_().distance_bands_km),
            "notice": notice,
            "now": timezone.now(),
        },
    )
