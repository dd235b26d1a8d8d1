"""Core pages: thin, calling the same selectors and services as the API."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.views import LoginView, PasswordChangeView
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.html import format_html
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.i18n import set_language

from civichub.core import registry, selectors, services
from civichub.core.errors import DomainError, NotAuthenticated, NotFound
from civichub.core.errors import PermissionDenied as DomainPermissionDenied
from civichub.core.http import request_user, request_user_or_none
from civichub.core.models import Organisation, User
from civichub.core.outages import RETRY_AFTER_SECONDS, is_outage
from civichub.core.paging import page_links
from civichub.core.permissions import allowed, role_paths
from civichub.core.problems import PROBLEM_STATUSES, content_too_large_message, problem

# Purposes written to the append-only audit log: fixed Chinese wording, deliberately not
# translated, so the same read is recorded the same way whatever language the reader uses.
RESIDENT_LIST_PURPOSE = "居民名册查询"
RESIDENT_VIEW_PURPOSE = "查看居民档案"


class CivicLoginView(LoginView):
    template_name = "core/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self) -> str:
        """Staff land on their workbench; a resident, whose menu has no workbench, on the front
        door (`/`, the public home page a module offers) unless the sign-in named a page."""
        user = request_user_or_none(self.request)
        if not self.next_page and user is not None and not _is_staff(user):
            return reverse("core:home")
        return str(super().get_default_redirect_url())


class CivicPasswordChangeView(PasswordChangeView):
    """Django's form for the fields and messages; the change itself goes through the service so
    that it is validated and audited like any other change."""

    template_name = "core/password_change.html"

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        user = request_user(self.request)
        try:
            services.user_set_password(
                actor=user,
                user=user,
                old_password=form.cleaned_data["old_password"],
                new_password=form.cleaned_data["new_password1"],
            )
        except DomainError as exc:
            for field, messages in exc.errors.items():
                target = "new_password1" if field == "new_password" else field
                for message in messages:
                    form.add_error(target if target in form.fields else None, message)
            return self.form_invalid(form)
        update_session_auth_hash(self.request, user)
        return HttpResponseRedirect(self.get_success_url())


def page_number_from(request: HttpRequest) -> int:
    raw = request.GET.get("page", "1")
    return min(int(raw), 1_000_000) if raw.isdigit() and int(raw) > 0 else 1


def domain_errors_as_http(func: Any) -> Any:
    """Pages turn domain errors into the right HTTP answer: 403 and 404 pages."""

    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            response: HttpResponse = func(request, *args, **kwargs)
            return response
        except (DomainPermissionDenied, NotAuthenticated) as exc:
            raise DjangoPermissionDenied(exc.message) from exc
        except NotFound as exc:
            return render(request, "core/error.html", {"message": exc.message}, status=404)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


def home(request: HttpRequest) -> HttpResponse:
    """`/`: staff get their workbench; visitors and residents get the public home page a module
    offers (the portal), or the sign-in page where no module offers one."""
    user = request_user_or_none(request)
    public = None if user is not None and _is_staff(user) else registry.public_home()
    if public is not None:
        response: HttpResponse = public(request)
        return response
    return login_required(dashboard)(request)


def _is_staff(user: User) -> bool:
    return user.is_staff or bool(role_paths(user))


@login_required
@domain_errors_as_http
def dashboard(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    tiles = []
    for tile in registry.tiles():
        if not allowed(user, tile.action):
            continue
        try:
            url = reverse(tile.url_name)
        except NoReverseMatch:
            url = ""
        tiles.append({"label": tile.label, "url": url, "value": tile.figure(user)})
    roles = selectors.user_roles(user=user)
    role_labels = registry.all_roles()
    return render(
        request,
        "core/dashboard.html",
        {
            "tiles": tiles,
            # One line per role and organisation, however many assignments give it.
            "roles": _role_lines(roles, role_labels),
        },
    )


def _role_lines(
    roles: list[tuple[str, Organisation]], labels: dict[str, registry.RoleDef]
) -> list[tuple[str, Organisation]]:
    """(label, organisation) once each: two roles of the same name at the same organisation
    (core's publisher and a module's) read as one."""
    lines: dict[tuple[str, int], tuple[str, Organisation]] = {}
    for role, org in roles:
        label = str(labels[role].label) if role in labels else role
        lines.setdefault((label, org.pk), (label, org))
    return list(lines.values())


@login_required
@domain_errors_as_http
def resident_list(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    query = request.GET.get("q", "").strip()[:50]
    page_number = page_number_from(request)
    per_page = 25
    page = selectors.resident_list(
        actor=user,
        purpose=RESIDENT_LIST_PURPOSE,
        query=query,
        offset=(page_number - 1) * per_page,
        limit=per_page,
    )
    return render(
        request,
        "core/resident_list.html",
        {
            "residents": page.items,
            "total": page.total,
            "query": query,
            "page_obj": page_links(total=page.total, per_page=per_page, number=page_number),
        },
    )


@login_required
@domain_errors_as_http
def resident_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = request_user(request)
    resident = selectors.resident_get(actor=user, pk=pk, purpose=RESIDENT_VIEW_PURPOSE)
    identity = None
    errors: dict[str, list[str]] = {}
    if request.method == "POST" and allowed(user, "core.resident.view_identity", resident):
        purpose = request.POST.get("purpose", "")
        try:
            identity = selectors.resident_identity_reveal(
                actor=user, resident=resident, purpose=purpose
            )
        except DomainError as exc:
            errors = {"purpose": [exc.message]}
    return render(
        request,
        "core/resident_detail.html",
        {
            "resident": resident,
            "identity": identity,
            "errors": errors,
            "may_reveal": allowed(user, "core.resident.view_identity", resident),
        },
    )


def _parse_day(value: str) -> dt.date | None:
    try:
        return parse_date(value) if value else None
    except ValueError:
        return None


@login_required
@domain_errors_as_http
def audit_log(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    since_day = _parse_day(request.GET.get("since", ""))
    until_day = _parse_day(request.GET.get("until", ""))
    tz = timezone.get_current_timezone()
    filters = selectors.AuditFilter(
        actor=request.GET.get("actor", "").strip()[:150],
        action=request.GET.get("action", "").strip()[:64],
        object_type=request.GET.get("object_type", "").strip()[:64],
        object_id=request.GET.get("object_id", "").strip()[:64],
        since=dt.datetime.combine(since_day, dt.time.min, tz) if since_day else None,
        until=(
            dt.datetime.combine(until_day, dt.time.min, tz) + dt.timedelta(days=1)
            if until_day
            else None
        ),
    )
    page_number = page_number_from(request)
    per_page = 50
    events, total = selectors.audit_search(
        actor=user, filters=filters, offset=(page_number - 1) * per_page, limit=per_page
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "core/audit_log.html",
        {
            "events": events,
            "total": total,
            "filters": request.GET,
            "page_obj": page_links(total=total, per_page=per_page, number=page_number),
            "query": query.urlencode(),
            "actions": sorted(
                (code, str(label)) for code, label in registry.audit_action_labels().items()
            ),
        },
    )


def error_response(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    """Errors Django raises before or around a view: an API client gets a problem document, a
    standard's client its own error format (module error renderers), a person an HTML page."""
    # A standard's own prefix (Mastodon's /api/v1/) wins over civichub's API under /api/.
    renderer = registry.error_renderer_for(request.path)
    if renderer:
        response: HttpResponse = import_string(renderer.replace(":", "."))(request, status, message)
        return response
    if request.path.startswith("/api/"):
        # A problem's title is machine-facing (like an HTTP reason phrase): English, as for
        # every other API error; the detail is in the reader's language.
        return problem(
            request,
            status=status,
            code=f"http_{status}",
            title=PROBLEM_STATUSES.get(status, title),
            detail=message,
        )
    return render(request, "core/error.html", {"title": title, "message": message}, status=status)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = str(exception) if exception else ""
    return error_response(request, 403, _("无权访问"), message or _("您没有权限查看此页面。"))


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):
        return error_response(request, 413, _("请求内容过大"), content_too_large_message())
    return error_response(request, 400, _("请求有误"), _("请求无法处理，请检查后重试。"))


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_response(request, 404, _("页面不存在"), _("您访问的页面不存在。"))


def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls this inside its `except`: the exception in hand tells an outage of the
    # database or Redis (503, try again shortly) from a fault (500).
    if is_outage(sys.exc_info()[1]):
        return service_unavailable(request)
    return error_response(request, 500, _("服务器出错"), _("服务器出错了，已记录，请稍后再试。"))


def service_unavailable(request: HttpRequest) -> HttpResponse:
    """The database or Redis is unreachable: 503 with Retry-After, in the client's format. The
    page is plain HTML, since the site's templates read the session and the account from the
    database that is down."""
    title, message = _("服务暂时不可用"), _("数据库或缓存暂时无法连接，请稍后再试。")
    if registry.error_renderer_for(request.path) or request.path.startswith("/api/"):
        response = error_response(request, 503, title, message)
    else:
        response = HttpResponse(
            format_html(
                '<!doctype html><html lang="zh-Hans"><meta charset="utf-8"><title>{}</title>'
                "<h1>{}</h1><p>{}</p></html>",
                title,
                title,
                message,
            ),
            status=503,
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


@csrf_exempt
def language_switch(request: HttpRequest) -> HttpResponse:
    """Django's language switch (cookie, works without JavaScript); a signed-in user's choice is
    also kept on the account, so notifications arrive in the same language.

    A visitor's switch needs no form token: the pages nginx's micro-cache shares among visitors
    carry none (a token is one browser's), and a forged switch could only change the display
    language of a browser that is not signed in. A signed-in user's switch changes the account
    and keeps the CSRF check."""
    if request_user_or_none(request) is None:
        return set_language(request)
    return _account_language_switch(request)


@csrf_protect
def _account_language_switch(request: HttpRequest) -> HttpResponse:
    response = set_language(request)
    language = request.POST.get("language", "")
    user = request_user_or_none(request)
    if (
        request.method == "POST"
        and user is not None
        and language in {"zh-hans", "en"}
        and user.language != language
    ):
        services.user_set_language(actor=user, language=language)
    return response
