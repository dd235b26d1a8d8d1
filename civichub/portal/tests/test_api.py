"""The portal API: the public catalogue, search and exports; applying with consent; each
answer checked against the committed OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest

from civichub.portal.models import Service
from civichub.portal.tests.conftest import Portal

pytestmark = pytest.mark.django_db


def test_anyone_reads_the_catalogue_a_guide_and_searches(portal: Portal, api_as: Any) -> None:
    client = api_as()
    listed = client.get("/api/portal/services").json()
    assert len(listed) == Service.objects.count()
    code = next(s["code"] for s in listed if s["name"] == "居住证申领")
    guide = client.get(f"/api/portal/services/{code}").json()
    assert guide["guide"]["legal_limit_days"] == 15 and guide["version"] == 1
    found = client.get("/api/portal/search", q="juzhuzheng").json()
    assert found["services"][0]["code"] == code
    assert client.get(f"/api/portal/services/{code}/jsonld").json()["@type"] == "GovernmentService"
    assert client.get("/api/portal/services/NOPE").status_code == 404


def test_a_resident_applies_with_consent_and_lists_their_applications(
    portal: Portal, api_as: Any
) -> None:
    client = api_as(portal.applicant)
    facts = {f["key"]: f for f in client.get("/api/portal/prefill").json()}
    assert facts["name"]["value"] == "王小梅" and facts["name"]["source"] == "registry"
    code = Service.objects.get(published__name="户籍证明开具").code
    created = client.post(
        "/api/portal/applications", json_body={"service": code, "consent": True, "answers": {}}
    )
    assert created.status_code == 201, created.content.decode()
    body = created.json()
    assert body["answers"]["name"]["source"] == "registry" and body["status"] == "submitted"
    assert [a["reference"] for a in client.get("/api/portal/applications").json()] == [
        body["reference"]
    ]
    refused = client.post("/api/portal/applications", json_body={"service": code, "consent": False})
    assert refused.status_code == 422 and refused.json()["errors"]["name"]
    assert api_as().get("/api/portal/applications").status_code == 401
