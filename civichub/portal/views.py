"""The portal's pages: thin, calling the same selectors and services as the API. Public pages
(home, guide, search, verification) need no sign-in; applying and tracking do."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from civichub.core.audit import audit_record
from civichub.core.charts import bar_chart
from civichub.core.errors import DomainError, NotFound, RateLimited, ValidationFailed
from civichub.core.http import client_address, request_user, request_user_or_none, share_publicly
from civichub.core.permissions import allowed
from civichub.core.views import domain_errors_as_http
from civichub.notify import selectors as notify_selectors
from civichub.portal import certificates, forms, opendata, performance, selectors, services
from civichub.portal.guide import GuideView
from civichub.portal.models import ApplicationStatus, Certificate
from civichub.portal.prefill import OWN_VIEW_PURPOSE, SOURCE_LABELS, resident_facts


def _english() -> bool:
    return (translation.get_language() or "").startswith("en")


def _json_script(data: Any) -> SafeString:
    text = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
    return mark_safe(f'<script type="application/ld+json">{text}</script>')  # noqa: S308  # nosec B308 B703


def home(request: HttpRequest) -> HttpResponse:
    """The public front door, phone first: search, life events, notices for the visitor's
    area, quick links; a signed-in resident also sees their applications and notifications."""
    share_publicly(request)  # a visitor's copy: no area, nothing of theirs
    user = request_user_or_none(request)
    resident = user.resident if user is not None else None
    area = resident.community if resident is not None else None
    context: dict[str, Any] = {
        "life_events": selectors.life_events(),
        "notices": selectors.home_notices(area=area),
    }
    if user is not None:
        context["applications"] = selectors.own_applications(actor=user, limit=5)
        context["unread"] = notify_selectors.unread_count(user=user)
    return render(request, "portal/home.html", context)


def service_index(request: HttpRequest) -> HttpResponse:
    """The catalogue: search results for `q`, or the services of a life event."""
    query = request.GET.get("q", "").strip()[:100]
    event = request.GET.get("event", "")[:32]
    if not query:  # the catalogue itself, not the visitor's own words
        share_publicly(request)
    results = selectors.service_search(text=query, english=_english()) if query else None
    services_shown = [] if query else selectors.service_list(life_event=event)
    events = {e["key"]: e for e in selectors.life_events()}
    return render(
        request,
        "portal/index.html",
        {
            "query": query,
            "results": results,
            "services": services_shown,
            "event": events.get(event),
            "life_events": events.values(),
        },
    )


@domain_errors_as_http
def service_detail(request: HttpRequest, code: str) -> HttpResponse:
    service = selectors.service_get(code=code)
    assert service.published is not None
    share_publicly(request)
    return render(
        request,
        "portal/service.html",
        {
            "service": service,
            "version": service.published,
            "guide": GuideView(service.published.content, _english()),
            "json_ld": _json_script(selectors.service_json_ld(service)),
        },
    )


def catalogue_cpsv(request: HttpRequest) -> HttpResponse:
    response = JsonResponse(
        selectors.cpsv_ap_catalogue(), json_dumps_params={"ensure_ascii": False}
    )
    response["Content-Type"] = "application/ld+json; charset=utf-8"
    return response


def _summary_errors(
    errors: dict[str, list[str]], rows: list[dict[str, Any]]
) -> list[dict[str, str]]:
    """The application's problems for the shared error summary, each linked to its box (the
    correction box of a prefilled fact, else the field's own); a problem of the application as a
    whole (the service not open to online applications, a clash of references) links to the
    form's first box."""
    boxes = {
        r["field"]["key"]: ("fix-" if r["fact"] else "field-") + r["field"]["key"] for r in rows
    } | {"materials": "materials"}
    first = next(iter(boxes.values()))
    return [
        {"field": boxes.get(key, first), "message": str(message)}
        for key, messages in errors.items()
        for message in messages
    ]


@login_required
@domain_errors_as_http
def apply(request: HttpRequest, code: str) -> HttpResponse:
    """Step 1 asks for consent to read the registry; step 2 shows the form with each held
    value and its source (confirm, or flag it with a correction); step 3 submits."""
    user = request_user(request)
    service = selectors.service_get(code=code)
    assert service.published is not None
    fields = service.published.content.get("form", [])
    consent = request.POST.get("consent") == "yes"
    facts = resident_facts(actor=user) if consent else {}
    errors: dict[str, list[str]] = {}
    if request.method == "POST" and request.POST.get("step") == "submit":
        try:
            application = services.application_submit(
                actor=user,
                service=service,
                answers={f["key"]: request.POST.get(f["key"], "") for f in fields},
                consent=consent,
                flagged=request.POST.getlist("flag"),
                materials=request.FILES.getlist("materials"),
            )
        except DomainError as exc:
            errors = exc.errors or {"service": [exc.message]}
        else:
            messages.success(
                request, _("申请已提交，办件编号 %(ref)s。") % {"ref": application.reference}
            )
            return HttpResponseRedirect(reverse("portal:application", args=[application.reference]))
    step = "form" if request.method == "POST" else "consent"
    rows = [
        {
            "field": f,
            "fact": facts.get(f.get("prefill", "")),
            "typed": request.POST.get(f["key"], ""),
            "errors": errors.get(f["key"], []),
        }
        for f in fields
    ]
    return render(
        request,
        "portal/apply.html",
        {
            "service": service,
            "version": service.published,
            "guide": GuideView(service.published.content, _english()),
            "step": step,
            "consent": consent,
            "rows": rows,
            "summary_errors": _summary_errors(errors, rows),
            "errors": errors,
            "source_labels": SOURCE_LABELS,
        },
        status=422 if errors else 200,
    )


@login_required
def mine(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    return render(
        request, "portal/mine.html", {"applications": selectors.own_applications(actor=user)}
    )


@login_required
def my_data(request: HttpRequest) -> HttpResponse:
    """What the government holds about the resident, each value with its source."""
    facts = resident_facts(actor=request_user(request), purpose=OWN_VIEW_PURPOSE)
    return render(request, "portal/my_data.html", {"facts": sorted(facts.items())})


@login_required
@domain_errors_as_http
def application_detail(request: HttpRequest, reference: str) -> HttpResponse:
    user = request_user(request)
    application = selectors.application_get(actor=user, reference=reference)
    is_applicant = application.applicant_id == user.pk
    return render(
        request,
        "portal/application.html",
        {
            "application": application,
            "events": selectors.application_events(application),
            "materials": list(application.materials.all()),
            "is_applicant": is_applicant,
            "may_handle": allowed(user, "portal.application.handle", application),
            "overdue": selectors.is_overdue(application),
            "source_labels": SOURCE_LABELS,
            "fields": application.version.content.get("form", []),
            "statuses": ApplicationStatus,
            "certificate": Certificate.objects.filter(application=application).first(),
            "errors": request.session.pop(ACTION_ERRORS, None) or {},
        },
    )


@login_required
@domain_errors_as_http
def material_file(request: HttpRequest, reference: str, pk: int) -> FileResponse:
    material = selectors.material_get(actor=request_user(request), reference=reference, pk=pk)
    response = FileResponse(material.file.open("rb"), content_type=material.content_type)
    response["Content-Disposition"] = "attachment"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# A refused action is shown on the application's page in the shared error summary: a problem of
# what was entered at the control of the form it came from, a refusal of the state (accepted
# already, rated already) at the application's status.
ACTION_CONTROLS = {
    "more": "note-more",
    "refuse": "note-refuse",
    "revoke": "note-revoke",
    "materials": "more-materials",
    "rate": "rating",
}
ACTION_ERRORS = "portal_action_errors"


@login_required
@require_POST
@domain_errors_as_http
def application_action(request: HttpRequest, reference: str, action: str) -> HttpResponse:
    user = request_user(request)
    application = selectors.application_get(actor=user, reference=reference)
    note = request.POST.get("note", "")
    try:
        if action == "accept":
            services.application_accept(actor=user, application=application)
        elif action == "more":
            services.application_request_more(actor=user, application=application, note=note)
        elif action == "approve":
            services.application_approve(actor=user, application=application)
        elif action == "refuse":
            services.application_refuse(actor=user, application=application, reason=note)
        elif action == "materials":
            services.material_add(
                actor=user, application=application, materials=request.FILES.getlist("materials")
            )
        elif action == "revoke":
            services.certificate_revoke(actor=user, application=application, reason=note)
        elif action == "rate":
            rating = request.POST.get("rating", "")
            services.application_rate(
                actor=user, application=application, rating=int(rating) if rating.isdigit() else 0
            )
        else:
            raise NotFound(_("未知的操作。"))
    except ValidationFailed as exc:
        at = ACTION_CONTROLS.get(action, "application-status")
        request.session[ACTION_ERRORS] = {at: [str(exc.message)]}
    except DomainError as exc:
        request.session[ACTION_ERRORS] = {"application-status": [str(exc.message)]}
    else:
        messages.success(request, _("已保存。"))
    return HttpResponseRedirect(reverse("portal:application", args=[reference]))


@login_required
@domain_errors_as_http
def queue(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    rows = selectors.application_queue(actor=user)[:100]
    return render(
        request,
        "portal/queue.html",
        {"applications": [(a, selectors.is_overdue(a)) for a in rows]},
    )


@login_required
@domain_errors_as_http
def certificate_download(request: HttpRequest, reference: str) -> HttpResponse:
    certificate = selectors.certificate_get(actor=request_user(request), reference=reference)
    response = HttpResponse(bytes(certificate.pdf), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{reference}.pdf"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@domain_errors_as_http
def measures(request: HttpRequest) -> HttpResponse:
    """Staff: the anchors' measures per department and service, with charts and a CSV."""
    user = request_user(request)
    departments = performance.performance(actor=user)
    if request.GET.get("format") == "csv":
        audit_record(actor=user, action="portal.measures.export")
        response = HttpResponse(
            performance.performance_csv(departments), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = 'attachment; filename="portal-measures.csv"'
        return response
    charts = [
        (
            "chart-online",
            _("全程网办申请占比（%）"),
            bar_chart([(d.name, d.online_share) for d in departments]),
        ),
        (
            "chart-on-time",
            _("按承诺时限办结占比（%）"),
            bar_chart([(d.name, d.on_time_share) for d in departments]),
        ),
        (
            "chart-days",
            _("平均办结用时（天）"),
            bar_chart([(d.name, d.mean_days) for d in departments]),
        ),
        (
            "chart-rating",
            _("平均评分（1–5）"),
            bar_chart([(d.name, d.mean_rating) for d in departments]),
        ),
    ]
    return render(request, "portal/measures.html", {"departments": departments, "charts": charts})


# Open data -------------------------------------------------------------------------------------


def data_index(request: HttpRequest) -> HttpResponse:
    """Public: the open data catalogue."""
    datasets = [(d, *opendata.localized(d)) for d in opendata.published_datasets()]
    return render(
        request, "portal/data_index.html", {"datasets": datasets, "licences": opendata.LICENCES}
    )


@domain_errors_as_http
def data_detail(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = opendata.dataset_get(slug=slug)
    title, description = opendata.localized(dataset)
    table = opendata.dataset_table(dataset)
    return render(
        request,
        "portal/data_detail.html",
        {
            "dataset": dataset,
            "title": title,
            "description": description,
            "licence": opendata.LICENCES.get(dataset.licence),
            "columns": table.columns,
            "rows": [[row.get(c.key) for c in table.columns] for row in table.rows[:50]],
            "row_count": len(table.rows),
            "below": opendata.SUPPRESS_BELOW,
            "json_ld": _json_script(opendata.dataset_dcat(dataset)),
        },
    )


@domain_errors_as_http
def data_download(request: HttpRequest, slug: str, fmt: str) -> HttpResponse:
    dataset = opendata.dataset_get(slug=slug)
    table = opendata.dataset_table(dataset)
    if fmt == "csv":
        response = HttpResponse(opendata.table_csv(table), content_type="text/csv; charset=utf-8")
    elif fmt == "json":
        response = JsonResponse(
            opendata.table_json(dataset, table), json_dumps_params={"ensure_ascii": False}
        )
    else:
        raise NotFound(_("没有该格式。"))
    response["Content-Disposition"] = f'attachment; filename="{dataset.slug}.{fmt}"'
    return response


def data_catalogue(request: HttpRequest) -> JsonResponse:
    """The catalogue in DCAT (JSON-LD), for harvesters."""
    return JsonResponse(
        opendata.catalogue_dcat(),
        content_type="application/ld+json",
        json_dumps_params={"ensure_ascii": False},
    )


def verify(request: HttpRequest) -> HttpResponse:
    """Public: a code (GET) or a code with the PDF to check against its signature (POST)."""
    source = request.POST if request.method == "POST" else request.GET
    code = source.get("code", "").strip()
    found, errors, status = None, {}, 200
    if code:
        upload = request.FILES.get("pdf") if request.method == "POST" else None
        try:
            selectors.verify_allow(client_address(request))
            pdf = upload.read(5 * 1024 * 1024 + 1) if upload is not None else None
            if pdf is not None and len(pdf) > 5 * 1024 * 1024:
                errors, status = {"pdf": [_("文件过大，结果证明不超过 5 MB。")]}, 404
            else:
                found = selectors.verification_get(code=code, pdf=pdf)
        except RateLimited as exc:
            errors, status = {"code": [exc.message]}, 429
        except NotFound as exc:
            errors, status = {"code": [exc.message]}, 404
    return render(
        request,
        "portal/verify.html",
        {"code": code, "found": found, "errors": errors},
        status=status,
    )


def verify_key(request: HttpRequest) -> HttpResponse:
    """The public half of the certificate signing key (PEM), for checking PDFs offline."""
    return HttpResponse(certificates.public_key_pem(), content_type="text/plain; charset=utf-8")


# Staff: the guide's versions ---------------------------------------------------------------------


@login_required
def guide_admin(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    return render(
        request,
        "portal/guide_admin.html",
        {
            "services": selectors.editable_services(actor=user)[:200],
            "reviews": selectors.review_queue(actor=user)[:100],
        },
    )


@login_required
@domain_errors_as_http
def guide_edit(request: HttpRequest, code: str) -> HttpResponse:
    user = request_user(request)
    service = selectors.service_for_editing(actor=user, code=code)
    history = selectors.versions(service=service)
    latest = history[0] if history else None
    form = forms.GuideForm(request.POST or None, initial=forms.GuideForm.initial_from(latest))
    if request.method == "POST" and form.is_valid():
        try:
            draft = services.version_draft(
                actor=user,
                service=service,
                name=form.cleaned_data["name"],
                name_en=form.cleaned_data["name_en"],
                content=form.cleaned_data["content"],
            )
            if form.cleaned_data["submit_for_review"]:
                services.version_submit(actor=user, version=draft)
        except DomainError as exc:
            form.add_domain_error(exc)
        else:
            messages.success(request, _("已保存草稿。"))
            return HttpResponseRedirect(reverse("portal:guide_edit", args=[code]))
    return render(
        request,
        "portal/guide_edit.html",
        {
            "service": service,
            "form": form,
            "history": history,
            "errors": request.session.pop(VERSION_ERRORS, None) or {},
        },
        status=422 if form.errors else 200,
    )


# A refused review step is shown on the guide's page in the shared error summary: at the box of
# the form it came from while the version still waits for review, else (reviewed meanwhile) at
# the version history, which shows its state.
VERSION_CONTROLS = {"publish": "note-{pk}", "return": "ret-{pk}"}
VERSION_ERRORS = "portal_version_errors"


@login_required
@require_POST
@domain_errors_as_http
def version_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    user = request_user(request)
    version = selectors.version_get(actor=user, pk=pk)
    note = request.POST.get("note", "")
    try:
        if action == "publish":
            services.version_publish(actor=user, version=version, note=note)
        elif action == "return":
            services.version_return(actor=user, version=version, note=note)
        elif action == "submit":
            services.version_submit(actor=user, version=version)
        else:
            raise NotFound(_("未知的操作。"))
    except DomainError as exc:
        version.refresh_from_db(fields=["state"])
        control = VERSION_CONTROLS.get(action, "")
        at = control.format(pk=version.pk) if control and version.state == "in_review" else ""
        request.session[VERSION_ERRORS] = {at or "history-h": [str(exc.message)]}
    else:
        messages.success(request, _("已保存。"))
    return HttpResponseRedirect(reverse("portal:guide_edit", args=[version.service.code]))
