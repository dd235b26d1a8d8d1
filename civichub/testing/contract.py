"""A test client for /api/ that checks every response against the committed OpenAPI document
(docs/openapi.json), errors included."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.middleware.csrf import get_token
from django.test import Client, RequestFactory
from openapi_core import Config, OpenAPI
from openapi_core.contrib.django import DjangoOpenAPIRequest, DjangoOpenAPIResponse

from civichub.core.models import User


class ContractClient:
    """A Django test client for /api/ that checks every response against the committed OpenAPI
    document (docs/openapi.json), errors included."""

    def __init__(self, *, user: User | None = None, token: str | None = None) -> None:
        self.client = Client(enforce_csrf_checks=token is None and user is not None)
        self.headers: dict[str, str] = {}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        if user is not None and token is None:
            self.client.force_login(user)

    def request(
        self, method: str, path: str, json_body: object | None = None, **params: object
    ) -> Any:
        headers = dict(self.headers)
        if method in {"POST", "PUT", "PATCH", "DELETE"} and "Authorization" not in headers:
            # A browser client sends the CSRF cookie and header; do the same.
            token = get_token(RequestFactory().get("/"))
            self.client.cookies["csrftoken"] = token
            headers["X-CSRFToken"] = token
        call = getattr(self.client, method.lower())
        if json_body is not None:
            response = call(
                path,
                data=json.dumps(json_body),
                content_type="application/json",
                headers=headers,
                query_params=params or None,
            )
        else:
            response = call(path, data=params or None, headers=headers)
        check_against_contract(response.wsgi_request, response)
        return response

    def get(self, path: str, **params: object) -> Any:
        return self.request("GET", path, **params)

    def post(self, path: str, json_body: object | None = None, **params: object) -> Any:
        return self.request("POST", path, json_body if json_body is not None else {}, **params)

    def patch(self, path: str, json_body: object) -> Any:
        return self.request("PATCH", path, json_body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)


@cache
def _contract() -> OpenAPI:
    document = Path(settings.BASE_DIR).parent / "docs" / "openapi.json"
    config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
    return OpenAPI.from_dict(json.loads(document.read_text()), config=config)


def check_against_contract(request: Any, response: Any) -> None:
    _contract().validate_response(DjangoOpenAPIRequest(request), DjangoOpenAPIResponse(response))
