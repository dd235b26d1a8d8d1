"""Open data (开放数据): the catalogue's reads. A dataset's rows come from a named source,
computed when read; a source gives either a non-personal table (the service catalogue) or
counts, and every count below the threshold is suppressed (published as empty, never as its
value), so no cell describes fewer than ten people or applications. Sources publish no totals
beside their cells, so a suppressed cell cannot be recovered by subtraction. The catalogue is
also given in DCAT (JSON-LD) for harvesters."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.urls import reverse
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from civichub.core import registry
from civichub.core.conf import core_settings
from civichub.core.config import module_config
from civichub.core.errors import NotFound
from civichub.portal.conf import PortalSettings
from civichub.portal.models import Application, Dataset, Service

# No published cell counts fewer than this many.
SUPPRESS_BELOW = 10

LICENCES = {
    "CC-BY-4.0": ("CC BY 4.0", "https://creativecommons.org/licenses/by/4.0/"),
    "CC0-1.0": ("CC0 1.0", "https://creativecommons.org/publicdomain/zero/1.0/"),
    "ODC-BY-1.0": ("ODC-By 1.0", "https://opendatacommons.org/licenses/by/1-0/"),
}
FREQUENCY_URI = "http://publications.europa.eu/resource/authority/frequency/"


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    # a count: suppressed below SUPPRESS_BELOW
    count: bool = False


@dataclass(frozen=True)
class Table:
    columns: list[Column]
    rows: list[dict[str, Any]]


def suppress(table: Table, below: int = SUPPRESS_BELOW) -> Table:
    """Every count cell under `below` becomes None (zero included: an empty cell tells no
    more than a small one)."""
    counts = [c.key for c in table.columns if c.count]
    rows = []
    for row in table.rows:
        row = dict(row)
        for key in counts:
            if row.get(key) is not None and int(row[key]) < below:
                row[key] = None
        rows.append(row)
    return Table(table.columns, rows)


def _services() -> Table:
    """The published service catalogue (no personal data, nothing to suppress)."""
    columns = [
        Column("code", "code"),
        Column("name", "name"),
        Column("name_en", "name_en"),
        Column("kind", "kind"),
        Column("department", "department"),
        Column("online_application", "online_application"),
        Column("visits", "visits"),
        Column("promised_limit_days", "promised_limit_days"),
    ]
    rows = [
        {
            "code": s.code,
            "name": s.published.name,
            "name_en": s.published.name_en,
            "kind": s.kind,
            "department": s.department.name,
            "online_application": s.online_application,
            "visits": s.published.content.get("visits"),
            "promised_limit_days": s.published.content.get("promised_limit_days"),
        }
        for s in Service.objects.filter(published__isnull=False)
        .select_related("published", "department")
        .order_by("code")
        if s.published is not None
    ]
    return Table(columns, rows)


def _applications() -> Table:
    """Online applications by service, month of submission and status: counts."""
    columns = [
        Column("service_code", "service_code"),
        Column("month", "month"),
        Column("status", "status"),
        Column("applications", "applications", count=True),
    ]
    grouped: dict[tuple[str, str, str], int] = {}
    for code, created_at, status in Application.objects.values_list(
        "service__code", "created_at", "status"
    ).iterator():
        key = (code, f"{created_at:%Y-%m}", status)
        grouped[key] = grouped.get(key, 0) + 1
    rows = [
        {"service_code": code, "month": month, "status": status, "applications": n}
        for (code, month, status), n in sorted(grouped.items())
    ]
    return Table(columns, rows)


def _population() -> Table:
    """Persons in the data hub's registry by community, age band and gender: counts."""
    provided: Callable[[], list[dict[str, Any]]] | None = registry.provided("population_counts")
    if provided is None:
        raise NotFound(_("数据中台未启用，该数据集暂不可用。"))
    columns = [
        Column("community_code", "community_code"),
        Column("community", "community"),
        Column("age_band", "age_band"),
        Column("gender", "gender"),
        Column("persons", "persons", count=True),
    ]
    return Table(columns, provided())


# source key -> (description, function)
SOURCES: dict[str, tuple[Any, Callable[[], Table]]] = {
    "portal.services": (gettext_lazy("政务服务事项目录"), _services),
    "portal.applications": (gettext_lazy("网上申请件数（按事项、月份、状态）"), _applications),
    "datahub.population": (gettext_lazy("人口登记人数（按社区、年龄段、性别）"), _population),
}


def published_datasets() -> QuerySet[Dataset]:
    return Dataset.objects.filter(published=True).select_related("publisher").order_by("title")


def dataset_get(*, slug: str) -> Dataset:
    dataset = published_datasets().filter(slug=slug).first()
    if dataset is None:
        raise NotFound(_("没有该数据集。"))
    return dataset


def dataset_table(dataset: Dataset) -> Table:
    """The dataset's rows as published: its source read now, small counts suppressed."""
    source = SOURCES.get(dataset.source)
    if source is None:
        raise NotFound(_("该数据集的数据来源不存在。"))
    return suppress(source[1]())


def table_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.key for c in table.columns])
    for row in table.rows:
        writer.writerow(["" if row.get(c.key) is None else row.get(c.key) for c in table.columns])
    return out.getvalue()


def table_json(dataset: Dataset, table: Table) -> dict[str, Any]:
    return {
        "dataset": dataset.slug,
        "suppressed_below": SUPPRESS_BELOW,
        "columns": [{"key": c.key, "count": c.count} for c in table.columns],
        "rows": table.rows,
    }


def _absolute(path: str) -> str:
    site = module_config(PortalSettings).site_url or core_settings().site_url
    return site.rstrip("/") + path


def localized(dataset: Dataset) -> tuple[str, str]:
    english = (get_language() or "").startswith("en")
    if english:
        return dataset.title_en or dataset.title, dataset.description_en or dataset.description
    return dataset.title, dataset.description


def dataset_dcat(dataset: Dataset) -> dict[str, Any]:
    """One dcat:Dataset with its two distributions (CSV and JSON)."""
    page = _absolute(reverse("portal:dataset", args=[dataset.slug]))
    licence = LICENCES.get(dataset.licence, (dataset.licence, ""))[1]
    title = [{"@language": "zh-Hans", "@value": dataset.title}]
    if dataset.title_en:
        title.append({"@language": "en", "@value": dataset.title_en})
    description = [{"@language": "zh-Hans", "@value": dataset.description}]
    if dataset.description_en:
        description.append({"@language": "en", "@value": dataset.description_en})
    return {
        "@id": page,
        "@type": "dcat:Dataset",
        "dct:identifier": dataset.slug,
        "dct:title": title,
        "dct:description": description,
        "dct:publisher": {"@type": "foaf:Organization", "foaf:name": dataset.publisher.name},
        "dct:license": licence,
        "dct:accrualPeriodicity": {"@id": FREQUENCY_URI + dataset.frequency},
        "dct:issued": dataset.issued_at.isoformat() if dataset.issued_at else None,
        "dct:modified": dataset.updated_at.isoformat(),
        "dcat:keyword": dataset.keywords,
        "dcat:theme": dataset.theme,
        "dcat:landingPage": page,
        "dcat:distribution": [
            {
                "@type": "dcat:Distribution",
                "dcat:downloadURL": _absolute(
                    reverse("portal:dataset_download", args=[dataset.slug, fmt])
                ),
                "dcat:mediaType": media,
                "dct:license": licence,
            }
            for fmt, media in (("csv", "text/csv"), ("json", "application/json"))
        ],
    }


def catalogue_dcat() -> dict[str, Any]:
    return {
        "@context": {
            "dcat": "http://www.w3.org/ns/dcat#",
            "dct": "http://purl.org/dc/terms/",
            "foaf": "http://xmlns.com/foaf/0.1/",
        },
        "@type": "dcat:Catalog",
        "dct:title": [
            {"@language": "zh-Hans", "@value": "开放数据目录"},
            {"@language": "en", "@value": "Open data catalogue"},
        ],
        "dcat:dataset": [dataset_dcat(d) for d in published_datasets()],
    }
