"""Reads shared by the portal's pages, API and tasks: the published catalogue, search, the
catalogue's exports (schema.org JSON-LD, CPSV-AP), the home page's notices, and applications
(the applicant's own, the department's queue, the public verification)."""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from civichub.core import registry
from civichub.core.audit import audit_record
from civichub.core.conf import core_settings
from civichub.core.config import module_config
from civichub.core.errors import NotFound, RateLimited
from civichub.core.models import Organisation, User
from civichub.core.permissions import require, scope_filter
from civichub.portal import certificates, search
from civichub.portal.conf import PortalSettings
from civichub.portal.models import (
    OPEN_STATUSES,
    Application,
    ApplicationEvent,
    ApplicationStatus,
    Certificate,
    Material,
    SearchEntry,
    Service,
    ServiceVersion,
    VersionState,
)

# Catalogue ------------------------------------------------------------------------------------


def published_services() -> QuerySet[Service]:
    return (
        Service.objects.filter(published__isnull=False)
        .select_related("published", "department")
        .order_by("code")
    )


def service_list(*, life_event: str = "", department: Organisation | None = None) -> list[Service]:
    services = published_services()
    if department is not None:
        services = services.filter(department=department)
    rows = list(services)
    if life_event:
        rows = [s for s in rows if life_event in s.life_events]
    return rows


def service_get(*, code: str) -> Service:
    service = published_services().filter(code=code).first()
    if service is None:
        raise NotFound(_("没有编码为 %(code)s 的已发布事项。") % {"code": code})
    return service


def service_for_editing(*, actor: User, code: str) -> Service:
    service = Service.objects.select_related("department", "published").filter(code=code).first()
    if service is None:
        raise NotFound(_("没有编码为 %(code)s 的事项。") % {"code": code})
    require(actor, "portal.service.edit", service)
    return service


def editable_services(*, actor: User) -> QuerySet[Service]:
    return scope_filter(
        actor,
        "portal.service.edit",
        Service.objects.select_related("department", "published").order_by("code"),
        "department__path",
    )


def versions(*, service: Service) -> list[ServiceVersion]:
    return list(service.versions.select_related("author", "reviewer").order_by("-number"))


def version_get(*, actor: User, pk: int) -> ServiceVersion:
    version = ServiceVersion.objects.select_related("service__department").filter(pk=pk).first()
    if version is None:
        raise NotFound(_("没有该版本。"))
    require(actor, "portal.service.edit", version)
    return version


def review_queue(*, actor: User) -> QuerySet[ServiceVersion]:
    return scope_filter(
        actor,
        "portal.service.publish",
        ServiceVersion.objects.filter(state=VersionState.IN_REVIEW)
        .select_related("service", "author")
        .order_by("submitted_at"),
        "service__department__path",
    )


def life_events() -> list[dict[str, str]]:
    return [
        {"key": key, "name": zh, "name_en": en}
        for key, zh, en in module_config(PortalSettings).life_events
    ]


# Search ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchHit:
    kind: str
    code: str
    title: str
    title_en: str
    summary: SafeString
    url: str
    score: float


@dataclass
class SearchResults:
    query: str
    services: list[SearchHit] = field(default_factory=list)
    notices: list[SearchHit] = field(default_factory=list)
    faqs: list[SearchHit] = field(default_factory=list)
    datasets: list[SearchHit] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.services) + len(self.notices) + len(self.faqs) + len(self.datasets)

    def groups(self) -> list[tuple[str, list[SearchHit]]]:
        """The groups in the order a results page shows them: (kind, hits)."""
        return [
            ("service", self.services),
            ("notice", self.notices),
            ("faq", self.faqs),
            ("dataset", self.datasets),
        ]


def highlighted(text: str, marks: list[str]) -> SafeString:
    """`text` escaped, with the query's words wrapped in <mark>."""
    escaped = str(escape(text))
    if not marks:
        return mark_safe(escaped)  # noqa: S308  # nosec B308 B703 - escaped above
    pattern = re.compile("|".join(re.escape(str(escape(m))) for m in marks), re.IGNORECASE)
    return mark_safe(pattern.sub(lambda m: f"<mark>{m.group(0)}</mark>", escaped))  # noqa: S308  # nosec B308 B703


def service_search(*, text: str, english: bool = False, limit: int | None = None) -> SearchResults:
    """Published services, public notices, their guides' questions and open datasets matching
    `text`, best first in each group, with the query's words marked in the snippets."""
    per_group = limit or module_config(PortalSettings).search_results
    results = SearchResults(query=text)
    version = search.index_version()  # one round trip to the cache a search
    terms = search.parse_query(text, version=version)
    marks = search.highlight_terms(terms)
    groups = {
        "service": results.services,
        "notice": results.notices,
        "faq": results.faqs,
        "dataset": results.datasets,
    }
    services, others = search.search_groups(
        terms, limit=per_group, others_limit=per_group * (len(groups) - 1), version=version
    )
    # one URL resolved per query; a service code needs no quoting (letters, digits, -)
    url = reverse("portal:service", args=["CODE"])
    for hit in [*services, *others]:
        group = groups.get(hit.kind)
        if group is None or len(group) >= per_group:
            continue
        group.append(
            SearchHit(
                kind=hit.kind,
                code=hit.code,
                title=hit.title,
                title_en=hit.title_en,
                summary=highlighted(((english and hit.summary_en) or hit.summary)[:160], marks),
                url=hit.url or url.replace("CODE", hit.code),
                score=hit.score,
            )
        )
    return results


def like_search_codes(*, text: str, limit: int = 10) -> list[str]:
    """The plain baseline the benchmark compares against: substring match on names."""
    text = text.strip()[:100]
    if not text:
        return []
    rows = (
        SearchEntry.objects.filter(kind="service")
        .filter(Q(title__icontains=text) | Q(title_en__icontains=text) | Q(summary__icontains=text))
        .select_related("service")
        .order_by("id")[:limit]
    )
    return [row.service.code for row in rows if row.service is not None]


# Exports ---------------------------------------------------------------------------------------


def _absolute(path: str) -> str:
    site = module_config(PortalSettings).site_url or core_settings().site_url
    return site.rstrip("/") + path


def _iso_days(days: int) -> str:
    return f"P{days}D"


def service_json_ld(service: Service) -> dict[str, Any]:
    """schema.org GovernmentService for the service's page. 到现场次数 and 全程网办 have no
    schema.org property, so they travel as `additionalProperty` values."""
    version = service.published
    assert version is not None
    content = version.content
    department = service.department
    url = _absolute(reverse("portal:service", args=[service.code]))
    operator = {"@type": "GovernmentOrganization", "name": department.name}
    fee = content.get("fee", {})
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "GovernmentService",
        "@id": url,
        "identifier": service.code,
        "name": [
            {"@language": "zh-Hans", "@value": version.name},
            {"@language": "en", "@value": version.name_en or version.name},
        ],
        "description": content.get("description", ""),
        "serviceType": str(service.get_kind_display()),
        "serviceOperator": operator,
        "provider": operator,
        "jurisdiction": {"@type": "AdministrativeArea", "name": department.name},
        "audience": {"@type": "Audience", "audienceType": content.get("audience", "person")},
        "termsOfService": content.get("legal_basis", ""),
        "availableChannel": [
            {
                "@type": "ServiceChannel",
                "name": "窗口办理",
                "availableLanguage": ["zh-Hans", "en"],
                "servicePhone": content.get("phone", ""),
                "serviceLocation": {"@type": "Place", "address": content.get("location", "")},
                "processingTime": _iso_days(int(content.get("promised_limit_days", 0))),
            }
        ],
        "offers": {
            "@type": "Offer",
            "price": "0" if fee.get("free") else fee.get("amount", ""),
            "priceCurrency": "CNY",
            "description": fee.get("basis", ""),
        },
        "additionalProperty": [
            {"@type": "PropertyValue", "name": "visitsRequired", "value": content.get("visits", 0)},
            {
                "@type": "PropertyValue",
                "name": "fullyOnline",
                "value": bool(content.get("fully_online")),
            },
            {
                "@type": "PropertyValue",
                "name": "legalTimeLimitDays",
                "value": content.get("legal_limit_days", 0),
            },
        ],
    }
    if service.online_application:
        data["availableChannel"].append(
            {
                "@type": "ServiceChannel",
                "name": "网上办理",
                "serviceUrl": _absolute(reverse("portal:apply", args=[service.code])),
            }
        )
    return data


def cpsv_ap_catalogue() -> dict[str, Any]:
    """The published catalogue as CPSV-AP 3.2 (JSON-LD): every mandatory property (identifier,
    name, description, competent authority) and the optional ones the guide holds. The two
    time limits, visits and full online handling are extensions in the `civichub:` namespace."""
    graph: list[dict[str, Any]] = []
    authorities: dict[int, dict[str, Any]] = {}
    for service in published_services():
        version = service.published
        assert version is not None
        content = version.content
        department = service.department
        authority_id = _absolute(f"/organisations/{department.code}")
        authorities[department.pk] = {
            "@id": authority_id,
            "@type": "cv:PublicOrganisation",
            "skos:prefLabel": [
                {"@language": "zh-Hans", "@value": department.name},
                {"@language": "en", "@value": department.name_en or department.name},
            ],
        }
        url = _absolute(reverse("portal:service", args=[service.code]))
        graph.append(
            {
                "@id": url,
                "@type": "cpsv:PublicService",
                "dct:identifier": service.code,
                "dct:title": [
                    {"@language": "zh-Hans", "@value": version.name},
                    {"@language": "en", "@value": version.name_en or version.name},
                ],
                "dct:description": [
                    {"@language": "zh-Hans", "@value": content.get("description", "")},
                    {"@language": "en", "@value": content.get("description_en", "")},
                ],
                "cv:hasCompetentAuthority": {"@id": authority_id},
                "cv:hasLegalResource": {"eli:title": content.get("legal_basis", "")},
                "cv:holdsRequirement": {"dct:description": content.get("conditions", "")},
                "cv:hasInputType": [
                    {
                        "@type": "cv:EvidenceType",
                        "dct:title": m.get("name", ""),
                        "civichub:form": m.get("form", ""),
                        "civichub:count": m.get("count", 1),
                    }
                    for m in content.get("materials", [])
                ],
                "cv:processingTime": _iso_days(int(content.get("promised_limit_days", 0))),
                "civichub:legalProcessingTime": _iso_days(int(content.get("legal_limit_days", 0))),
                "civichub:visitsRequired": content.get("visits", 0),
                "civichub:fullyOnline": bool(content.get("fully_online")),
                "cv:hasCost": {
                    "@type": "cv:Cost",
                    "cv:value": "0"
                    if content.get("fee", {}).get("free")
                    else content.get("fee", {}).get("amount", ""),
                    "cv:currency": "CNY",
                },
                "cv:isGroupedBy": [
                    {"@type": "cv:Event", "dct:identifier": e} for e in service.life_events
                ],
                "cv:hasContactPoint": {
                    "cv:telephone": content.get("phone", ""),
                    "cv:openingHours": content.get("hours", ""),
                },
                "dct:language": ["zh-Hans", "en"],
                "dct:type": str(service.get_kind_display()),
                "cv:hasChannel": [
                    {
                        "@type": "cv:Channel",
                        "dct:type": "online" if service.online_application else "assistant",
                    }
                ],
            }
        )
    return {
        "@context": {
            "cpsv": "http://purl.org/vocommons/cpsv#",
            "cv": "http://data.europa.eu/m8g/",
            "dct": "http://purl.org/dc/terms/",
            "skos": "http://www.w3.org/2004/02/skos/core#",
            "eli": "http://data.europa.eu/eli/ontology#",
            "civichub": _absolute("/services/ns#"),
        },
        "@graph": [*graph, *authorities.values()],
    }


# Home page -------------------------------------------------------------------------------------


def home_notices(*, area: Organisation | None) -> list[Any]:
    """The newest notices and alerts for the visitor's area, from whichever module publishes
    them (broadcast, through the registry); none where no such module is installed."""
    provided = registry.provided("public_notices")
    if provided is None:
        return []
    notices: list[Any] = provided(area, limit=module_config(PortalSettings).home_notices)
    return notices


# Applications ----------------------------------------------------------------------------------


def own_applications(*, actor: User, limit: int = 50) -> list[Application]:
    return list(
        Application.objects.filter(applicant=actor)
        .select_related("service", "version")
        .order_by("-created_at")[:limit]
    )


def application_get(*, actor: User, reference: str) -> Application:
    application = (
        Application.objects.select_related("service__department", "version", "applicant")
        .filter(reference=reference)
        .first()
    )
    if application is None:
        raise NotFound(_("没有编号为 %(ref)s 的办件。") % {"ref": reference})
    require(actor, "portal.application.view", application)
    return application


def material_get(*, actor: User, reference: str, pk: int) -> Material:
    """An uploaded document, for the applicant and the department's staff."""
    application = application_get(actor=actor, reference=reference)
    material = application.materials.filter(pk=pk).first()
    if material is None:
        raise NotFound(_("没有该材料。"))
    return material


def application_events(application: Application) -> list[ApplicationEvent]:
    return list(application.events.select_related("actor").order_by("created_at", "id"))


def application_queue(*, actor: User, status: str = "") -> QuerySet[Application]:
    """The department's applications the actor may handle, open ones first by deadline."""
    queryset = Application.objects.select_related("service", "version", "applicant")
    queryset = (
        queryset.filter(status=status) if status else queryset.filter(status__in=OPEN_STATUSES)
    )
    return scope_filter(
        actor,
        "portal.application.handle",
        queryset.order_by("due_at", "id"),
        "service__department__path",
    )


def pending_count(user: User) -> int:
    return application_queue(actor=user).count()


def is_overdue(application: Application) -> bool:
    """Open, not waiting for the applicant, and past the promised deadline."""
    return bool(
        application.status in (ApplicationStatus.SUBMITTED, ApplicationStatus.ACCEPTED)
        and application.due_at is not None
        and timezone.now() > application.due_at
    )


@dataclass(frozen=True)
class Verification:
    """What the public page tells about a code: no more than the certificate itself shows,
    with the applicant's name masked."""

    code: str
    reference: str
    service: str
    service_en: str
    department: str
    decided_at: Any
    applicant: str
    valid: bool
    revoked_at: Any
    sha256: str
    signature: str  # base64
    key_id: str
    # None: no PDF was given; else whether its bytes carry the signature
    pdf_matches: bool | None = None


def verification_get(*, code: str, pdf: bytes | None = None) -> Verification:
    """The public check of a certificate's verification code, and of a PDF's bytes against
    its signature when one is given (a changed byte fails)."""
    code = code.strip().upper()[:32]
    certificate = (
        Certificate.objects.select_related(
            "application__version", "application__service__department", "application__applicant"
        )
        .filter(code=code)
        .first()
        if code
        else None
    )
    if certificate is None:
        return _verification_unsigned(code)
    application = certificate.application
    signature = bytes(certificate.signature)
    return Verification(
        code=certificate.code,
        reference=application.reference,
        service=application.version.name,
        service_en=application.version.name_en,
        department=application.service.department.name,
        decided_at=application.decided_at,
        applicant=certificates.masked_name(certificates.applicant_name(application)),
        valid=certificate.revoked_at is None,
        revoked_at=certificate.revoked_at,
        sha256=certificate.sha256,
        signature=base64.b64encode(signature).decode(),
        key_id=certificate.key_id,
        pdf_matches=None if pdf is None else certificates.signature_valid(pdf, signature),
    )


def _verification_unsigned(code: str) -> Verification:
    """A result approved before certificates were signed keeps its code: the check still
    answers what was decided, for whom (masked), with no file or signature to compare."""
    application = (
        Application.objects.select_related("version", "service__department", "applicant")
        .filter(verification_code=code, status=ApplicationStatus.APPROVED)
        .first()
        if code
        else None
    )
    if application is None:
        raise NotFound(_("核验码无效。"))
    return Verification(
        code=code,
        reference=application.reference,
        service=application.version.name,
        service_en=application.version.name_en,
        department=application.service.department.name,
        decided_at=application.decided_at,
        applicant=certificates.masked_name(certificates.applicant_name(application)),
        valid=True,
        revoked_at=None,
        sha256="",
        signature="",
        key_id="",
        pdf_matches=None,
    )


def certificate_get(*, actor: User, reference: str) -> Certificate:
    """The applicant's (or the department's) certificate, its download audited: it names the
    applicant."""
    application = application_get(actor=actor, reference=reference)
    certificate = Certificate.objects.filter(application=application).first()
    if certificate is None:
        raise NotFound(_("该办件没有结果证明。"))
    audit_record(actor=actor, action="portal.certificate.download", obj=application)
    return certificate


def verify_allow(address: str | None) -> None:
    """Counts a public verification per client address and minute; past the deployment's limit
    it is refused (429), so codes cannot be tried in bulk."""
    key = f"portal:verify:{address or '-'}:{int(time.time() // 60)}"
    cache.add(key, 0, 120)
    if int(cache.incr(key)) > module_config(PortalSettings).verify_per_minute:
        raise RateLimited(_("核验次数过多，请一分钟后再试。"), limit="client")


def organisation_by_code(*, code: str) -> Organisation:
    organisation = Organisation.objects.filter(code=code).first()
    if organisation is None:
        raise NotFound(_("没有编码为 %(code)s 的机构。") % {"code": code})
    return organisation
