"""Open data: a catalogue of non-personal datasets with DCAT fields, CSV/JSON downloads and an
API; aggregates (applications, the hub's population counts) never publish a cell below ten."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from civichub.core import registry
from civichub.core.errors import PermissionDenied, ValidationFailed
from civichub.core.models import AuditEvent
from civichub.portal import demo, opendata, selectors, services
from civichub.portal.models import Dataset, Service
from civichub.portal.tests.conftest import Portal
from civichub.testing.city import staff_user

pytestmark = pytest.mark.django_db


def _submit(portal: Portal, name: str, times: int) -> None:
    service = Service.objects.get(published__name=name)
    assert service.published is not None
    answers = {f["key"]: "x" for f in service.published.content.get("form", [])}
    for _ in range(times):
        pdf = SimpleUploadedFile("a.pdf", b"%PDF-1.4\n%x\n", content_type="application/pdf")
        services.application_submit(
            actor=portal.applicant, service=service, answers=answers, consent=True, materials=[pdf]
        )


def test_counts_below_ten_are_suppressed_and_larger_ones_published() -> None:
    table = opendata.Table(
        [opendata.Column("area", "area"), opendata.Column("n", "n", count=True)],
        [
            {"area": "a", "n": 9},
            {"area": "b", "n": 10},
            {"area": "c", "n": 0},
            {"area": "d", "n": 1},
        ],
    )
    published = opendata.suppress(table)
    assert [r["n"] for r in published.rows] == [None, 10, None, None]
    assert [r["area"] for r in published.rows] == ["a", "b", "c", "d"]  # labels stay


def test_application_counts_are_published_with_small_cells_suppressed(portal: Portal) -> None:
    demo.seed_datasets(portal.city.city)
    _submit(portal, "最低生活保障申请", 10)
    _submit(portal, "居住证申领", 3)
    client = Client()
    body = client.get("/services/data/online-applications.json").json()
    cells = {row["service_code"]: row["applications"] for row in body["rows"]}
    dibao = Service.objects.get(published__name="最低生活保障申请").code
    permit = Service.objects.get(published__name="居住证申领").code
    assert cells == {dibao: 10, permit: None} and body["suppressed_below"] == 10
    rows = list(csv.reader(io.StringIO(client.get("/services/data/online-applications.csv").text)))
    assert rows[0] == ["service_code", "month", "status", "applications"]
    assert sorted((r[0], r[3]) for r in rows[1:]) == sorted([(dibao, "10"), (permit, "")])
    assert "3" not in {r[3] for r in rows[1:]}


def test_the_hubs_population_counts_are_suppressed(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    counts = [
        {
            "community_code": "C1",
            "community": "桃源",
            "age_band": "18-39",
            "gender": "F",
            "persons": 42,
        },
        {
            "community_code": "C1",
            "community": "桃源",
            "age_band": "80+",
            "gender": "M",
            "persons": 2,
        },
    ]
    real = registry.provided
    monkeypatch.setattr(
        registry,
        "provided",
        lambda name: (lambda: counts) if name == "population_counts" else real(name),
    )
    demo.seed_datasets(portal.city.city)
    rows = Client().get("/api/portal/datasets/population-by-community/rows").json()["rows"]
    assert [r["persons"] for r in rows] == [42, None]


def test_the_catalogue_lists_published_datasets_with_dcat_fields(portal: Portal) -> None:
    demo.seed_datasets(portal.city.city)
    hidden = Dataset.objects.get(slug="service-catalogue")
    services.dataset_publish(actor=None, dataset=hidden, published=False)
    client = Client()
    listed = client.get("/api/portal/datasets").json()
    assert {d["slug"] for d in listed} == {"online-applications", "population-by-community"}
    assert client.get("/services/data/service-catalogue/").status_code == 404
    dcat = json.loads(client.get("/services/data/catalog.jsonld").content)
    dataset = next(d for d in dcat["dcat:dataset"] if d["dct:identifier"] == "online-applications")
    assert dataset["dct:license"].startswith("https://creativecommons.org/licenses/by/4.0")
    assert dataset["dct:accrualPeriodicity"]["@id"].endswith("/frequency/MONTHLY")
    assert {d["dcat:mediaType"] for d in dataset["dcat:distribution"]} == {
        "text/csv",
        "application/json",
    }
    page = client.get("/services/data/online-applications/")
    assert page.status_code == 200 and "application/ld+json" in page.content.decode()
    english = client.get("/services/data/", HTTP_ACCEPT_LANGUAGE="en")
    assert "Online applications" in english.content.decode()


def test_only_the_publishers_head_describes_and_publishes(portal: Portal, head: Any) -> None:
    civil = portal.departments["civil_affairs"]
    with pytest.raises(PermissionDenied):
        services.dataset_save(
            actor=portal.applicant, slug="x", title="X", publisher=civil, source="portal.services"
        )
    other = staff_user("department_head", portal.departments["health"])
    with pytest.raises(PermissionDenied):
        services.dataset_save(
            actor=other, slug="x", title="X", publisher=civil, source="portal.services"
        )
    with pytest.raises(ValidationFailed):
        services.dataset_save(
            actor=head, slug="x", title="X", publisher=civil, source="residents.names"
        )
    client = Client()
    client.force_login(head)
    response = client.put(
        "/api/portal/datasets/civil-services",
        data=json.dumps(
            {
                "slug": "civil-services",
                "title": "民政服务事项",
                "publisher": civil.code,
                "source": "portal.services",
                "published": True,
            }
        ),
        content_type="application/json",
    )
    assert response.status_code == 200 and response.json()["published"] is True
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"portal.dataset.create", "portal.dataset.publish"} <= actions


def test_published_datasets_are_found_in_their_own_group_until_withdrawn(portal: Portal) -> None:
    demo.seed_datasets(portal.city.city)
    found = selectors.service_search(text="人口")
    assert [(h.kind, h.title) for h in found.datasets] == [("dataset", "分社区人口登记人数")]
    assert found.datasets[0].url == "/services/data/population-by-community/"
    assert "<mark>人口</mark>" in str(found.datasets[0].summary)
    english = selectors.service_search(text="online applications", english=True)
    assert english.datasets[0].title_en == "Online applications"
    dataset = Dataset.objects.get(slug="population-by-community")
    services.dataset_publish(actor=None, dataset=dataset, published=False)
    assert selectors.service_search(text="人口").datasets == []
    services.dataset_save(
        actor=None,
        slug="population-by-community",
        title="分社区人口登记人数",
        publisher=dataset.publisher,
        source=dataset.source,
    )
    # described again but still withdrawn: not found; published again: found once
    assert selectors.service_search(text="人口").datasets == []
    services.dataset_publish(actor=None, dataset=dataset)
    assert len(selectors.service_search(text="人口").datasets) == 1
    page = Client().get("/services/", {"q": "人口"}).content.decode()
    assert "开放数据" in page and "/services/data/population-by-community/" in page
