"""The HTTP API at /api/: one NinjaAPI, one router per module (from the registry), one error
format (RFC 7807 problem+json), session and bearer-token authentication."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import Http404, HttpRequest, HttpResponse, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.security import HttpBearer, SessionAuth
from ninja.throttling import AuthRateThrottle

from civichub.core.bounds import bound_api_inputs
from civichub.core.errors import DomainError
from civichub.core.outages import RETRY_AFTER_SECONDS, is_outage
from civichub.core.problems import (
    content_too_large_message,
    domain_problem,
    problem,
    with_problem_responses,
)
from civichub.core.registry import modules
from civichub.core.services import api_token_authenticate

logger = logging.getLogger("civichub.api")


class TokenAuth(HttpBearer):
    openapi_scheme = "bearer"

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = api_token_authenticate(token)
        if user is not None:
            request.user = user
        return user


class WindowRateThrottle(AuthRateThrottle):
    """Ninja's AuthRateThrottle keeps the time of each of a client's requests in the last period
    in one cache entry that every request reads and writes whole: for a busy client, or the
    many anonymous visitors behind one address, a list of thousands and two round trips. This
    counts a client's requests in fixed windows of the period instead, one atomic increment per
    request. Across a window's edge a client can get up to twice the rate: the limit is a guard
    against floods, not a quota."""

    def allow_request(self, request: HttpRequest) -> bool:
        key = self.get_cache_key(request)
        if key is None or not self.num_requests or not self.duration:
            return True
        self.now = self.clock()
        window = int(self.now // self.duration)
        self.window_end = (window + 1) * self.duration
        key = f"{key}:{window}"
        try:
            count = self.cache.incr(key)
        except ValueError:  # the window's first request
            self.cache.add(key, 0, self.duration + 1)
            count = self.cache.incr(key)
        return int(count) <= self.num_requests

    def wait(self) -> float | None:
        return max(self.window_end - self.now, 0.0)

    def clock(self) -> float:
        return time.time()


_LOCATION_PARTS = {"body", "payload", "query", "path", "header", "cookie", "form", "file"}


def _pydantic_errors(exc: ValidationError) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        location = [str(p) for p in error.get("loc", ()) if p not in _LOCATION_PARTS]
        key = ".".join(location) or "request"
        errors.setdefault(key, []).append(str(error.get("msg", "invalid")))
    return errors


class BodyNotAnObject(ValueError):
    """A JSON body that is not an object, where every operation's body is one."""


class ObjectBodyParser(Parser):
    """Refuses a JSON body that is not an object, once for every operation. Ninja's schemas
    read their fields as attributes of whatever they are given (`from_attributes`, for model
    instances), so `false`, `3.1e16`, `null` or `[null, null]` would otherwise pass as an
    object with every field at its default: a withdrawal or a closing nobody asked for."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        data = super().parse_body(request)
        if not isinstance(data, dict):
            raise BodyNotAnObject(type(data).__name__)
        return data


class CivicNinjaAPI(NinjaAPI):
    """Adds the problem responses every operation can give to the generated schema, so that
    responses can be checked against the document for errors as well as for success."""

    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        return with_problem_responses(super().get_openapi_schema(*args, **kwargs))


api = CivicNinjaAPI(
    title="civichub API",
    version="1",
    description=(
        "The civichub platform API. Errors use RFC 7807 (application/problem+json). "
        "Authenticate with a session cookie (and the CSRF token) or "
        "`Authorization: Bearer <token>`."
    ),
    urls_namespace="api",
    auth=[TokenAuth(), SessionAuth(csrf=True)],
    parser=ObjectBodyParser(),
    throttle=[WindowRateThrottle("6000/m")],
)


@api.exception_handler(DomainError)
def _domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return domain_problem(request, exc)


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return problem(
        request,
        status=422,
        code="validation_failed",
        title="Validation failed",
        detail=_("请求内容有误，详见 errors。"),
        errors=_pydantic_errors(exc),
    )


@api.exception_handler(AuthenticationError)
def _authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return problem(
        request,
        status=401,
        code="not_authenticated",
        title="Authentication required",
        detail=_(
            "请先登录，或发送有效的 Bearer 令牌；"
            "使用 Cookie 会话时，写操作须带 X-CSRFToken 请求头。"
        ),
    )


@api.exception_handler(AuthorizationError)
def _authorization_error(request: HttpRequest, exc: AuthorizationError) -> HttpResponse:
    return problem(
        request,
        status=403,
        code="permission_denied",
        title="Permission denied",
        detail=str(exc) or _("不允许执行此操作。"),
    )


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, BodyNotAnObject):
        # Ninja answers any parser error with 400 "Cannot parse request body"; this body was
        # valid JSON of the wrong type, which is a validation failure like a wrong field.
        return problem(
            request,
            status=422,
            code="validation_failed",
            title="Validation failed",
            detail=_("请求内容有误，详见 errors。"),
            errors={"request": [_("请求内容须为 JSON 对象。")]},
        )
    return problem(
        request,
        status=exc.status_code,
        code=f"http_{exc.status_code}",
        title=str(exc) or "Error",
        detail=str(exc),
    )


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return problem(
        request,
        status=404,
        code="not_found",
        title="Not found",
        detail=str(exc) or _("没有这个资源。"),
    )


@api.exception_handler(RequestDataTooBig)
def _content_too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    limit = int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    return problem(
        request,
        status=413,
        code="content_too_large",
        title="Content too large",
        detail=content_too_large_message(),
        max_bytes=limit,
    )


@api.exception_handler(MultiPartParserError)
@api.exception_handler(UnreadablePostError)
@api.exception_handler(SuspiciousOperation)
def _unreadable_body(request: HttpRequest, exc: Exception) -> HttpResponse:
    # A multipart body without its boundary, a body cut short, too many fields: the client's
    # request cannot be read, which is its error, not the server's.
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        detail = _("请求的字段太多。")
    else:
        detail = _("无法读取请求内容；上传文件须为带 boundary 的 multipart/form-data。")
    return problem(request, status=400, code="bad_request", title="Bad request", detail=detail)


@api.exception_handler(Exception)
def _server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    # Never a stack trace to a client: log it with the request id, answer with the id only.
    request_id = request.headers.get("X-Request-ID", "")
    if is_outage(exc):
        # The database or Redis is unreachable: a clear 503 that says to retry, not a fault.
        logger.warning("service unavailable on %s %s: %s", request.method, request.path, exc)
        response = problem(
            request,
            status=503,
            code="service_unavailable",
            title="Service unavailable",
            detail=_("数据库或缓存暂时无法连接，请稍后再试。"),
            request_id=request_id,
        )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    logger.exception("unhandled API error on %s %s", request.method, request.path)
    return problem(
        request,
        status=500,
        code="server_error",
        title="Internal error",
        detail=_("服务器出错了，已记录，请稍后再试。"),
        request_id=request_id,
    )


def _mount_module_routers() -> None:
    for config, manifest in modules():
        if manifest.api_router:
            router = import_string(manifest.api_router.replace(":", "."))
            api.add_router(manifest.api_prefix or f"/{config.label}/", router)


_mount_module_routers()
bound_api_inputs(api)
