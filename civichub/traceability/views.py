"""Pages: the shopper's page reached from the QR code (the GS1 Digital Link resolver), the trace
code lookup, QR codes and label sheets, the staff lot list and trace graph, recalls (start,
follow, acknowledge) and the staff form for small markets. Thin: parse, call, render."""

from __future__ import annotations

import io
from typing import Any

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods

from civichub.core import maps
from civichub.core.config import module_config
from civichub.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from civichub.core.http import request_user
from civichub.core.permissions import allowed
from civichub.core.views import domain_errors_as_http
from civichub.traceability import selectors, services
from civichub.traceability.conf import TraceabilitySettings
from civichub.traceability.gs1.digital_link import DigitalLink, digital_link_parse
from civichub.traceability.gs1.identifiers import IdentifierError, gtin_verified
from civichub.traceability.models import Lot, Participant, ParticipantKind

LINK_TYPES = ("gs1:pip", "gs1:epcis", "gs1:traceability", "gs1:defaultLink")


def _base(request: HttpRequest) -> str:
    return module_config(TraceabilitySettings).resolver_base_url or request.build_absolute_uri("/")


def lot_link(request: HttpRequest, lot: Lot) -> str:
    """The Digital Link printed in the lot's QR code."""
    return DigitalLink(gtin=lot.product.gtin, lot=lot.lot).uri(_base(request))


def _lot_from_path(gtin: str, lot: str) -> Lot:
    try:
        verified = gtin_verified(gtin)
    except IdentifierError as exc:
        # A mistyped code names no product: the page says why rather than guessing.
        raise NotFound(str(exc)) from exc
    return selectors.lot_by_link(gtin=verified, lot=lot)


def _linkset(request: HttpRequest, lot: Lot) -> dict[str, Any]:
    anchor = lot_link(request, lot)
    page = anchor
    events = request.build_absolute_uri(
        "/epcis/events?" + urlencode({"MATCH_anyEPCClass": lot.epc_class})
    )
    return {
        "linkset": [
            {
                "anchor": anchor,
                "https://gs1.org/voc/pip": [{"href": page, "type": "text/html"}],
                "https://gs1.org/voc/traceability": [{"href": page, "type": "text/html"}],
                "https://gs1.org/voc/epcis": [{"href": events, "type": "application/ld+json"}],
                "https://gs1.org/voc/defaultLink": [{"href": page}],
            }
        ]
    }


@domain_errors_as_http
def resolve(request: HttpRequest, gtin: str, lot: str) -> HttpResponse:
    """The Digital Link resolver: the shopper's page by default; `linkType=gs1:epcis` redirects
    to the lot's events; `Accept: application/linkset+json` answers the linkset."""
    found = _lot_from_path(gtin, lot)
    link_type = request.GET.get("linkType", "")
    if link_type == "gs1:epcis":
        query = urlencode({"MATCH_anyEPCClass": found.epc_class})
        return HttpResponseRedirect(f"/epcis/events?{query}")
    if link_type == "all" or "application/linkset+json" in request.headers.get("Accept", ""):
        return JsonResponse(_linkset(request, found), content_type="application/linkset+json")
    if link_type and link_type not in LINK_TYPES:
        raise NotFound(_("该商品没有此类链接：%(type)s") % {"type": link_type})
    return _shopper_page(request, found)


@domain_errors_as_http
def resolve_compressed(request: HttpRequest, segment: str) -> HttpResponse:
    """A compressed Digital Link (`/AQnYUc1gmiCNV4JG`): resolved as the uncompressed
    `/01/{gtin}/10/{lot}` it stands for."""
    try:
        link = digital_link_parse(request.build_absolute_uri(f"/{segment}"))
    except IdentifierError as exc:
        raise NotFound(str(exc)) from exc
    if not link.lot:
        raise NotFound(f"{segment}: the Digital Link names no lot (AI 10)")
    return resolve(request, link.gtin, link.lot)


def resolver_description(request: HttpRequest) -> JsonResponse:
    """/.well-known/gs1resolver (GS1-Conformant Resolver Standard 1.2)."""
    root = request.build_absolute_uri("/").rstrip("/")
    return JsonResponse(
        {
            "name": "civichub food traceability",
            "resolverRoot": root,
            "supportedPrimaryKeys": ["01"],
            "supportedLinkType": [
                {"namespace": "https://gs1.org/voc/", "prefix": "gs1:", "profile": t[4:]}
                for t in LINK_TYPES
            ],
            "linkTypeDefaultCanBeLinkset": True,
            "supportedContextValuesEnumerated": [],
        }
    )


def _shopper_page(request: HttpRequest, lot: Lot) -> HttpResponse:
    journey = selectors.lot_journey(lot=lot)
    places = [s.participant for s in journey.steps if s.participant is not None]
    mapped = [
        p for p in dict.fromkeys(places) if p.latitude is not None and p.longitude is not None
    ]
    english = (translation.get_language() or "").startswith("en")
    # The places in the order the food passed them, numbered like the timeline, joined by a line.
    map_points = [
        maps.map_point(
            p.latitude,  # type: ignore[arg-type]
            p.longitude,  # type: ignore[arg-type]
            f"{n}. {p.name_en if english and p.name_en else p.name}",
        ).as_json()
        for n, p in enumerate(mapped, 1)
    ]
    return render(
        request,
        "traceability/shopper.html",
        {
            "journey": journey,
            "lot": lot,
            "mapped": mapped,
            "map_points": map_points,
            "link": lot_link(request, lot),
        },
    )


@domain_errors_as_http
def lookup(request: HttpRequest) -> HttpResponse:
    """The receipt's 20-digit trace code typed in (the kiosk, the website)."""
    code = request.GET.get("code", "").strip()
    error = ""
    if code:
        try:
            lot = selectors.lot_by_trace_code(code)
        except DomainError as exc:
            error = exc.message
        else:
            return redirect(DigitalLink(gtin=lot.product.gtin, lot=lot.lot).path())
    return render(
        request,
        "traceability/lookup.html",
        {"code": code, "errors": {"code": [error]} if error else {}},
    )


@domain_errors_as_http
def lot_qr(request: HttpRequest, lot_id: int, fmt: str) -> HttpResponse:
    lot = Lot.objects.select_related("product").filter(pk=lot_id).first()
    if lot is None:
        raise NotFound(_("没有该批次。"))
    code = segno.make_qr(lot_link(request, lot), error="m")
    buffer = io.BytesIO()
    if fmt == "svg":
        code.save(buffer, kind="svg", scale=4, title=f"{lot.product.name} {lot.lot}")
        return HttpResponse(buffer.getvalue(), content_type="image/svg+xml")
    code.save(buffer, kind="png", scale=6)
    return HttpResponse(buffer.getvalue(), content_type="image/png")


@login_required
@domain_errors_as_http
def labels(request: HttpRequest, lot_id: int) -> HttpResponse:
    """A printable sheet of labels for one lot: QR code, product, lot and trace code."""
    lots = selectors.lot_list(user=request_user(request)).filter(pk=lot_id)
    lot = lots.first()
    if lot is None:
        raise NotFound(_("没有该批次。"))
    svg = segno.make_qr(lot_link(request, lot), error="m").svg_inline(scale=3)
    return render(
        request,
        "traceability/labels.html",
        {"lot": lot, "svg": svg, "count": range(12), "link": lot_link(request, lot)},
    )


@login_required
@domain_errors_as_http
def lots(request: HttpRequest) -> HttpResponse:
    found = selectors.lot_list(user=request_user(request), query=request.GET.get("q", ""))
    return render(request, "traceability/lots.html", {"lots": found[:100]})


@login_required
@domain_errors_as_http
def lot_detail(request: HttpRequest, lot_id: int) -> HttpResponse:
    user = request_user(request)
    lot = selectors.lot_list(user=user).filter(pk=lot_id).first()
    if lot is None:
        raise NotFound(_("没有该批次。"))
    trace = selectors.lot_trace(user=user, lot=lot)
    return render(
        request,
        "traceability/lot.html",
        {"lot": lot, "trace": trace, "graph": trace.as_graph(), "link": lot_link(request, lot)},
    )


@login_required
@domain_errors_as_http
@require_http_methods(["POST"])
def recall_start(request: HttpRequest, lot_id: int) -> HttpResponse:
    user = request_user(request)
    lot = selectors.lot_list(user=user).filter(pk=lot_id).first()
    if lot is None:
        raise NotFound(_("没有该批次。"))
    recall = services.recall_start(
        actor=user,
        lot=lot,
        reason=request.POST.get("reason", ""),
        organisation=selectors.regulator_organisation(user),
    )
    return redirect("traceability:recall", recall.pk)


def _form_time(value: str) -> Any:
    """A `datetime-local` field in the deployment's time zone; empty or unreadable: none."""
    when = parse_datetime(value.strip()) if value.strip() else None
    if when is not None and timezone.is_naive(when):
        when = timezone.make_aware(when)
    return when


def _scope_choice(form: Any) -> dict[str, Any]:
    farm = form.get("farm", "")
    return {
        "kind": form.get("kind", ""),
        "farm_id": int(farm) if farm.isdigit() else None,
        "feed_code": form.get("feed", ""),
        "since": _form_time(form.get("since", "")),
        "until": _form_time(form.get("until", "")),
    }


def _scope_errors(exc: DomainError, kind: str) -> dict[str, list[str]]:
    """A refused scope's problems by the control each is about: the service's fields, and a
    problem of the scope as a whole (too wide, nothing found) at the control that chose it (the
    feed batch's code, the farm, else the time range that narrows it)."""
    errors = {name: list(found) for name, found in exc.errors.items()}
    whole = errors.pop("scope", None) or ([] if errors else [exc.message])
    if whole:
        chosen = (
            "feed"
            if kind == "feed"
            else "farm"
            if kind == "farm" and isinstance(exc, NotFound)
            else "since"
        )
        errors.setdefault(chosen, []).extend(whole)
    return errors


@login_required
@domain_errors_as_http
def recall_scope(request: HttpRequest) -> HttpResponse:
    """A recall by farm, feed batch or dates: the regulator chooses the scope, previews what
    the trace reaches (lots, participants, stalls), then confirms; the service starts it. A
    refused confirmation shows the preview again, so that the reason's control is there."""
    user = request_user(request)
    organisation = selectors.regulator_organisation(user)  # the permission check comes first
    preview = None
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        choice = _scope_choice(request.POST)
        if request.POST.get("confirm"):
            try:
                recall = services.recall_start_scoped(
                    actor=user,
                    reason=request.POST.get("reason", ""),
                    organisation=organisation,
                    **selectors.recall_scope_choice(**choice),
                )
            except (ValidationFailed, NotFound, Conflict) as exc:
                errors = _scope_errors(exc, choice["kind"])
            else:
                return redirect("traceability:recall", recall.pk)
        try:
            preview = selectors.recall_scope_preview(user=user, **choice)
        except (ValidationFailed, NotFound, Conflict) as exc:
            errors = errors or _scope_errors(exc, choice["kind"])
    return render(
        request,
        "traceability/recall_scope.html",
        {
            "form": request.POST,
            "farms": selectors.participants(user=user).filter(kind=ParticipantKind.FARM),
            "preview": preview,
            "errors": errors,
        },
    )


@login_required
@domain_errors_as_http
def recalls(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    return render(
        request,
        "traceability/recalls.html",
        {
            "recalls": selectors.recall_list(user=user)[:100],
            "notices": selectors.my_notices(user=user),
            "can_start": allowed(user, "traceability.recall.start"),
        },
    )


# A downstream participant's acknowledgement in a recall's table: its controls' ids by field,
# before the notice's number.
RECALL_CONTROLS = {"quantity_withdrawn": "q", "note": "n"}


@login_required
@domain_errors_as_http
def recall(request: HttpRequest, recall_id: int) -> HttpResponse:
    user = request_user(request)
    found = selectors.recall_detail(user=user, recall_id=recall_id)
    errors: dict[str, list[str]] = {}
    refused: int | None = None  # the notice whose acknowledgement was refused: its row shows it
    if request.method == "POST" and request.POST.get("remind"):
        reminded = services.recall_remind(actor=user, recall=found)
        messages.success(
            request,
            ngettext("已提醒 %(n)d 个经营单位。", "已提醒 %(n)d 个经营单位。", reminded)
            % {"n": reminded},
        )
        return redirect("traceability:recall", found.pk)
    if request.method == "POST":
        notice = selectors.notice_for_acknowledgement(
            user=user, notice_id=int(request.POST.get("notice", "0") or 0)
        )
        try:
            quantity = float(request.POST.get("quantity_withdrawn", ""))
            services.recall_acknowledge(
                actor=user,
                notice=notice,
                quantity_withdrawn=quantity,
                note=request.POST.get("note", ""),
            )
        except ValueError:
            errors, refused = {"quantity_withdrawn": [_("请填写下架数量。")]}, notice.pk
        except ValidationFailed as exc:
            errors = {"note" if "note" in exc.errors else "quantity_withdrawn": [exc.message]}
            refused = notice.pk
        else:
            return redirect("traceability:recall", found.pk)
    return render(
        request,
        "traceability/recall.html",
        {
            "recall": found,
            "notices": selectors.notices_for(user=user, recall=found),
            "mine": selectors.participants_of(user=user),
            "tally": (
                selectors.recall_acknowledgements(user=user, recall=found)
                if allowed(user, "traceability.recall.start", found)
                else None
            ),
            "errors": errors,
            "refused": refused,
            # Each problem links to the control of the row it is about.
            "error_list": [
                {"field": f"{RECALL_CONTROLS[name]}-{refused}", "message": message}
                for name, found in errors.items()
                for message in found
            ],
        },
    )


# The record form's controls, by the field a service names in its errors: each problem is shown
# at its control (the summary links there, the control names the message).
RECORD_FIELDS = {
    "step": "e-step",
    "participant": "e-participant",
    "trace_code": "e-code",
    "code": "e-code",
    "lot": "e-code",
    "quantity": "e-quantity",
    "certificate": "e-cert",
    "results": "e-residue",
    "when": "e-when",
}


def _record_errors(exc: DomainError) -> dict[str, list[str]]:
    """A refused record's problems by control; one that names no field is about the lot the
    code names (an unknown code, a step the lot cannot take)."""
    errors: dict[str, list[str]] = {}
    for name, found in exc.errors.items():
        errors.setdefault(RECORD_FIELDS.get(name, "e-code"), []).extend(map(str, found))
    return errors or {"e-code": [exc.message]}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _upload_errors(exc: DomainError) -> dict[str, list[str]]:
    """A refused upload's problems, all at the file: the rows that are wrong, else the fields."""
    if exc.errors.get("participant"):
        return {"c-participant": list(map(str, exc.errors["participant"]))}
    rows = exc.extra.get("rows") or []
    return {
        "c-file": [
            str(m)
            for m in (
                [_("第 %(row)s 行（%(code)s）：%(message)s") % r for r in rows]
                or [f"{where}: {'; '.join(m)}" for where, m in exc.errors.items()]
                or [exc.message]
            )
        ]
    }


@login_required
@domain_errors_as_http
def node_event(request: HttpRequest) -> HttpResponse:
    """The staff form: one receiving, slaughter, inspection, shipping or sale. A refused record
    keeps what was typed."""
    user = request_user(request)
    mine = Participant.objects.filter(members=user).order_by("name")
    errors: dict[str, list[str]] = {}
    done = False
    if request.method == "POST" and "file" in request.FILES:
        try:
            participant = mine.filter(pk=int(request.POST.get("participant", "0") or 0)).first()
            if participant is None:
                raise ValidationFailed.on("participant", _("请选择您所在的经营单位。"))
            upload = request.FILES.get("file")
            if upload is None:
                raise ValidationFailed.on("file", _("文件中没有记录。"))
            text = upload.read(1_000_000).decode("utf-8-sig")
            services.node_events_from_csv(actor=user, text=text, participant=participant)
            done = True
        except UnicodeDecodeError:
            errors = {"c-file": [_("文件须为 UTF-8 编码的 CSV。")]}
        except DomainError as exc:
            errors = _upload_errors(exc)
    elif request.method == "POST":
        try:
            lot = selectors.lot_by_trace_code(request.POST.get("trace_code", ""))
            participant = mine.filter(pk=int(request.POST.get("participant", "0") or 0)).first()
            if participant is None:
                raise ValidationFailed.on("participant", _("请选择您所在的经营单位。"))
            when = parse_datetime(request.POST.get("when", "")) or timezone.now()
            if timezone.is_naive(when):
                when = timezone.make_aware(when)
            results = {}
            if request.POST.get("residue_name"):
                results[request.POST["residue_name"]] = float(
                    request.POST.get("residue_value") or 0
                )
            quantity = request.POST.get("quantity")
            services.node_event_record(
                actor=user,
                step=request.POST.get("step", ""),
                lot=lot,
                participant=participant,
                when=when,
                quantity=float(quantity) if quantity else None,
                certificate=request.POST.get("certificate", "").strip(),
                results=results or None,
            )
            done = True
        except ValueError:
            errors = (
                {"e-value": [_("检测值须为数字。")]}
                if not _is_number(request.POST.get("residue_value") or "0")
                else {"e-quantity": [_("数量须为数字。")]}
            )
        except DomainError as exc:
            errors = _record_errors(exc)
    return render(
        request,
        "traceability/node_event.html",
        {
            "participants": mine,
            "steps": services.NODE_STEPS,
            "errors": errors,
            "done": done,
            "form": request.POST if errors else {},
        },
    )
