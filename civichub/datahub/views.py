"""The data hub's pages: sources with their health, an import's progress and refused rows,
the review queue, sharing agreements, a person's agreement-scoped data, and a resident's own
record with who looked at it. Thin: parse, call a selector or service, render."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from civichub.core.charts import bar_chart
from civichub.core.errors import DomainError
from civichub.core.http import request_user
from civichub.core.permissions import allowed
from civichub.core.selectors import organisation_get
from civichub.core.views import domain_errors_as_http
from civichub.datahub import forms, selectors, services
from civichub.datahub.linkage import field_label, level_label
from civichub.datahub.models import BatchStatus


@login_required
@domain_errors_as_http
def sources(request: HttpRequest) -> HttpResponse:
    health = selectors.source_list(actor=request_user(request))
    chart = bar_chart([(h.source.name, round(100 * (h.linkage_rate or 0), 1)) for h in health])
    return render(request, "datahub/sources.html", {"health": health, "chart": chart})


@login_required
@domain_errors_as_http
def source_detail(request: HttpRequest, key: str) -> HttpResponse:
    user = request_user(request)
    source = selectors.source_get(actor=user, key=key)
    form = forms.UploadForm()
    if request.method == "POST":
        form = forms.UploadForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            name = upload.name or ""
            fmt = "xlsx" if name.lower().endswith(".xlsx") else ""
            fmt = fmt or ("json" if name.lower().endswith(".json") else "")
            fmt = fmt or ("csv" if name.lower().endswith(".csv") else "")
            try:
                batch = services.import_start(
                    actor=user, source=source, content=upload.read(), file_name=name, fmt=fmt
                )
            except DomainError as exc:
                form.add_error("file", exc.message)
            else:
                return redirect("datahub:batch", pk=batch.pk)
    return render(
        request,
        "datahub/source_detail.html",
        {
            "source": source,
            "attributes": selectors.source_attribute_names(source),
            "batches": selectors.batch_list(actor=user, source=source)[:50],
            "form": form,
            "may_import": allowed(user, "datahub.import.run", source),
        },
    )


@login_required
@domain_errors_as_http
def batch_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = request_user(request)
    batch = selectors.batch_get(actor=user, pk=pk)
    return render(
        request,
        "datahub/batch_detail.html",
        {
            "batch": batch,
            "errors": selectors.batch_row_errors(actor=user, batch=batch),
            "running": batch.status in (BatchStatus.QUEUED, BatchStatus.RUNNING),
            "may_rollback": batch.status == BatchStatus.DONE
            and allowed(user, "datahub.import.rollback", batch),
        },
    )


@login_required
@domain_errors_as_http
def batch_rejects(request: HttpRequest, pk: int) -> HttpResponse:
    user = request_user(request)
    batch = selectors.batch_get(actor=user, pk=pk)
    response = HttpResponse(
        "\ufeff" + selectors.batch_rejects_csv(actor=user, batch=batch),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="rejects-{batch.pk}.csv"'
    return response


@login_required
@require_POST
@domain_errors_as_http
def batch_rollback(request: HttpRequest, pk: int) -> HttpResponse:
    user = request_user(request)
    services.import_rollback(actor=user, batch=selectors.batch_get(actor=user, pk=pk))
    return redirect("datahub:batch", pk=pk)


@login_required
@domain_errors_as_http
def reviews(request: HttpRequest) -> HttpResponse:
    items = selectors.review_queue(actor=request_user(request))[:100]
    return render(request, "datahub/reviews.html", {"items": items})


@login_required
@domain_errors_as_http
def review_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = request_user(request)
    item = selectors.review_get(actor=user, pk=pk)
    error = ""
    if request.method == "POST":
        try:
            services.review_decide(actor=user, item=item, same=request.POST.get("same") == "1")
        except DomainError as exc:
            error = exc.message
        else:
            return redirect("datahub:reviews")
    fields = [
        (
            field_label(part["field"]),
            item.record.keys.get(part["field"], ""),
            item.candidate.keys.get(part["field"], ""),
            level_label(part["level"]),
            part["weight"],
        )
        for part in item.explanation
    ]
    return render(
        request, "datahub/review_detail.html", {"item": item, "fields": fields, "error": error}
    )


@login_required
@domain_errors_as_http
def agreements(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    form = forms.AgreementForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.agreement_create(
                actor=user,
                source=selectors.source_get(actor=user, key=data["source"]),
                reader=organisation_get(pk=data["reader"]),
                role=data["role"],
                area=organisation_get(pk=data["area"]),
                attributes=form.attribute_list(),
                purpose=data["purpose"],
                legal_basis=data["legal_basis"],
                valid_from=data["valid_from"],
                valid_until=data["valid_until"],
                scope=data["scope"],
                basis=data["basis"],
                consent_text=data["consent_text"],
                consent_version=data["consent_version"],
            )
        except DomainError as exc:
            for name, messages in (exc.errors or {"__all__": [exc.message]}).items():
                for message in messages:
                    form.add_error(name if name in form.fields else None, message)
        else:
            return redirect("datahub:agreements")
    return render(
        request,
        "datahub/agreements.html",
        {
            "agreements": selectors.agreement_list(actor=user),
            "form": form,
            "may_manage": allowed(user, "datahub.agreement.manage"),
        },
    )


@login_required
@domain_errors_as_http
def person_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = request_user(request)
    person = selectors.person_get(pk=pk)
    form = forms.ReadForm(request.GET or None)
    found = None
    if form.is_valid():
        try:
            found = selectors.person_attributes(
                actor=user, person=person, names=None, purpose=form.cleaned_data["purpose"]
            )
        except DomainError as exc:
            form.add_error("purpose", exc.message)
    return render(
        request,
        "datahub/person_detail.html",
        {"person_id": pk, "form": form, "found": found},
    )


@login_required
@domain_errors_as_http
def my_data(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    form = forms.CorrectionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.correction_request(
                actor=user,
                value=selectors.my_value_get(actor=user, pk=form.cleaned_data["value"]),
                proposed_value=form.cleaned_data["proposed_value"],
                reason=form.cleaned_data["reason"],
            )
        except DomainError as exc:
            # Each problem at the control it is about; one of the request as a whole (a value
            # that is no longer current) at the value chosen.
            for name, messages in (exc.errors or {"value": [exc.message]}).items():
                for message in messages:
                    form.add_error(name if name in form.fields else "value", message)
        else:
            return redirect("datahub:my_data")
    mine = selectors.my_record(actor=user)
    return render(request, "datahub/my_data.html", {"mine": mine, "form": form})


@login_required
@require_POST
@domain_errors_as_http
def my_consent(request: HttpRequest, pk: int) -> HttpResponse:
    """The resident gives (`give=1`) or withdraws their separate consent to an agreement."""
    user = request_user(request)
    person, agreement = selectors.my_consent_agreement(actor=user, pk=pk)
    change = services.consent_give if request.POST.get("give") == "1" else services.consent_withdraw
    change(actor=user, person=person, agreement=agreement)
    return redirect("datahub:my_data")


@login_required
@domain_errors_as_http
def corrections(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    errors: dict[str, list[str]] = {}
    refused: str | None = None  # the request whose answer was refused: its form shows it
    if request.method == "POST":
        try:
            services.correction_answer(
                actor=user,
                request=selectors.correction_get(actor=user, pk=int(request.POST.get("pk", 0))),
                corrected=request.POST.get("corrected") == "1",
                answer=request.POST.get("answer", ""),
            )
        except (DomainError, ValueError) as exc:
            errors = {"answer": [getattr(exc, "message", str(exc))]}
            refused = request.POST.get("pk", "")
        else:
            return redirect("datahub:corrections")
    items = selectors.correction_list(actor=user)[:100]
    # The summary links to the refused answer's box, or to the request's heading once it is no
    # longer open (answered meanwhile).
    still_open = {str(c.pk) for c in items if c.status == "open"}
    target = f"answer-{refused}" if refused in still_open else f"c{refused}"
    return render(
        request,
        "datahub/corrections.html",
        {
            "items": items,
            "errors": errors,
            "refused": refused,
            "error_list": [{"field": target, "message": m} for m in errors.get("answer", [])],
        },
    )
