"""The service catalogue's writes: services, their guide versions (draft → review → publish)
and the search index that follows what is published."""

from __future__ import annotations

import copy
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.core.audit import audit_record
from civichub.core.errors import Conflict, ValidationFailed
from civichub.core.models import Organisation, OrganisationKind, User
from civichub.core.permissions import require
from civichub.portal import search
from civichub.portal.guide import empty_guide, guide_errors
from civichub.portal.models import (
    Dataset,
    SearchEntry,
    Service,
    ServiceKind,
    ServiceVersion,
    VersionState,
)
from civichub.portal.services.searchindex import dataset_index, notices_reindex


def _checked_content(content: dict[str, Any]) -> dict[str, Any]:
    merged = empty_guide()
    merged.update(copy.deepcopy(content))
    errors = guide_errors(merged)
    if errors:
        first = next(iter(errors.values()))[0]
        raise ValidationFailed(first, errors=errors)
    return merged


@transaction.atomic
def service_create(
    *,
    actor: User | None,
    code: str,
    kind: str,
    department: Organisation,
    name: str,
    name_en: str = "",
    content: dict[str, Any],
    life_events: list[str] | None = None,
    online_application: bool = False,
) -> ServiceVersion:
    """A new service with its first guide as a draft."""
    if actor is not None:
        require(actor, "portal.service.edit", department)
    if department.kind != OrganisationKind.DEPARTMENT:
        raise ValidationFailed.on("department", _("实施机关须为部门。"))
    if kind not in ServiceKind.values:
        raise ValidationFailed.on("kind", _("未知的事项类型。"))
    if Service.objects.filter(code=code).exists():
        raise ValidationFailed.on("code", _("事项编码 %(code)s 已存在。") % {"code": code})
    if not name.strip():
        raise ValidationFailed.on("name", _("事项名称必填。"))
    checked = _checked_content(content)
    service = Service.objects.create(
        code=code,
        kind=kind,
        department=department,
        life_events=list(life_events or []),
        online_application=online_application,
    )
    version = ServiceVersion.objects.create(
        service=service,
        number=1,
        state=VersionState.DRAFT,
        name=name.strip(),
        name_en=name_en.strip(),
        content=checked,
        author=actor,
    )
    audit_record(actor=actor, action="portal.service.create", obj=service)
    return version


@transaction.atomic
def version_draft(
    *, actor: User | None, service: Service, name: str, name_en: str, content: dict[str, Any]
) -> ServiceVersion:
    """Edits the service's open draft, or starts one from the given content. A version in
    review or published is never edited: a change is a new draft."""
    if actor is not None:
        require(actor, "portal.service.edit", service)
    checked = _checked_content(content)
    service = Service.objects.select_for_update().get(pk=service.pk)
    draft = service.versions.filter(state__in=[VersionState.DRAFT, VersionState.RETURNED]).first()
    if service.versions.filter(state=VersionState.IN_REVIEW).exists():
        raise Conflict(_("已有版本在审核中，审核后才能再修改。"))
    if draft is None:
        number = (
            service.versions.order_by("-number").values_list("number", flat=True).first()
        ) or 0
        draft = ServiceVersion(service=service, number=number + 1)
    draft.state = VersionState.DRAFT
    draft.name, draft.name_en, draft.content = name.strip(), name_en.strip(), checked
    draft.author = actor
    draft.save()
    audit_record(
        actor=actor, action="portal.version.draft", obj=draft, changes={"number": draft.number}
    )
    return draft


@transaction.atomic
def version_submit(*, actor: User | None, version: ServiceVersion) -> ServiceVersion:
    if actor is not None:
        require(actor, "portal.service.edit", version)
    version = ServiceVersion.objects.select_for_update().get(pk=version.pk)
    if version.state not in (VersionState.DRAFT, VersionState.RETURNED):
        raise Conflict(_("只有草稿可以送审。"))
    version.state = VersionState.IN_REVIEW
    version.submitted_at = timezone.now()
    version.save(update_fields=["state", "submitted_at"])
    audit_record(actor=actor, action="portal.version.submit", obj=version)
    return version


@transaction.atomic
def version_publish(*, actor: User | None, version: ServiceVersion, note: str = "") -> Service:
    """Publishes a reviewed version: the one before it is superseded (kept as history) and the
    search index follows. An author does not approve their own draft."""
    if actor is not None:
        require(actor, "portal.service.publish", version)
    version = (
        ServiceVersion.objects.select_for_update().select_related("service").get(pk=version.pk)
    )
    if version.state != VersionState.IN_REVIEW:
        raise Conflict(_("只有待审核的版本可以发布。"))
    if actor is not None and version.author_id == actor.pk and not actor.is_superuser:
        raise Conflict(_("不能审核自己起草的版本。"))
    service = version.service
    service.versions.filter(state=VersionState.PUBLISHED).update(state=VersionState.SUPERSEDED)
    version.state = VersionState.PUBLISHED
    version.reviewer = actor
    version.review_note = note[:500]
    version.published_at = timezone.now()
    version.save()
    service.published = version
    service.updated_at = timezone.now()
    service.save(update_fields=["published", "updated_at"])
    _index_service(service, version)
    audit_record(
        actor=actor, action="portal.version.publish", obj=version, changes={"note": note[:200]}
    )
    return service


@transaction.atomic
def version_return(*, actor: User | None, version: ServiceVersion, note: str) -> ServiceVersion:
    if actor is not None:
        require(actor, "portal.service.publish", version)
    if not note.strip():
        raise ValidationFailed.on("note", _("退回须说明理由。"))
    version = ServiceVersion.objects.select_for_update().get(pk=version.pk)
    if version.state != VersionState.IN_REVIEW:
        raise Conflict(_("只有待审核的版本可以退回。"))
    version.state = VersionState.RETURNED
    version.reviewer = actor
    version.review_note = note.strip()[:500]
    version.save(update_fields=["state", "reviewer", "review_note"])
    audit_record(actor=actor, action="portal.version.return", obj=version)
    return version


def _index_service(service: Service, version: ServiceVersion) -> None:
    """Rewrites the service's search entries from its published version."""
    old = SearchEntry.objects.filter(service=service)
    search.entries_unindex(old.values_list("id", flat=True))
    old.delete()
    content = version.content
    body = " ".join(
        [content.get("description", ""), content.get("conditions", ""), service.department.name]
        + [m.get("name", "") for m in content.get("materials", [])]
    )
    body_en = " ".join(
        [content.get("description_en", ""), service.department.name_en, service.code]
    )
    documents = [
        _document(
            "service",
            service,
            version.name,
            version.name_en,
            content.get("description", ""),
            content.get("description_en", ""),
            body,
            body_en,
        )
    ]
    for faq in content.get("faqs", []):
        documents.append(
            _document(
                "faq",
                service,
                faq.get("q", ""),
                faq.get("q_en", ""),
                faq.get("a", ""),
                faq.get("a_en", ""),
                f"{faq.get('a', '')} {version.name}",
                faq.get("a_en", ""),
            )
        )
    SearchEntry.objects.bulk_create([d.entry for d in documents])
    search.entries_index(documents)


def _document(
    kind: str,
    service: Service,
    title: str,
    title_en: str,
    summary: str,
    summary_en: str,
    body: str,
    body_en: str,
) -> search.Document:
    entry = SearchEntry(
        kind=kind,
        service=service,
        title=title,
        title_en=title_en,
        summary=summary[:500],
        summary_en=summary_en[:500],
    )
    return search.Document(entry=entry, body=body, body_en=body_en)


@transaction.atomic
def catalogue_reindex() -> int:
    """Rebuilds the whole search index from the published versions, the published datasets and
    the public notices (after a change of the synonyms, the segmenter's dictionary or the
    index's shape); returns the services indexed."""
    search.tokenizer(refresh=True)
    count = 0
    for service in Service.objects.filter(published__isnull=False).select_related(
        "published", "department"
    ):
        assert service.published is not None
        _index_service(service, service.published)
        count += 1
    for dataset in Dataset.objects.select_related("publisher"):
        dataset_index(dataset)
    notices_reindex()
    return count
