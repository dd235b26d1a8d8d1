"""Test and benchmark helpers: a small city built through the services."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count
from typing import Any

from civichub.core import services
from civichub.core.models import Organisation, User

_seq = count(1)


@dataclass
class SmallCity:
    city: Organisation
    district_a: Organisation
    district_b: Organisation
    subdistrict_a: Organisation
    subdistrict_b: Organisation
    community_a1: Organisation
    community_a2: Organisation
    community_b1: Organisation
    health_a: Organisation
    police_city: Organisation
    all: dict[str, Organisation] = field(default_factory=dict)


def build_city() -> SmallCity:
    create = services.organisation_create
    city = create(actor=None, kind="city", name="青山市", name_en="Qingshan", code="T1")
    da = create(
        actor=None, kind="district", name="东湖区", name_en="Donghu", code="T1.1", parent=city
    )
    db = create(
        actor=None, kind="district", name="西岭区", name_en="Xiling", code="T1.2", parent=city
    )
    sa = create(
        actor=None, kind="subdistrict", name="桃园街道", name_en="Taoyuan", code="T1.1.1", parent=da
    )
    sb = create(
        actor=None, kind="subdistrict", name="松林街道", name_en="Songlin", code="T1.2.1", parent=db
    )
    ca1 = create(
        actor=None,
        kind="community",
        name="桃源社区",
        name_en="Taoyuan Community",
        code="T1.1.1.1",
        parent=sa,
    )
    ca2 = create(
        actor=None,
        kind="community",
        name="杏花社区",
        name_en="Xinghua Community",
        code="T1.1.1.2",
        parent=sa,
    )
    cb1 = create(
        actor=None,
        kind="community",
        name="松风社区",
        name_en="Songfeng Community",
        code="T1.2.1.1",
        parent=sb,
    )
    health = create(
        actor=None,
        kind="department",
        name="东湖区卫生健康委员会",
        name_en="Donghu Health Commission",
        code="T1.1.D1",
        parent=da,
        function="health",
    )
    police = create(
        actor=None,
        kind="department",
        name="青山市公安局",
        name_en="Qingshan Public Security Bureau",
        code="T1.D1",
        parent=city,
        function="public_security",
    )
    result = SmallCity(city, da, db, sa, sb, ca1, ca2, cb1, health, police)
    result.all = {o.code: o for o in (city, da, db, sa, sb, ca1, ca2, cb1, health, police)}
    return result


def staff_user(
    role: str | None,
    organisation: Organisation | None,
    *,
    username: str | None = None,
    password: str = "correct horse battery 9",
    **extra: object,
) -> User:
    user = services.user_create(
        actor=None,
        username=username or f"user{next(_seq)}",
        password=password,
        validate=False,
        **extra,  # type: ignore[arg-type]
    )
    if role and organisation is not None:
        services.role_grant(actor=None, user=user, role=role, organisation=organisation)
    return user


class ContractClient:
    """A Django test client for /api/ that checks every response against the committed OpenAPI
    document (docs/openapi.json), errors included."""

    def __init__(self, *, user: User | None = None, token: str | None = None) -> None:
        from django.test import Client

        self.client = Client(enforce_csrf_checks=token is None and user is not None)
        self.headers: dict[str, str] = {}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        if user is not None and token is None:
            self.client.force_login(user)

    def request(
        self, method: str, path: str, json_body: object | None = None, **params: object
    ) -> Any:
        import json

        from django.middleware.csrf import get_token
        from django.test import RequestFactory

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


_contract: Any = None


def check_against_contract(request: Any, response: Any) -> None:
    global _contract
    import json
    from pathlib import Path

    from django.conf import settings
    from openapi_core import Config, OpenAPI
    from openapi_core.contrib.django import DjangoOpenAPIRequest, DjangoOpenAPIResponse

    if _contract is None:
        document = Path(settings.BASE_DIR).parent / "docs" / "openapi.json"
        config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
        _contract = OpenAPI.from_dict(json.loads(document.read_text()), config=config)
    _contract.validate_response(DjangoOpenAPIRequest(request), DjangoOpenAPIResponse(response))
