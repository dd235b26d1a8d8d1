"""Sources and imports. `source_sync` registers the mapping files; `import_start` stores a
delivery and queues its import after commit; `import_run` reads it in steps of
`progress_every` rows, each step one transaction (so the progress bar moves and a crash loses
at most one step); `import_rollback` withdraws a delivery; `source_pull` reads a department's
REST endpoint from its cursor on.

Idempotent: a delivery whose bytes were imported before (and not withdrawn) is the same batch
again; a record whose values did not change writes nothing; a batch already run is not run
twice. Every value keeps its provenance (source, record id, batch, received, valid from/to)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import tomllib
from pathlib import Path
from typing import Any

import requests
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import task

from civichub.core.audit import audit_record
from civichub.core.config import module_config
from civichub.core.context import acting
from civichub.core.errors import ValidationFailed
from civichub.core.models import Organisation, OrganisationKind, User
from civichub.core.outbound import OutboundRefused
from civichub.core.permissions import require
from civichub.datahub.conf import DatahubSettings
from civichub.datahub.connectors import DeliveryUnreadable, delivery_rows, rest_page
from civichub.datahub.mapping import (
    CleanRow,
    Mapping,
    RowProblem,
    mapping_files,
    mapping_from_dict,
    mapping_load,
    row_clean,
)
from civichub.datahub.models import (
    AttributeValue,
    BatchStatus,
    ImportBatch,
    Person,
    RowError,
    Source,
    SourceRecord,
)
from civichub.datahub.services.households import (
    household_place,
    households_withdraw,
    record_place,
    records_place,
)
from civichub.datahub.services.linking import person_community_set, record_link

SOURCES_DIR = Path(__file__).resolve().parent.parent / "sources"

logger = logging.getLogger(__name__)


def sources_dir() -> Path:
    configured = module_config(DatahubSettings).sources_dir
    return Path(configured) if configured else SOURCES_DIR


def source_mapping(source: Source) -> Mapping:
    return mapping_from_dict(source.mapping)


@transaction.atomic
def source_sync(*, city: Organisation, folder: Path | None = None) -> list[Source]:
    """Registers (or updates) a source for each mapping file whose department (by its
    function) exists in the city. An operator command and the demo call it; the files are
    reviewed like code, so no user is asked."""
    registered = []
    for path in mapping_files(folder or sources_dir()):
        mapping = mapping_load(path)
        department = (
            Organisation.objects.filter(
                path__startswith=city.path,
                kind=OrganisationKind.DEPARTMENT,
                function=mapping.department_function,
            )
            .order_by("depth", "pk")
            .first()
        )
        if department is None:
            continue
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
        source, _created = Source.objects.update_or_create(
            key=mapping.key,
            defaults={
                "name": mapping.name,
                "department": department,
                "format": mapping.format,
                "mapping": raw,
                "url": mapping.url,
                "pull_every_minutes": mapping.pull_every_minutes,
            },
        )
        audit_record(
            actor=None,
            action="datahub.source.sync",
            obj=source,
            changes={"file": path.name, "format": mapping.format},
        )
        registered.append(source)
    return registered


def _content_hash(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _row_count(fmt: str, content: bytes) -> int:
    try:
        return sum(1 for _row in delivery_rows(fmt, content))
    except DeliveryUnreadable as exc:
        raise ValidationFailed.on("file", _("文件无法读取：%(why)s") % {"why": exc}) from exc


@transaction.atomic
def import_start(
    *, actor: User | None, source: Source, content: bytes, file_name: str = "", fmt: str = ""
) -> ImportBatch:
    """Stores a delivery and queues its import. The same bytes imported before (and not
    withdrawn) give back that batch: a re-run changes nothing."""
    source = Source.objects.select_for_update().get(pk=source.pk)
    if actor is not None:
        require(actor, "datahub.import.run", source)
    digest = _content_hash(content)
    earlier = (
        ImportBatch.objects.filter(source=source, content_hash=digest)
        .exclude(status=BatchStatus.ROLLED_BACK)
        .first()
    )
    if earlier is not None:
        return earlier
    fmt = fmt or (source.format if source.format != "rest" else "json")
    total = _row_count(fmt, content)
    limit = module_config(DatahubSettings).max_rows
    if total > limit:
        raise ValidationFailed.on(
            "file", _("文件超过 %(limit)s 行，请分批导入。") % {"limit": limit}
        )
    batch = ImportBatch.objects.create(
        source=source,
        file_name=file_name[:200],
        format=fmt,
        content_hash=digest,
        payload=content,
        started_by=actor,
        rows_total=total,
    )
    audit_record(
        actor=actor,
        action="datahub.import.start",
        obj=batch,
        changes={"file": file_name, "rows": total, "sha256": digest},
    )
    transaction.on_commit(lambda: import_task.enqueue(batch.pk))
    return batch


@task()
def import_task(batch_id: int) -> str:
    with acting(channel="task"):
        return import_run(batch_id=batch_id).status


def import_run(*, batch_id: int) -> ImportBatch:
    """Runs a queued import (idempotent: a batch that is not queued is left as it is)."""
    with transaction.atomic():
        batch = ImportBatch.objects.select_for_update().select_related("source").get(pk=batch_id)
        if batch.status != BatchStatus.QUEUED:
            return batch
        batch.status = BatchStatus.RUNNING
        batch.save(update_fields=["status"])
    mapping = source_mapping(batch.source)
    fmt = batch.format
    step = max(1, module_config(DatahubSettings).progress_every)
    seen: set[str] = set()
    chunk: list[tuple[int, dict[str, Any]]] = []
    for row in delivery_rows(fmt, bytes(batch.payload or b"")):
        chunk.append(row)
        if len(chunk) >= step:
            _import_step(batch, mapping, chunk, seen)
            chunk = []
    _import_step(batch, mapping, chunk, seen)
    with transaction.atomic():
        if mapping.household:
            records_place(register=batch.source)
        batch.status = BatchStatus.DONE
        batch.finished_at = timezone.now()
        batch.save(update_fields=["status", "finished_at"])
        Source.objects.filter(pk=batch.source_id).update(last_received_at=batch.finished_at)
        audit_record(
            actor=batch.started_by,
            action="datahub.import.done",
            obj=batch,
            changes={
                "accepted": batch.rows_accepted,
                "rejected": batch.rows_rejected,
                "unchanged": batch.rows_unchanged,
                "values": batch.values_written,
            },
        )
    return batch


@transaction.atomic
def _import_step(
    batch: ImportBatch, mapping: Mapping, rows: list[tuple[int, dict[str, Any]]], seen: set[str]
) -> None:
    communities: dict[str, Organisation | None] = {}
    errors = []
    ids = [str(raw.get(mapping.record_id) or "").strip() for _n, raw in rows]
    known = {
        r.record_id: r
        for r in SourceRecord.objects.filter(source=batch.source, record_id__in=ids).select_related(
            "person"
        )
    }
    for number, raw in rows:
        clean = row_clean(mapping, raw)
        if isinstance(clean, CleanRow) and clean.record_id in seen:
            clean = RowProblem("record_id_repeated", mapping.record_id)
        if isinstance(clean, RowProblem):
            errors.append(
                RowError(
                    batch=batch,
                    row_number=number,
                    code=clean.code,
                    field=clean.field,
                    message=clean.message,
                    raw=[[str(k), str(v) if v is not None else ""] for k, v in raw.items()],
                )
            )
            continue
        seen.add(clean.record_id)
        if clean.community and clean.community not in communities:
            communities[clean.community] = Organisation.objects.filter(code=clean.community).first()
        written = _record_apply(batch, mapping, clean, communities.get(clean.community), known)
        batch.rows_accepted += 1
        batch.values_written += written
        batch.rows_unchanged += written == 0
    RowError.objects.bulk_create(errors)
    batch.rows_rejected += len(errors)
    batch.rows_done += len(rows)
    batch.save(
        update_fields=[
            "rows_done",
            "rows_accepted",
            "rows_rejected",
            "rows_unchanged",
            "values_written",
        ]
    )


def _record_apply(
    batch: ImportBatch,
    mapping: Mapping,
    clean: CleanRow,
    community: Organisation | None,
    known: dict[str, SourceRecord],
) -> int:
    """Stores one valid row: links a new record, then writes the values that changed (closing
    the ones they replace). Returns the number of values written."""
    record = known.get(clean.record_id)
    if record is None:
        record = record_link(
            SourceRecord(source=batch.source, record_id=clean.record_id, batch=batch),
            clean.person,
            community,
        )
    if record.person is not None:
        person_community_set(record.person, community)
    if mapping.household:
        household_place(
            record=record,
            batch=batch,
            number=clean.values.get(mapping.household, ""),
            relation=clean.values.get(mapping.household_relation, ""),
            address=clean.person.get("address", ""),
            community=community,
        )
    else:
        record_place(record=record, address=clean.person.get("address", ""), community=community)
    now = timezone.now()
    delivered = {k: v for k, v in clean.person.items() if k != "identity_number"}
    delivered.update(clean.values)
    current = (
        {v.name: v for v in AttributeValue.objects.filter(record=record, valid_to=None)}
        if clean.record_id in known
        else {}
    )
    closing = [v.pk for name, v in current.items() if delivered.get(name) != v.value]
    if closing:
        AttributeValue.objects.filter(pk__in=closing).update(valid_to=now, closed_by=batch)
    new = [
        AttributeValue(
            record=record, name=name, value=value, batch=batch, received_at=now, valid_from=now
        )
        for name, value in delivered.items()
        if name not in current or current[name].value != value
    ]
    AttributeValue.objects.bulk_create(new)
    return len(new) + sum(1 for name in current if name not in delivered)


@transaction.atomic
def import_rollback(*, actor: User, batch: ImportBatch) -> ImportBatch:
    """Withdraws a delivery: its values go, the values it replaced hold again, records that
    only it brought are removed (with people left without any record), the household moves it
    made are undone (`households_withdraw`), and the batch is marked withdrawn, so the same
    file may be imported again."""
    batch = ImportBatch.objects.select_for_update().select_related("source").get(pk=batch.pk)
    require(actor, "datahub.import.rollback", batch)
    if batch.status == BatchStatus.ROLLED_BACK:
        return batch
    households = households_withdraw(batch=batch)
    removed = AttributeValue.objects.filter(batch=batch).delete()[0]
    reopened = AttributeValue.objects.filter(closed_by=batch).update(valid_to=None, closed_by=None)
    orphans = SourceRecord.objects.filter(batch=batch).annotate(n=Count("values")).filter(n=0)
    people = set(orphans.exclude(person=None).values_list("person_id", flat=True))
    records = orphans.count()
    SourceRecord.objects.filter(pk__in=list(orphans.values_list("pk", flat=True))).delete()
    Person.objects.filter(pk__in=people).annotate(
        n=Count("records"), seen=Count("accesses")
    ).filter(n=0, seen=0).delete()
    if source_mapping(batch.source).household:
        records_place(register=batch.source)
    batch.status, batch.rolled_back_at = BatchStatus.ROLLED_BACK, timezone.now()
    batch.save(update_fields=["status", "rolled_back_at"])
    audit_record(
        actor=actor,
        action="datahub.import.rollback",
        obj=batch,
        changes={
            "values_removed": removed,
            "values_reopened": reopened,
            "records": records,
            **households,
        },
    )
    return batch


def source_pull(*, actor: User | None, source: Source) -> list[ImportBatch]:
    """Reads a REST source from its cursor on, one batch per page, until it has caught up or
    read `pull_max_pages` pages; the cursor moves after each page's import."""
    if actor is not None:
        require(actor, "datahub.import.run", source)
    config = module_config(DatahubSettings)
    batches = []
    for _page in range(config.pull_max_pages):
        try:
            page = rest_page(source.url, cursor=source.cursor, timeout=config.pull_timeout_seconds)
        except OutboundRefused as exc:
            raise ValidationFailed.on(
                "url", _("不允许连接该地址（%(reason)s）。") % {"reason": exc.reason}
            ) from exc
        except (requests.RequestException, DeliveryUnreadable) as exc:
            raise ValidationFailed.on("url", _("无法读取部门接口：%(why)s") % {"why": exc}) from exc
        if page.items:
            batch = import_start(
                actor=None, source=source, content=page.body, file_name=f"cursor={source.cursor}"
            )
            batches.append(import_run(batch_id=batch.pk))
        source.cursor = page.next_cursor or source.cursor
        source.last_pulled_at = timezone.now()
        source.save(update_fields=["cursor", "last_pulled_at"])
        if not page.items or not page.next_cursor:
            break
    return batches


def sources_due(now: dt.datetime | None = None) -> list[Source]:
    now = now or timezone.now()
    due = []
    for source in Source.objects.filter(format="rest", pull_every_minutes__gt=0):
        every = dt.timedelta(minutes=source.pull_every_minutes)
        if source.last_pulled_at is None or source.last_pulled_at + every <= now:
            due.append(source)
    return due


def sources_pull_due() -> int:
    """The periodic pull: every REST source whose interval has passed. A department's endpoint
    that is down or refused is logged and tried again at the next run; it never keeps the other
    departments' data from coming in."""
    pulled = 0
    for source in sources_due():
        try:
            pulled += len(source_pull(actor=None, source=source))
        except ValidationFailed as exc:
            logger.warning("data source %s not pulled: %s", source.key, exc.message)
    return pulled
