"""The search entries that are not a service's: open datasets (from the portal's own catalogue)
and public notices (from whichever module publishes them, broadcast, through the registry).
Each entry is keyed by what it stands for (`SearchEntry.source`), so a change of its source
replaces it; notices older than the profile's `search_notice_days` are left out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django_tasks import task, task_backends

from civichub.core import registry
from civichub.core.config import module_config
from civichub.portal import search
from civichub.portal.conf import PortalSettings
from civichub.portal.models import Dataset, SearchEntry

# the capability a module offers the notices a public search may find (`searchable_notices`)
NOTICES_CAPABILITY = "searchable_notices"
NOTICE_TITLE_CHARS = 60


def _entries_replace(sources: Sequence[str], documents: Sequence[search.Document]) -> None:
    """Drops the entries of `sources` and indexes `documents` in their place."""
    old = SearchEntry.objects.filter(source__in=list(sources))
    search.entries_unindex(old.values_list("id", flat=True))
    old.delete()
    if documents:
        SearchEntry.objects.bulk_create([d.entry for d in documents])
        search.entries_index(documents)


# Open data ------------------------------------------------------------------------------------


def _dataset_document(dataset: Dataset) -> search.Document:
    keywords = " ".join(str(k) for k in dataset.keywords)
    entry = SearchEntry(
        kind="dataset",
        source=f"dataset:{dataset.slug}",
        url=reverse("portal:dataset", args=[dataset.slug]),
        title=dataset.title,
        title_en=dataset.title_en,
        summary=dataset.description[:500],
        summary_en=dataset.description_en[:500],
    )
    return search.Document(
        entry=entry,
        body=f"{dataset.description} {keywords} {dataset.publisher.name}",
        body_en=f"{dataset.description_en} {keywords} {dataset.publisher.name_en}",
    )


def dataset_index(dataset: Dataset) -> None:
    """The dataset's search entry follows it: there while it is published, gone otherwise."""
    documents = [_dataset_document(dataset)] if dataset.published else []
    _entries_replace([f"dataset:{dataset.slug}"], documents)


# Notices --------------------------------------------------------------------------------------


def _notices_since() -> dt.datetime:
    return timezone.now() - dt.timedelta(days=module_config(PortalSettings).search_notice_days)


def _notice_document(notice: Any) -> search.Document:
    text, text_en = str(notice.text), str(notice.text_en)
    title = text.strip().splitlines()[0][:NOTICE_TITLE_CHARS] if text.strip() else ""
    title_en = text_en.strip().splitlines()[0][:NOTICE_TITLE_CHARS] if text_en.strip() else ""
    entry = SearchEntry(
        kind="notice",
        source=f"notice:{notice.key}",
        url=str(notice.url),
        title=title,
        title_en=title_en,
        summary=text[:500],
        summary_en=text_en[:500],
    )
    return search.Document(entry=entry, body=text, body_en=text_en)


def notices_index(keys: Sequence[int]) -> int:
    """The entries of the notices `keys` follow them: a notice that may be found (published,
    public, not retracted, not expired, recent enough) is indexed afresh, any other dropped.
    Returns the notices indexed."""
    provided = registry.provided(NOTICES_CAPABILITY)
    notices = [] if provided is None else provided(since=_notices_since(), keys=list(keys))
    with transaction.atomic():
        _entries_replace([f"notice:{key}" for key in keys], [_notice_document(n) for n in notices])
    return len(notices)


def notices_reindex() -> int:
    """Every notice entry rebuilt: those past their expiry or older than the bound drop out.
    Returns the notices indexed."""
    provided = registry.provided(NOTICES_CAPABILITY)
    notices = [] if provided is None else provided(since=_notices_since())
    with transaction.atomic():
        old = SearchEntry.objects.filter(kind="notice")
        search.entries_unindex(old.values_list("id", flat=True))
        old.delete()
        documents = [_notice_document(n) for n in notices]
        if documents:
            SearchEntry.objects.bulk_create([d.entry for d in documents])
            search.entries_index(documents)
    return len(notices)


@task()
def notice_reindex(key: int) -> int:
    """After a post is written: its search entry follows it (idempotent)."""
    return notices_index([key])


@task()
def notices_refresh() -> int:
    """Daily: notices that expired or grew older than the bound leave the search."""
    return notices_reindex()


def notice_changed(key: int, *, visible_at: dt.datetime | None = None) -> None:
    """Offered to the publishing module (`public_notice_changed`): a notice was written or
    deleted; its entry is rebuilt by a task once the change commits. A notice that becomes
    visible only later (a scheduled post: `visible_at`) is indexed again then, by a task the
    backend holds until that time; a backend that cannot wait leaves it to the daily refresh."""
    transaction.on_commit(lambda: notice_reindex.enqueue(key))
    if visible_at is None or visible_at <= timezone.now():
        return
    if task_backends[notice_reindex.backend].supports_defer:
        transaction.on_commit(lambda: notice_reindex.using(run_after=visible_at).enqueue(key))
