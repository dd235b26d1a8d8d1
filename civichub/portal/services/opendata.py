"""Open data: describing a dataset (DCAT fields) and publishing or withdrawing it. Only a head
of the publishing department (or an operator) does either; each change is audited."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.core.audit import audit_record
from civichub.core.errors import ValidationFailed
from civichub.core.models import Organisation, User
from civichub.core.permissions import require
from civichub.portal.models import Dataset, Frequency
from civichub.portal.opendata import LICENCES, SOURCES
from civichub.portal.services.searchindex import dataset_index


@transaction.atomic
def dataset_save(
    *,
    actor: User | None,
    slug: str,
    title: str,
    publisher: Organisation,
    source: str,
    licence: str = "CC-BY-4.0",
    frequency: str = Frequency.MONTHLY,
    title_en: str = "",
    description: str = "",
    description_en: str = "",
    keywords: Sequence[str] = (),
    theme: str = "",
) -> Dataset:
    """Creates a dataset or changes its description (it keeps its published state)."""
    errors: dict[str, list[str]] = {}
    if source not in SOURCES:
        errors["source"] = [_("没有该数据来源。")]
    if licence not in LICENCES:
        errors["licence"] = [_("请选择开放许可协议。")]
    if frequency not in Frequency.values:
        errors["frequency"] = [_("请选择更新频率。")]
    if not title.strip():
        errors["title"] = [_("此项必填。")]
    if errors:
        raise ValidationFailed(_("请检查数据集的描述。"), errors=errors)
    existing = Dataset.objects.select_for_update().filter(slug=slug).first()
    dataset = existing or Dataset(slug=slug)
    if actor is not None:
        if existing is not None:
            require(actor, "portal.dataset.edit", existing)
        require(actor, "portal.dataset.edit", publisher)
    dataset.title, dataset.title_en = title.strip()[:200], title_en.strip()[:200]
    dataset.description, dataset.description_en = description.strip(), description_en.strip()
    dataset.publisher, dataset.source, dataset.licence = publisher, source, licence
    dataset.frequency, dataset.theme = frequency, theme[:32]
    dataset.keywords = [k.strip() for k in keywords if k.strip()]
    dataset.updated_at = timezone.now()
    dataset.save()
    dataset_index(dataset)
    audit_record(
        actor=actor,
        action="portal.dataset.save" if existing else "portal.dataset.create",
        obj=dataset,
        changes={"source": source, "licence": licence, "frequency": frequency},
    )
    return dataset


@transaction.atomic
def dataset_publish(*, actor: User | None, dataset: Dataset, published: bool = True) -> Dataset:
    """Publishes the dataset in the open catalogue, or withdraws it (`published=False`)."""
    if actor is not None:
        require(actor, "portal.dataset.edit", dataset)
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    dataset.published = published
    if published and dataset.issued_at is None:
        dataset.issued_at = timezone.now()
    dataset.updated_at = timezone.now()
    dataset.save()
    dataset_index(dataset)
    audit_record(
        actor=actor,
        action="portal.dataset.publish" if published else "portal.dataset.withdraw",
        obj=dataset,
    )
    return dataset
