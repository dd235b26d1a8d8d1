"""The one error format of civichub's API: RFC 7807 problem details (application/problem+json).
The API's exception handlers and the error pages Django raises under /api/ both answer with
`problem`, and the OpenAPI document declares the same shape for every operation."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja.renderers import JSONRenderer

from civichub.core.errors import DomainError

PROBLEM_TYPE_BASE = "https://civichub.invalid/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 7807 problem details.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "object",
            "description": "Per-field messages.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "additionalProperties": True,
}
# The problems every operation can answer with, and their (English, machine-facing) titles.
PROBLEM_STATUSES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Permission denied",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    422: "Validation failed",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}

_renderer = JSONRenderer()


def problem(
    request: HttpRequest,
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    errors: dict[str, list[str]] | None = None,
    **extra: Any,
) -> HttpResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
    }
    if errors:
        body["errors"] = errors
    body.update(extra)
    content = _renderer.render(request, body, response_status=status)
    return HttpResponse(content, status=status, content_type=PROBLEM_CONTENT_TYPE)


def content_too_large_message() -> str:
    """The refusal of a body over Django's limit, naming the limit: the API and pages alike."""
    limit = int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    return _("请求内容超过 %(limit)s 字节（%(megabytes)s MB）的上限。") % {
        "limit": limit,
        "megabytes": f"{limit / 1024 / 1024:g}",
    }


def domain_problem(request: HttpRequest, exc: DomainError) -> HttpResponse:
    """A typed domain error as a problem: its status, code and title, its message and fields."""
    return problem(
        request,
        status=exc.status,
        code=exc.code,
        title=exc.title,
        detail=exc.message,
        errors=exc.errors or None,
    )


def with_problem_responses(schema: dict[str, Any]) -> dict[str, Any]:
    """Adds the problem responses every operation can give to an OpenAPI document, so that
    responses can be checked against the document for errors as well as for success."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    reference = {"$ref": "#/components/schemas/Problem"}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in PROBLEM_STATUSES.items():
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {PROBLEM_CONTENT_TYPE: {"schema": reference}},
                    },
                )
    return schema
