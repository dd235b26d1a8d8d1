"""The donors pages: the request board for hospitals and the blood centre (create a request,
follow its call-ups, record arrivals and donations), the donor's phone page reached from the
SMS link (no sign-in), and the registry. Thin: the same selectors and services as the API;
every page works without JavaScript."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from civichub.core import geo
from civichub.core import selectors as core_selectors
from civichub.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from civichub.core.http import request_user
from civichub.core.models import OrganisationKind
from civichub.core.views import domain_errors_as_http
from civichub.donors import consent, forms, places, selectors, services
from civichub.donors.links import call_up_from_token
from civichub.donors.models import (
    ABO,
    PHENOTYPE_ANTIGENS,
    REQUESTABLE_ANTIGENS,
    CallChannels,
    CallUp,
    CallUpState,
    Component,
    PatientABO,
    PatientRhD,
    RequestStatus,
    RhD,
    Sex,
    Urgency,
    antigen_label,
)

WEEKDAY_NAMES = [
    ("0", gettext_lazy("周一")),
    ("1", gettext_lazy("周二")),
    ("2", gettext_lazy("周三")),
    ("3", gettext_lazy("周四")),
    ("4", gettext_lazy("周五")),
    ("5", gettext_lazy("周六")),
    ("6", gettext_lazy("周日")),
]
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
            "map_points": [p.as_json() for p in selectors.board_map_points(requests)],
            "hospitals": hospitals,
            "components": Component.choices,
            "abos": PatientABO.choices,
            "rhds": PatientRhD.choices,
            "urgencies": Urgency.choices,
            "antigens": [(a, antigen_label(a)) for a in REQUESTABLE_ANTIGENS],
            "form_antigens": form.getlist("antigen_negative") if form is not None else [],
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
            "map_points": [
                p.as_json()
                for p in selectors.request_map_points(actor=user, blood_request=blood_request)
            ],
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
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        # The blood centre records tested antigens of one donor (marked as tested).
        try:
            found = selectors.donor_get(
                actor=user, pk=_int(request.POST.get("donor", "")), purpose="record phenotype"
            )
            services.donor_phenotype_set(
                actor=user,
                donor=found,
                # The registry's form leaves an antigen unchanged unless a sign is chosen.
                phenotype={
                    a: v
                    for a, v in forms.phenotype_form(request.POST, PHENOTYPE_ANTIGENS).items()
                    if v
                },
            )
        except (ValidationFailed, NotFound) as exc:
            # A problem of the phenotype is shown at the antigens; any other (an unknown donor, a
            # withdrawn consent) at the donor's number.
            field = "donor" if isinstance(exc, NotFound) else "phenotype"
            errors = {
                "phenotype" if name == "phenotype" else "donor": list(messages_)
                for name, messages_ in exc.errors.items()
            } or {field: [exc.message]}
        else:
            return HttpResponseRedirect(reverse("donors:list"))
    donors = list(selectors.donor_list(actor=user, purpose="registry page", rhd=rhd)[:200])
    return render(
        request,
        "donors/registry.html",
        {
            "donors": donors,
            "rhd": rhd or "",
            "antigens": [(a, antigen_label(a)) for a in PHENOTYPE_ANTIGENS],
            "errors": errors,
        },
        status=422 if errors else 200,
    )


def _int(value: str) -> int:
    return int(value) if value.strip().isdigit() else 0


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
        elif action == "phenotype":
            try:
                services.donor_phenotype_set(
                    actor=user,
                    donor=page.donor,
                    phenotype=forms.phenotype_form(request.POST, PHENOTYPE_ANTIGENS),
                )
            except ValidationFailed as exc:
                request.session["donors_notice"] = exc.message
        return HttpResponseRedirect(reverse("donors:mine"))
    return render(
        request,
        "donors/mine.html",
        {
            "page": page,
            "language": request.LANGUAGE_CODE,
            "now": timezone.now(),
            "notice": request.session.pop("donors_notice", ""),
            "antigens": [(a, antigen_label(a)) for a in PHENOTYPE_ANTIGENS],
        },
    )


def _registration_values(donor: Any) -> dict[str, Any]:
    """A stored record as the form's values (what the page shows when editing)."""
    if donor is None:
        return {"health_consent": "", "location_consent": "", "call_channels": "sms"}
    windows = list(donor.windows.order_by("weekday", "starts"))
    return {
        "name": donor.name,
        "phone": donor.phone,
        "community": str(donor.community_id),
        "sex": donor.sex,
        "birth_date": donor.birth_date.isoformat() if donor.birth_date else "",
        "weight_kg": f"{donor.weight_kg:g}" if donor.weight_kg is not None else "",
        "abo": donor.abo,
        "rhd": donor.rhd,
        "health_consent": "on" if donor.health_consent else "",
        "location_consent": "on" if donor.location_consent else "",
        "weekday": [str(w.weekday) for w in windows],
        "starts": windows[0].starts.strftime("%H:%M") if windows else "",
        "ends": windows[0].ends.strftime("%H:%M") if windows else "",
        "paused": "on" if donor.paused_until and donor.paused_until > timezone.now() else "",
        "call_channels": donor.call_channels,
    }


@login_required
@domain_errors_as_http
def register(request: HttpRequest) -> HttpResponse:
    """A resident registers as a volunteer, or edits or withdraws later: phone first, one page,
    no JavaScript. The two consents are separate boxes; unticking one withdraws it."""
    user = request_user(request)
    donor = selectors.donor_own(actor=user)
    communities = list(
        core_selectors.organisation_list(kind=OrganisationKind.COMMUNITY).order_by("name")[:500]
    )
    message, errors = "", {}
    values: dict[str, Any] = _registration_values(donor)
    if request.method == "POST":
        values = {key: request.POST.get(key, "") for key in request.POST}
        values["weekday"] = request.POST.getlist("weekday")
        try:
            typed = forms.registration_form(request.POST)
            community = next(
                (c for c in communities if str(c.pk) == request.POST.get("community")), None
            )
            if community is None:
                raise ValidationFailed.on("community", _("请选择您所在的社区。"))
            details = services.DonorDetails(
                sex=typed.pop("sex"),
                birth_date=typed.pop("birth_date"),
                weight_kg=typed.pop("weight_kg"),
                abo=typed.pop("abo"),
                rhd=typed.pop("rhd"),
            )
            saved = services.donor_self_register(
                actor=user,
                form=services.SelfRegistration(
                    community=community,
                    details=details,
                    language=request.LANGUAGE_CODE,
                    **typed,
                ),
            )
        except ValidationFailed as exc:
            message, errors = exc.message, exc.errors
        else:
            request.session["donors_notice"] = (
                _("已保存，谢谢您成为献血志愿者。")
                if saved is not None
                else _("已撤回同意，您的健康和位置信息已删除。")
            )
            return HttpResponseRedirect(reverse("donors:mine"))
    return render(
        request,
        "donors/register.html",
        {
            "donor": donor,
            "form": values,
            "message": message,
            "errors": errors,
            "communities": communities,
            "sexes": Sex.choices,
            "abos": ABO.choices,
            "rhds": RhD.choices,
            "channels": CallChannels.choices,
            "weekdays": WEEKDAY_NAMES,
            "health_text": consent.HEALTH_TEXT,
            "location_text": consent.LOCATION_TEXT,
            "health_version": consent.HEALTH_VERSION,
            "location_version": consent.LOCATION_VERSION,
        },
        status=422 if message else 200,
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


@login_required
@domain_errors_as_http
def registry_import(request: HttpRequest) -> HttpResponse:
    """The blood centre's staff import its file: counts, and each rejected row with its number,
    code and reason (also as a CSV report to correct and send again)."""
    user = request_user(request)
    context: dict[str, Any] = {"errors": {}}
    if request.method == "POST":
        upload = request.FILES.get("file")
        code = request.POST.get("community", "").strip()
        community = selectors.community_by_code(code) if code else None
        if upload is None:
            context["errors"] = {"file": [_("请选择文件。")]}
        elif code and community is None:
            context["errors"] = {"community": [_("没有这个社区编码。")]}
        else:
            try:
                result = services.donor_import(
                    actor=user,
                    filename=upload.name or "",
                    content=upload.read(),
                    community=community,
                )
            except services.ImportUnreadable as exc:
                context["errors"] = {"file": [str(exc)]}
            else:
                context["result"] = result
                context["report"] = quote(result.rejects_csv())
    return render(request, "donors/import.html", context)
