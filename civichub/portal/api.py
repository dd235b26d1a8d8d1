"""The portal API: the public catalogue, search and its exports, verification, and the
resident's applications. Thin: parse, call a selector or service, shape the answer."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status

from civichub.core.http import client_address, request_user
from civichub.portal import opendata, selectors, services
from civichub.portal.models import Application, Dataset, Service
from civichub.portal.prefill import resident_facts

router = Router(tags=["portal"])


class ServiceOut(Schema):
    code: str
    kind: str
    name: str
    name_en: str
    department: str
    life_events: list[str]
    online_application: bool
    promised_limit_days: int
    visits: int
    fully_online: bool


def _service_out(service: Service) -> ServiceOut:
    version = service.published
    assert version is not None
    return ServiceOut(
        code=service.code,
        kind=service.kind,
        name=version.name,
        name_en=version.name_en,
        department=service.department.name,
        life_events=list(service.life_events),
        online_application=service.online_application,
        promised_limit_days=int(version.content.get("promised_limit_days", 0)),
        visits=int(version.content.get("visits", 0)),
        fully_online=bool(version.content.get("fully_online")),
    )


class ServiceFilter(Schema):
    event: str = ""


@router.get("/services", response=list[ServiceOut], auth=None, summary="The published catalogue")
def service_list(request: HttpRequest, filters: Query[ServiceFilter]) -> list[ServiceOut]:
    return [_service_out(s) for s in selectors.service_list(life_event=filters.event)]


class GuideOut(ServiceOut):
    guide: dict[str, Any]
    version: int
    published_at: dt.datetime | None


@router.get("/services/{code}", response=GuideOut, auth=None, summary="One service's guide")
def service_get(request: HttpRequest, code: str) -> GuideOut:
    service = selectors.service_get(code=code)
    assert service.published is not None
    return GuideOut(
        **_service_out(service).dict(),
        guide=service.published.content,
        version=service.published.number,
        published_at=service.published.published_at,
    )


@router.get(
    "/services/{code}/jsonld",
    response=dict[str, Any],
    auth=None,
    summary="The service as schema.org GovernmentService",
)
def service_json_ld(request: HttpRequest, code: str) -> dict[str, Any]:
    return selectors.service_json_ld(selectors.service_get(code=code))


@router.get(
    "/catalogue/cpsv-ap", response=dict[str, Any], auth=None, summary="The catalogue as CPSV-AP"
)
def catalogue(request: HttpRequest) -> dict[str, Any]:
    return selectors.cpsv_ap_catalogue()


class SearchQuery(Schema):
    q: str
    lang: str = "zh-hans"


class HitOut(Schema):
    kind: str  # "service", "notice", "faq" or "dataset"
    code: str  # the service's; empty for a notice or a dataset
    title: str
    title_en: str
    snippet: str
    url: str


class SearchOut(Schema):
    query: str
    services: list[HitOut]
    notices: list[HitOut]
    faqs: list[HitOut]
    datasets: list[HitOut]


@router.get(
    "/search",
    response=SearchOut,
    auth=None,
    summary="Search services, notices, FAQs and open data, grouped",
)
def search(request: HttpRequest, params: Query[SearchQuery]) -> SearchOut:
    found = selectors.service_search(text=params.q, english=params.lang.startswith("en"))

    def hits(rows: list[selectors.SearchHit]) -> list[HitOut]:
        return [
            HitOut(
                kind=h.kind,
                code=h.code,
                title=h.title,
                title_en=h.title_en,
                snippet=str(h.summary),
                url=h.url,
            )
            for h in rows
        ]

    return SearchOut(
        query=found.query,
        services=hits(found.services),
        notices=hits(found.notices),
        faqs=hits(found.faqs),
        datasets=hits(found.datasets),
    )


class FactOut(Schema):
    key: str
    value: str
    source: str
    source_label: str


@router.get(
    "/prefill",
    response=list[FactOut],
    summary="The caller's facts the government holds, with sources (reading them is consent)",
)
def prefill(request: HttpRequest) -> list[FactOut]:
    facts = resident_facts(actor=request_user(request))
    return [
        FactOut(key=k, value=f.value, source=f.source, source_label=f.source_label)
        for k, f in facts.items()
    ]


class ApplicationIn(Schema):
    service: str
    answers: dict[str, str] = {}
    consent: bool = False
    flagged: list[str] = []


class ApplicationEventOut(Schema):
    status: str
    note: str
    at: dt.datetime


class ApplicationOut(Schema):
    reference: str
    service: str
    status: str
    answers: dict[str, Any]
    due_at: dt.datetime | None
    decided_at: dt.datetime | None
    decision_reason: str
    verification_code: str
    events: list[ApplicationEventOut]


def _application_out(application: Application) -> ApplicationOut:
    return ApplicationOut(
        reference=application.reference,
        service=application.service.code,
        status=application.status,
        answers=application.answers,
        due_at=application.due_at,
        decided_at=application.decided_at,
        decision_reason=application.decision_reason,
        verification_code=application.verification_code,
        events=[
            ApplicationEventOut(status=e.status, note=e.note, at=e.created_at)
            for e in selectors.application_events(application)
        ],
    )


@router.post(
    "/applications",
    response={201: ApplicationOut},
    summary="Apply online (materials are added on the page)",
)
def application_create(request: HttpRequest, payload: ApplicationIn) -> Status[ApplicationOut]:
    application = services.application_submit(
        actor=request_user(request),
        service=selectors.service_get(code=payload.service),
        answers=payload.answers,
        consent=payload.consent,
        flagged=payload.flagged,
    )
    return Status(201, _application_out(application))


@router.get("/applications", response=list[ApplicationOut], summary="The caller's applications")
def application_list(request: HttpRequest) -> list[ApplicationOut]:
    return [_application_out(a) for a in selectors.own_applications(actor=request_user(request))]


@router.get("/applications/{reference}", response=ApplicationOut, summary="One application")
def application_get(request: HttpRequest, reference: str) -> ApplicationOut:
    return _application_out(
        selectors.application_get(actor=request_user(request), reference=reference)
    )


class CertificateVerificationOut(Schema):
    code: str
    reference: str
    service: str
    service_en: str
    department: str
    decided_at: dt.datetime | None
    applicant: str
    valid: bool
    revoked_at: dt.datetime | None
    sha256: str
    signature: str
    key_id: str
    pdf_matches: bool | None


@router.get(
    "/verify/{code}",
    response=CertificateVerificationOut,
    auth=None,
    summary="Check a certificate's verification code (rate-limited per client)",
)
def verify(request: HttpRequest, code: str) -> CertificateVerificationOut:
    selectors.verify_allow(client_address(request))
    found = selectors.verification_get(code=code)
    return CertificateVerificationOut(**found.__dict__)


# Open data -------------------------------------------------------------------------------------


class DatasetOut(Schema):
    slug: str
    title: str
    title_en: str
    description: str
    description_en: str
    publisher: str
    licence: str
    frequency: str
    keywords: list[str]
    theme: str
    issued_at: dt.datetime | None
    modified_at: dt.datetime
    published: bool


def _dataset_out(dataset: Dataset) -> DatasetOut:
    return DatasetOut(
        slug=dataset.slug,
        title=dataset.title,
        title_en=dataset.title_en,
        description=dataset.description,
        description_en=dataset.description_en,
        publisher=dataset.publisher.name,
        licence=dataset.licence,
        frequency=dataset.frequency,
        keywords=dataset.keywords,
        theme=dataset.theme,
        issued_at=dataset.issued_at,
        modified_at=dataset.updated_at,
        published=dataset.published,
    )


class DatasetRowsOut(Schema):
    dataset: str
    suppressed_below: int
    columns: list[dict[str, Any]]
    rows: list[dict[str, Any]]


class DatasetIn(Schema):
    slug: str
    title: str
    title_en: str = ""
    description: str = ""
    description_en: str = ""
    publisher: str  # the publishing organisation's code
    source: str
    licence: str = "CC-BY-4.0"
    frequency: str = "MONTHLY"
    keywords: list[str] = []
    theme: str = ""
    published: bool = False


@router.get("/datasets", response=list[DatasetOut], auth=None, summary="The open data catalogue")
def dataset_list(request: HttpRequest) -> list[DatasetOut]:
    return [_dataset_out(d) for d in opendata.published_datasets()]


@router.get("/datasets/{slug}", response=DatasetOut, auth=None, summary="One open dataset")
def dataset_get(request: HttpRequest, slug: str) -> DatasetOut:
    return _dataset_out(opendata.dataset_get(slug=slug))


@router.get(
    "/datasets/{slug}/rows",
    response=DatasetRowsOut,
    auth=None,
    summary="An open dataset's rows (counts below the threshold are null)",
)
def dataset_rows(request: HttpRequest, slug: str) -> DatasetRowsOut:
    dataset = opendata.dataset_get(slug=slug)
    return DatasetRowsOut(**opendata.table_json(dataset, opendata.dataset_table(dataset)))


@router.put(
    "/datasets/{slug}",
    response=DatasetOut,
    summary="Describe an open dataset and publish or withdraw it (department heads)",
)
def dataset_put(request: HttpRequest, slug: str, payload: DatasetIn) -> DatasetOut:
    user = request_user(request)
    dataset = services.dataset_save(
        actor=user,
        slug=slug[:80],
        title=payload.title,
        title_en=payload.title_en,
        description=payload.description,
        description_en=payload.description_en,
        publisher=selectors.organisation_by_code(code=payload.publisher),
        source=payload.source,
        licence=payload.licence,
        frequency=payload.frequency,
        keywords=payload.keywords,
        theme=payload.theme,
    )
    if dataset.published != payload.published:
        dataset = services.dataset_publish(actor=user, dataset=dataset, published=payload.published)
    return _dataset_out(dataset)
