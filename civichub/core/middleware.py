from __future__ import annotations

import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from civichub.core.context import acting


class RequestContextMiddleware:
    """Sets the acting context (client address, request id) for the audit log."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request.headers.get("X-Request-ID", "")[:36] or str(uuid.uuid4())
        channel = "api" if request.path.startswith("/api/") else "web"
        if request.path.startswith("/admin/"):
            channel = "admin"
        with acting(
            ip_address=request.META.get("REMOTE_ADDR"), channel=channel, request_id=request_id
        ):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response
