"""Casework pages: thin, calling the same selectors and services as the API. Plain forms that
work without JavaScript; service errors come back as form errors."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_POST

from civichub.casework import forms, selectors, services
from civichub.casework.models import (
    Case,
    CaseKind,
    CaseStatus,
    Category,
    ContactVerification,
    EventKind,
    ExtensionState,
    PhotoState,
)
from civichub.casework.permissions import is_own_case, is_sender, may
from civichub.casework.photos import PhotoUpload
from civichub.casework.services import Submitted
from civichub.core.charts import Chart, bar_chart, column_chart
from civichub.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from civichub.core.http import (
    client_address,
    request_user,
    request_user_or_none,
    share_publicly,
)
from civichub.core.models import Organisation, User
from civichub.core.paging import page_links
from civichub.core.permissions import allowed
from civichub.core.publiccache import cached
from civichub.core.templatetags.civichub import localized_name
from civichub.core.views import domain_errors_as_http, page_number_from

PER_PAGE = 25
SESSION_VERIFICATION = "casework_verification_id"
# The token that binds a verification to this browser: the session holds it with the id.
SESSION_VERIFICATION_TOKEN = "casework_verification_token"  # noqa: S105 (a session key)
SESSION_PENDING = "casework_pending_verification"
SESSION_ACCESS = "casework_access"  # tracking number → access code, for anonymous senders
# The purpose written to the append-only audit log when staff open a case: fixed Chinese
# wording, deliberately not translated, so the record does not depend on the reader's language.
PURPOSE = "办理群众留言"


# Sending ---------------------------------------------------------------------------------


def _verification(request: HttpRequest) -> ContactVerification | None:
    pk = request.session.get(SESSION_VERIFICATION)
    if not pk:
        return None
    token = str(request.session.get(SESSION_VERIFICATION_TOKEN, ""))
    verification = selectors.contact_verification_find(int(pk), token)
    return verification if verification is not None and verification.is_usable() else None


def _uploads(files: list[Any]) -> list[PhotoUpload]:
    return [PhotoUpload(name=f.name or "photo", data=f.read()) for f in files]


def _remember_access(request: HttpRequest, tracking_number: str, code: str) -> None:
    codes = dict(request.session.get(SESSION_ACCESS, {}))
    codes[tracking_number] = code
    request.session[SESSION_ACCESS] = dict(list(codes.items())[-20:])


def _query_without_page(request: HttpRequest) -> str:
    """The list's query string for its pager links, which add their own page."""
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


def _submit_form(data: dict[str, Any], *, actor: User | None, **sender: Any) -> Submitted:
    """A message from the fields the sending and call-logging forms share."""
    return services.case_submit(
        actor=actor,
        kind=data["kind"],
        title=data["title"],
        text=data["text"],
        category_key=data["category"] or None,
        address=data["address"],
        latitude=data["latitude"],
        longitude=data["longitude"],
        crs=data["crs"] or None,
        is_public=data["is_public"],
        photos=_uploads(data["photos"]),
        keep_photo_location=data["keep_location"],
        **sender,
    )


def submit(request: HttpRequest) -> HttpResponse:
    """The message form. Signed-in people send at once; others verify a phone or email first."""
    user = request_user_or_none(request)
    verification = None if user else _verification(request)
    if user is None and verification is None:
        return HttpResponseRedirect(reverse("casework:verify"))
    form = forms.CaseForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            result = _submit_form(data, actor=user, verification=verification)
        except DomainError as exc:
            forms.add_domain_errors(form, exc)
        else:
            if result.access_code:
                _remember_access(request, result.case.tracking_number, result.access_code)
                request.session.pop(SESSION_VERIFICATION, None)
                request.session.pop(SESSION_VERIFICATION_TOKEN, None)
            return HttpResponseRedirect(
                reverse("casework:sent", args=[result.case.tracking_number])
            )
    return render(
        request,
        "casework/submit.html",
        {"form": form, "verification": verification, "kinds": CaseKind.choices},
    )


def verify(request: HttpRequest) -> HttpResponse:
    """Two steps on one page: ask for a code, then enter it."""
    pending_id = request.session.get(SESSION_PENDING)
    start_form = forms.VerifyStartForm(
        request.POST if request.POST.get("step") == "start" else None
    )
    code_form = forms.VerifyCodeForm(request.POST if request.POST.get("step") == "code" else None)
    if request.method == "POST" and request.POST.get("step") == "start" and start_form.is_valid():
        try:
            started = services.contact_verification_start(
                channel=start_form.cleaned_data["channel"],
                address=start_form.cleaned_data["address"],
                client=client_address(request),
            )
        except DomainError as exc:
            forms.add_domain_errors(start_form, exc)
        else:
            request.session[SESSION_PENDING] = started.verification.pk
            request.session[SESSION_VERIFICATION_TOKEN] = started.token
            messages.success(request, _("验证码已发送，请查收。"))
            return HttpResponseRedirect(reverse("casework:verify"))
    if request.method == "POST" and request.POST.get("step") == "code" and code_form.is_valid():
        if not pending_id:
            code_form.add_error(None, _("请先获取验证码。"))
        else:
            try:
                verification = services.contact_verification_confirm(
                    verification_id=int(pending_id),
                    token=str(request.session.get(SESSION_VERIFICATION_TOKEN, "")),
                    code=code_form.cleaned_data["code"],
                )
            except DomainError as exc:
                forms.add_domain_errors(code_form, exc)
            else:
                request.session[SESSION_VERIFICATION] = verification.pk
                request.session.pop(SESSION_PENDING, None)
                return HttpResponseRedirect(reverse("casework:submit"))
    return render(
        request,
        "casework/verify.html",
        {"start_form": start_form, "code_form": code_form, "pending": bool(pending_id)},
    )


def sent(request: HttpRequest, tracking_number: str) -> HttpResponse:
    """Confirmation with the tracking number (and, once, the access code)."""
    user = request_user_or_none(request)
    access = request.session.get(SESSION_ACCESS, {}).get(tracking_number, "")
    case = selectors.case_find(tracking_number)
    if case is None or not is_sender(user, case, access):
        return render(request, "core/error.html", {"message": _("没有找到该留言。")}, status=404)
    return render(request, "casework/sent.html", {"case": case, "access_code": access})


def track(request: HttpRequest) -> HttpResponse:
    """Anonymous senders follow their message with the tracking number and access code."""
    form = forms.TrackForm(request.POST or request.GET or None)
    if (request.POST or request.GET.get("tracking_number")) and form.is_valid():
        number = form.cleaned_data["tracking_number"].strip()
        code = form.cleaned_data["access_code"].strip()
        try:
            selectors.case_for_tracking(tracking_number=number, access_code=code)
        except NotFound as exc:
            form.add_error(None, exc.message)
        else:
            _remember_access(request, number, code)
            return HttpResponseRedirect(reverse("casework:case", args=[number]))
    return render(request, "casework/track.html", {"form": form})


@login_required
@domain_errors_as_http
def mine(request: HttpRequest) -> HttpResponse:
    page_number = page_number_from(request)
    page = selectors.own_cases(
        actor=request_user(request), offset=(page_number - 1) * PER_PAGE, limit=PER_PAGE
    )
    return render(
        request,
        "casework/mine.html",
        {
            "cases": page.items,
            "total": page.total,
            "page_obj": page_links(total=page.total, per_page=PER_PAGE, number=page_number),
        },
    )


# One case: the sender's view and the staff view --------------------------------------------


def _sender_case(request: HttpRequest, tracking_number: str) -> tuple[Case, str] | None:
    """The case if the visitor sent it (signed in, or holding its access code)."""
    user = request_user_or_none(request)
    case = selectors.case_find(tracking_number)
    if case is None:
        return None
    code = (
        ""
        if is_own_case(user, case)
        else request.session.get(SESSION_ACCESS, {}).get(tracking_number, "")
    )
    if not is_sender(user, case, code):
        return None
    return selectors.case_load(case.pk), code


@domain_errors_as_http
def case_detail(request: HttpRequest, tracking_number: str) -> HttpResponse:
    user = request_user_or_none(request)
    probe = selectors.case_find(tracking_number)
    if probe is not None and user is not None and may(user, "casework.case.note", probe):
        return _staff_detail(request, tracking_number)
    own = _sender_case(request, tracking_number)
    if own is None:
        if user is None:
            return HttpResponseRedirect(
                f"{reverse('casework:track')}?tracking_number={tracking_number}"
            )
        raise NotFound(_("没有找到该留言，或您无权查看。"))
    case, access_code = own
    rating_form = forms.RatingForm(request.POST or None)
    if request.method == "POST" and rating_form.is_valid():
        try:
            services.case_rate(
                actor=user,
                case=case,
                value=rating_form.cleaned_data["value"],
                comment=rating_form.cleaned_data["comment"],
                access_code=access_code,
            )
        except DomainError as exc:
            forms.add_domain_errors(rating_form, exc)
        else:
            messages.success(request, _("感谢您的评价。"))
            return HttpResponseRedirect(reverse("casework:case", args=[tracking_number]))
    return render(
        request,
        "casework/case_sender.html",
        {
            "case": case,
            "events": selectors.case_history(actor=user, case=case, staff_view=False),
            "rating_form": rating_form,
            "may_rate": case.status == CaseStatus.REPLIED,
            "map_points": [p.as_json() for p in selectors.case_map_points(case)],
        },
    )


def case_actions(case: Case, can: dict[str, bool], *, has_staff: bool) -> list[str]:
    """The handling forms the staff member may use on an open case now, in the page's order."""
    routed = case.status not in {CaseStatus.RECEIVED, CaseStatus.TRIAGE}
    pending = case.extension_state == ExtensionState.REQUESTED
    shown = {
        "triage": can["triage"] and not routed,
        "reply": routed and can["reply"],
        "assign": routed and can["assign"] and has_staff,
        "transfer": can["transfer"],
        "extend_request": routed and can["extend_request"] and not pending,
        "extend_decide": pending and can["extend_approve"],
        "merge": can["merge"],
        "note": can["note"],
        "close": routed and can["close"],
    }
    return [action for action, available in shown.items() if available]


# The case's next step by its state, most wanted first: the first the staff member may take is
# the page's one primary action; the others wait under "more actions". A requested extension
# waits for its decision before anything else.
NEXT_STEPS: dict[str, tuple[str, ...]] = {
    CaseStatus.RECEIVED: ("triage", "transfer"),
    CaseStatus.TRIAGE: ("triage", "transfer"),
    CaseStatus.ASSIGNED: ("reply", "assign", "transfer"),
    CaseStatus.IN_PROGRESS: ("reply", "assign", "transfer"),
    CaseStatus.REOPENED: ("reply", "assign", "transfer"),
    CaseStatus.REPLIED: ("close",),
}


def primary_action(case: Case, actions: list[str]) -> str:
    """The one action the page puts first for the case's state; where the staff member may take
    none of the state's next steps, the first they may take ("" when there is none)."""
    wanted = NEXT_STEPS.get(case.status, ())
    if case.extension_state == ExtensionState.REQUESTED:
        wanted = ("extend_decide", *wanted)
    return next((a for a in wanted if a in actions), actions[0] if actions else "")


def _staff_detail(request: HttpRequest, tracking_number: str) -> HttpResponse:
    user = request_user(request)
    case = selectors.case_get(actor=user, tracking_number=tracking_number, purpose=PURPOSE)
    can = {
        action: may(user, f"casework.case.{action}", case)
        for action in (
            "triage",
            "assign",
            "transfer",
            "reply",
            "close",
            "extend_request",
            "extend_approve",
            "merge",
            "note",
        )
    }
    open_ = case.status != CaseStatus.CLOSED
    duplicates = (
        selectors.duplicate_candidates(actor=user, case=case) if can["merge"] and open_ else []
    )
    events = selectors.case_history(actor=user, case=case, staff_view=True)
    categories = selectors.category_list()
    # The history keeps codes (a category's key, a department's code); staff read names.
    codes = {
        str(e.data.get(key) or "")
        for e in events
        for key in ("department", "from_department", "to_department")
    }
    staff = selectors.assignable_staff(case=case) if can["assign"] else []
    actions = case_actions(case, can, has_staff=bool(staff)) if open_ else []
    primary = primary_action(case, actions)
    return render(
        request,
        "casework/case_staff.html",
        {
            "case": case,
            "events": events,
            "category_names": {c.key: c for c in categories},
            "organisation_names": selectors.organisations_by_code(codes),
            "due_state": selectors.due_state(case),
            "can": can,
            "is_open": open_,
            "primary": primary,
            "secondary": [a for a in actions if a != primary],
            "extension_pending": case.extension_state == ExtensionState.REQUESTED,
            "categories": categories,
            "departments": selectors.departments() if (can["transfer"] or can["triage"]) else [],
            "staff": staff,
            "duplicates": duplicates,
            "errors": request.session.pop("casework_action_errors", None),
            "map_points": [p.as_json() for p in selectors.case_map_points(case)],
        },
    )


def _category_from(request: HttpRequest) -> Category | None:
    return selectors.category_find(request.POST.get("category", ""))


def _department_from(request: HttpRequest) -> Organisation | None:
    raw = request.POST.get("department", "")
    return selectors.department_find(int(raw)) if raw.isdigit() else None


def _perform(request: HttpRequest, action: str, user: User, case: Case) -> str:
    post = request.POST
    if action == "triage":
        category = _category_from(request)
        if category is None:
            raise ValidationFailed.on("category", _("请选择类别。"))
        services.case_triage(
            actor=user,
            case=case,
            category=category,
            department=_department_from(request),
            note=post.get("note", ""),
        )
        return _("已分拣。")
    if action == "assign":
        raw = post.get("assignee", "")
        assignee = selectors.user_find(int(raw)) if raw.isdigit() else None
        if assignee is None:
            raise ValidationFailed.on("assignee", _("请选择承办人。"))
        services.case_assign(actor=user, case=case, assignee=assignee)
        return _("已指定承办人。")
    if action == "transfer":
        services.case_transfer(
            actor=user,
            case=case,
            reason=post.get("reason", ""),
            category=_category_from(request),
            department=_department_from(request),
        )
        return _("已转办。")
    if action == "note":
        services.case_note(
            actor=user, case=case, text=post.get("text", ""), public=post.get("public") == "on"
        )
        return _("备注已保存。")
    if action == "reply":
        # No default: whether the reply resolves the matter decides whether the sender is asked
        # to rate it (and a satisfied rating closes the case), so the handler must say.
        outcome = post.get("resolved", "")
        services.case_reply(
            actor=user,
            case=case,
            text=post.get("text", ""),
            public=post.get("public") == "on",
            resolved={"yes": True, "no": False}.get(outcome),
        )
        if outcome == "no":
            return _("进展答复已发送；事项办完后，请再答复来信人。")
        return _("答复已发送，来信人会收到通知并评价。")
    if action == "close":
        services.case_close(actor=user, case=case, note=post.get("note", ""))
        return _("已办结。")
    if action == "extend_request":
        days = post.get("days", "")
        services.case_extension_request(
            actor=user,
            case=case,
            days=int(days) if days.isdigit() else 0,
            reason=post.get("reason", ""),
        )
        return _("延期申请已提交。")
    if action == "extend_decide":
        approve = post.get("decision") == "approve"
        services.case_extension_decide(
            actor=user, case=case, approve=approve, note=post.get("note", "")
        )
        return _("已批准延期。") if approve else _("已驳回延期。")
    if action == "merge":
        into = selectors.case_find(post.get("into", "").strip())
        if into is None:
            raise ValidationFailed.on("into", _("没有这个受理编号。"))
        services.case_merge(actor=user, case=case, into=into, reason=post.get("reason", ""))
        return _("已合并到 %(into)s。") % {"into": into.tracking_number}
    raise NotFound(_("未知操作。"))


# The staff actions' controls by the field a service names in its errors, and the control a
# problem of the action as a whole is shown at (the first of each list): every problem links to a
# control of the form it came from.
ACTION_CONTROLS: dict[str, dict[str, str]] = {
    "triage": {"category": "triage-category", "department": "triage-department"},
    "reply": {"text": "reply-text", "resolved": "reply-resolved", "public": "reply-public"},
    "assign": {"assignee": "assign-user"},
    "transfer": {
        "department": "transfer-department",
        "category": "transfer-category",
        "reason": "transfer-reason",
    },
    "extend_request": {"days": "ext-days", "reason": "ext-reason"},
    "extend_decide": {"decision": "dec-decision", "note": "dec-note"},
    "merge": {"into": "merge-into", "reason": "merge-reason"},
    "note": {"text": "note-text", "public": "note-public"},
    "close": {"note": "close-note"},
}


def _action_errors(action: str, exc: DomainError) -> dict[str, list[str]]:
    """A refused action's problems by the id of the control each is about."""
    controls = ACTION_CONTROLS.get(action, {})
    first = next(iter(controls.values()), "")
    found: dict[str, list[str]] = {}
    for name, messages_ in (exc.errors or {"": [exc.message]}).items():
        found.setdefault(controls.get(name.split(".")[0], first), []).extend(map(str, messages_))
    return found


@login_required
@require_POST
@domain_errors_as_http
def case_action(request: HttpRequest, tracking_number: str, action: str) -> HttpResponse:
    user = request_user(request)
    case = selectors.case_get(actor=user, tracking_number=tracking_number, purpose=PURPOSE)
    try:
        message = _perform(request, action, user, case)
    except (ValidationFailed, Conflict) as exc:
        # Each problem at its control; the message of the whole is said above them unless it
        # is one of theirs.
        fields = _action_errors(action, exc)
        request.session["casework_action_errors"] = {
            "action": action,
            "message": "" if any(str(exc.message) in m for m in fields.values()) else exc.message,
            "fields": fields,
            "at": next(iter(fields), ""),
            # What was typed comes back into the form: a refused reply loses nothing.
            "text": request.POST.get("text", "")[:8000],
        }
    else:
        messages.success(request, message)
    return HttpResponseRedirect(reverse("casework:case", args=[tracking_number]) + f"#{action}")


# Staff inbox and statistics ---------------------------------------------------------------------


@login_required
@domain_errors_as_http
def inbox(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    get = request.GET
    status = get.get("status", "open")
    if status not in {"open", "", *CaseStatus.values}:
        status = "open"
    filters = selectors.InboxFilter(
        status=status,
        kind=get.get("kind", "") if get.get("kind", "") in CaseKind.values else "",
        category=get.get("category", "")[:64],
        q=get.get("q", "").strip()[:100],
        due=get.get("due", "") if get.get("due", "") in {"overdue", "near"} else "",
        mine=get.get("mine") == "1",
    )
    page_number = page_number_from(request)
    page = selectors.case_inbox(
        actor=user, filters=filters, offset=(page_number - 1) * PER_PAGE, limit=PER_PAGE
    )
    now = timezone.now()
    rows = [(case, selectors.due_state(case, now)) for case in page.items]
    return render(
        request,
        "casework/inbox.html",
        {
            "rows": rows,
            "total": page.total,
            "filters": filters,
            "statuses": CaseStatus.choices,
            "kinds": CaseKind.choices,
            "categories": selectors.category_list(),
            "page_obj": page_links(total=page.total, per_page=PER_PAGE, number=page_number),
            "query": _query_without_page(request),
            "may_log_call": allowed(user, "casework.case.log_call"),
            "map_points": [p.as_json() for p in selectors.inbox_map_points(page.items)],
        },
    )


@login_required
@domain_errors_as_http
def log_call(request: HttpRequest) -> HttpResponse:
    """Staff log a phone call as a message on the caller's behalf."""
    user = request_user(request)
    form = forms.PhoneCallForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            result = _submit_form(
                data,
                actor=user,
                channel="phone",
                contact_name=data["contact_name"],
                contact_phone=data["contact_phone"],
            )
        except DomainError as exc:
            forms.add_domain_errors(form, exc)
        else:
            messages.success(
                request,
                _("已登记，受理编号 %(number)s，查询码 %(code)s（请告知来电人）。")
                % {"number": result.case.tracking_number, "code": result.access_code},
            )
            return HttpResponseRedirect(reverse("casework:inbox"))
    return render(request, "casework/log_call.html", {"form": form})


def _parse_day(value: str, default: dt.date) -> dt.date:
    try:
        return dt.date.fromisoformat(value) if value else default
    except ValueError:
        return default


def _bars(figures: list[Any], attribute: str) -> Chart:
    return bar_chart(
        [(localized_name(f, "label") or _("未分派"), getattr(f, attribute)) for f in figures]
    )


@login_required
@domain_errors_as_http
def statistics(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    today = timezone.localdate()
    since = _parse_day(request.GET.get("since", ""), today - dt.timedelta(days=90))
    until = _parse_day(request.GET.get("until", ""), today)
    group_by = request.GET.get("group_by", "department")
    period = request.GET.get("period", "week")
    group_by = group_by if group_by in {"department", "community"} else "department"
    period = period if period in {"week", "month"} else "week"
    stats = selectors.case_statistics(
        actor=user, since=since, until=until, group_by=group_by, period=period
    )
    if request.GET.get("format") == "csv":
        response = HttpResponse(
            selectors.statistics_csv(stats), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = (
            f'attachment; filename="casework-{since.isoformat()}-{until.isoformat()}.csv"'
        )
        return response
    query = request.GET.copy()
    query["format"] = "csv"
    group_bars = _bars(stats.groups[:15], "volume")
    # Time runs along x: one column per week or month, an empty one as a gap.
    period_columns = column_chart(
        [(p.label, p.volume) for p in stats.periods[-26:]],
        unit=pgettext("count of messages", "件"),
    )
    return render(
        request,
        "casework/statistics.html",
        {
            "stats": stats,
            "group_chart": group_bars,
            "period_chart": period_columns,
            "csv_query": query.urlencode(),
        },
    )


# Public board ----------------------------------------------------------------------------------


def board(request: HttpRequest) -> HttpResponse:
    share_publicly(request)  # a visitor's copy: the signed-in see their name in the header
    q = request.GET.get("q", "").strip()[:100]
    raw_department = request.GET.get("department", "")
    department_id = int(raw_department) if raw_department.isdigit() else None
    page_number = page_number_from(request)
    per_page = 20
    offset = (page_number - 1) * per_page

    def read() -> tuple[str, int, list[Organisation], list[dict[str, Any]]]:
        entries, total = selectors.board_list(
            q=q, department_id=department_id, offset=offset, limit=per_page
        )
        html = render_to_string("casework/_board_entries.html", {"entries": entries})
        points = [p.as_json() for p in selectors.board_map_points(entries)]
        return html, total, selectors.board_departments(), points

    if q:  # a search: the visitor's own words, not cached
        entries_html, total, departments, map_points = read()
    else:
        # The same for every visitor: the entries rendered once per change of the board (most
        # of the page's time), the rest of the page (who is signed in, the forms) per request.
        entries_html, total, departments, map_points = cached(
            selectors.BOARD_CACHE,
            ("page", department_id, offset, per_page, timezone.get_current_timezone_name()),
            read,
            selectors.BOARD_CACHE_SECONDS,
        )
    return render(
        request,
        "casework/board.html",
        {
            # Our own template's output, escaped when it was rendered.
            "entries_html": mark_safe(entries_html),  # noqa: S308  # nosec B308 B703
            "total": total,
            "q": q,
            "department_id": department_id,
            "departments": departments,
            "page_obj": page_links(total=total, per_page=per_page, number=page_number),
            "query": _query_without_page(request),
            "reply_kind": EventKind.REPLY,
            "map_points": map_points,
        },
    )


def map_areas(request: HttpRequest) -> HttpResponse:
    """The communities' areas as GeoJSON, in the base map's coordinate system: the offline
    base map and the outlines on every casework map. Public, like the board."""
    return JsonResponse(selectors.community_area_features())


@domain_errors_as_http
def photo(request: HttpRequest, tracking_number: str, pk: int) -> HttpResponseBase:
    """A case photo, for its sender and for staff who may see the case (never public)."""
    user = request_user_or_none(request)
    case = selectors.case_find(tracking_number)
    if case is None:
        raise NotFound(_("没有找到该照片。"))
    if user is not None and may(user, "casework.case.view", case):
        item = selectors.case_photo_get(actor=user, case=case, pk=pk)  # audited for staff
    elif _sender_case(request, tracking_number) is not None:
        found = selectors.case_photo_find(case, pk)  # the sender's own photo
        if found is None:
            raise NotFound(_("没有找到该照片。"))
        item = found
    else:
        raise NotFound(_("没有找到该照片。"))
    if item.state != PhotoState.READY:
        # A photo awaiting its re-encoding is the file as received, metadata and all.
        raise NotFound(_("该照片正在处理或无法读取。"))
    response = FileResponse(item.image.open("rb"), content_type=item.content_type)
    response["Cache-Control"] = "private, max-age=3600"
    return response
