from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from http import HTTPStatus
from pathlib import Path
from typing import cast

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.exceptions import MiddlewareNotUsed
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.html import format_html
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from civichub.core.context import acting
from civichub.core.counters import request_observed
from civichub.core.demo.status import MIGRATING, READY, SEEDING, status_read
from civichub.core.http import client_address, shared_cache_seconds
from civichub.core.views import error_response


class RequestContextMiddleware:
    """Sets the acting context (client address, request id) for the audit log."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request.headers.get("X-Request-ID", "")[:36] or str(uuid.uuid4())
        channel = "api" if request.path.startswith("/api/") else "web"
        if request.path.startswith("/admin/"):
            channel = "admin"
        with acting(ip_address=client_address(request), channel=channel, request_id=request_id):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class SharedCacheMiddleware:
    """Marks the answer of a page that asked to be shared (`core.http.share_publicly`) with
    `X-Accel-Expires`, the header by which nginx's micro-cache keeps it (`docs/nginx.conf`:
    nothing is cached without it, and nginx does not pass it on to the client). Refused for
    anything personal: a request that is signed in or carries a session, a bearer token or
    pending messages; an answer other than 200, one that sets a cookie (a new session, a form
    token) or one marked private or not to be stored. Listed before the session, CSRF and
    message middleware so that it sees the cookies they set."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        seconds = shared_cache_seconds(request)
        if seconds > 0 and self._anonymous(request) and self._impersonal(response):
            response["X-Accel-Expires"] = str(seconds)
        else:
            # An answer is never shared unless this says so, whatever a view wrote.
            del response["X-Accel-Expires"]
        return response

    @staticmethod
    def _anonymous(request: HttpRequest) -> bool:
        if request.method not in ("GET", "HEAD") or "HTTP_AUTHORIZATION" in request.META:
            return False
        personal_cookies = {settings.SESSION_COOKIE_NAME, CookieStorage.cookie_name}
        if personal_cookies & set(request.COOKIES):
            return False
        user = getattr(request, "user", None)
        return user is None or not user.is_authenticated

    @staticmethod
    def _impersonal(response: HttpResponseBase) -> bool:
        control = response.get("Cache-Control", "").lower()
        return (
            response.status_code == 200
            and not response.cookies
            and not response.has_header("Set-Cookie")
            and not any(word in control for word in ("private", "no-store", "no-cache"))
        )


class RequestMetricsMiddleware:
    """Counts every response by route and status, with the time taken (`core.metrics`)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        response = self.get_response(request)
        request_observed(request, response.status_code, time.perf_counter() - started)
        return response


class ApiErrorMiddleware:
    """An error under /api/ is always JSON: a problem document, or a standard's own format
    under its prefix (Mastodon's /api/v1/). Exception handlers and Django's error views already
    answer so; this catches the answers no exception made, such as the router's 405 for a
    method a path does not have (which Ninja writes as text/html), keeping their headers."""

    KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if (
            not request.path.startswith("/api/")
            or response.status_code < 400
            or "json" in response.get("Content-Type", "")
        ):
            return response
        status = response.status_code
        replacement = error_response(request, status, _title(status), _message(request, status))
        for header in self.KEPT_HEADERS:
            if header in response:
                replacement[header] = response[header]
        return replacement


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _message(request: HttpRequest, status: int) -> str:
    if status == 405:
        return _("此地址不支持 %(method)s 请求；可用的方法见 Allow 响应头。") % {
            "method": request.method
        }
    if status == 404:
        return _("您访问的页面不存在。")
    return _("请求无法处理，请检查后重试。")


class AsyncFileResponseMiddleware:
    """Under ASGI, hands file responses (static files served by WhiteNoise, which has no async
    support) to the server as an asynchronous iterator, read in a worker thread. Otherwise Django
    reads them in the event loop's thread and warns on every static file."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if (
            isinstance(request, ASGIRequest)
            and isinstance(response, StreamingHttpResponse)
            and not response.is_async
        ):
            content = cast(Iterator[bytes], response.streaming_content)
            response.streaming_content = _in_thread(iter(content))
        return response


def _next_chunk(chunks: Iterator[bytes]) -> bytes | None:
    return next(chunks, None)


async def _in_thread(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    read = sync_to_async(_next_chunk, thread_sensitive=False)
    while (chunk := await read(chunks)) is not None:
        yield chunk


class DemoSeedingMiddleware:
    """While `civichub demo` writes the demo data in the background, every page answers
    "演示数据正在生成…" with the progress and reloads itself, and the API answers 503 with
    Retry-After, instead of pages over half a city. Only in the demo: without
    DEMO_STATUS_FILE (`CIVICHUB_DEMO_STATUS_FILE`) the middleware removes itself."""

    PASSING = ("/healthz", "/metrics", "/static/")
    REFRESH_SECONDS = 2

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        path = getattr(settings, "DEMO_STATUS_FILE", None)
        if not path:
            raise MiddlewareNotUsed
        self.status_file = Path(path)
        self.ready = False
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if self.ready or request.path.startswith(self.PASSING):
            return self.get_response(request)
        status = status_read(self.status_file)
        if status is None or status.state == READY:
            self.ready = True  # the demo data is complete; it does not go back
            return self.get_response(request)
        seeding = status.state == SEEDING
        if request.path.startswith("/api/"):
            response = JsonResponse(
                {
                    "status": HTTPStatus.SERVICE_UNAVAILABLE,
                    "title": _("演示数据正在生成…") if seeding else _("演示数据生成失败"),
                    "detail": f"{status.done}/{status.total}",
                },
                status=HTTPStatus.SERVICE_UNAVAILABLE,
                content_type="application/problem+json",
            )
            response["Retry-After"] = str(self.REFRESH_SECONDS)
            return response
        return HttpResponse(self._page(status.done, status.total, status.phase, seeding))

    def _page(self, done: int, total: int, phase: str, seeding: bool) -> str:
        if phase == MIGRATING:
            phase = _("正在准备数据库（此版本第一次运行，约需一分钟）")
        title = _("演示数据正在生成…") if seeding else _("演示数据生成失败")
        detail = (
            _(
                "正在生成演示城市的数据，页面会自动刷新；演示账号已经印在终端里，生成完成后即可登录。"
            )
            if seeding
            else _("生成演示数据时出错，请查看运行 civichub demo 的终端。")
        )
        refresh = (
            format_html('<meta http-equiv="refresh" content="{}">', self.REFRESH_SECONDS)
            if seeding
            else ""
        )
        return format_html(
            "<!doctype html>\n"
            '<html lang="{}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "{}<title>{} · civichub</title></head>"
            "<body><main><h1>{}</h1><p>{}</p>"
            '<p><progress max="{}" value="{}">{}/{}</progress> {}/{} {}</p>'
            "</main></body></html>",
            get_language() or "zh-hans",
            refresh,
            title,
            title,
            detail,
            total,
            done,
            done,
            total,
            done,
            total,
            phase,
        )
