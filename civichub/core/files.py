"""Files a transaction decides: a file is written to storage before the row that names it, so
that a slow write holds no lock; if the row is then not committed the file must go, or it stays
on disk with nothing pointing at it.

`files_kept_on_commit` removes such a file when its own transaction fails. What it cannot see
(an outer transaction rolled back after it, a process killed between the write and the commit)
`stored_files_sweep` finds later: a file in a file field's folder that no row names, older than
a grace period longer than any transaction, is removed."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.apps import apps
from django.core.files.storage import Storage, default_storage
from django.db import models, transaction
from django.utils import timezone

from civichub.core.audit import audit_record

__all__ = ["SweepReport", "file_folders", "files_kept_on_commit", "stored_files_sweep"]

# Longer than any transaction that writes a file before its row: a file younger than this may
# belong to a row not yet committed.
SWEEP_GRACE = dt.timedelta(hours=24)
_BATCH = 500


@contextlib.contextmanager
def files_kept_on_commit(*names: str) -> Iterator[list[str]]:
    """Runs the block in a transaction that keeps or removes files just stored: `names`, and
    every name the block appends to the list it is given (append each at once, so a failure
    half-way removes the ones already written). The files are removed when the block raises or
    asks for a rollback (`transaction.set_rollback(True)`), and kept when it commits.

    Inside an outer transaction the block is a savepoint: its own rollback removes the files, a
    later rollback of the outer transaction does not (Django calls nothing on a rollback), so a
    service that stores files runs this outside any other transaction."""
    written = list(names)
    try:
        with transaction.atomic():
            yield written
            rolled_back = transaction.get_rollback()
    except BaseException:
        _delete(written)
        raise
    if rolled_back:
        _delete(written)


def _delete(names: Iterable[str]) -> None:
    for name in names:
        default_storage.delete(name)


# The sweep -----------------------------------------------------------------------------------


@dataclass
class SweepReport:
    folders: int = 0
    examined: int = 0
    removed: int = 0
    bytes_removed: int = 0
    # The names removed (or, in a dry run, that would be), the first 100.
    names: list[str] = field(default_factory=list)


def file_folders() -> dict[str, list[tuple[type[models.Model], str]]]:
    """Each folder that file fields store into (the fixed start of their `upload_to`, before any
    date pattern), with the (model, field) pairs that name files there. A field whose folder is
    computed (a callable `upload_to`) or empty is left out: the sweep cannot tell its files from
    other files."""
    folders: dict[str, list[tuple[type[models.Model], str]]] = defaultdict(list)
    for model in apps.get_models():
        for model_field in model._meta.concrete_fields:
            if not isinstance(model_field, models.FileField):
                continue
            upload_to = model_field.upload_to
            if callable(upload_to):
                continue
            fixed = str(upload_to).split("%", 1)[0]
            folder = fixed[: fixed.rfind("/") + 1]
            if folder:
                folders[folder].append((model, model_field.attname))
    return dict(folders)


def stored_files_sweep(
    *,
    now: dt.datetime | None = None,
    grace: dt.timedelta = SWEEP_GRACE,
    dry_run: bool = False,
    storage: Storage | None = None,
) -> SweepReport:
    """Removes the files in the file fields' folders that no row names and that were last
    changed more than `grace` ago; `dry_run` only counts them. Audited once with the counts."""
    storage = storage or default_storage
    cutoff = (now or timezone.now()) - grace
    report = SweepReport()
    folders = file_folders()
    # A folder inside another (a/ and a/b/) is walked once, as part of the outer one.
    outer = [f for f in sorted(folders) if not any(f != o and f.startswith(o) for o in folders)]
    for folder in outer:
        report.folders += 1
        owners = [
            pair for name, pairs in folders.items() if name.startswith(folder) for pair in pairs
        ]
        batch: list[str] = []
        for name in _walk(storage, folder):
            report.examined += 1
            batch.append(name)
            if len(batch) >= _BATCH:
                _sweep_batch(storage, batch, owners, cutoff, dry_run, report)
                batch = []
        if batch:
            _sweep_batch(storage, batch, owners, cutoff, dry_run, report)
    audit_record(
        actor=None,
        action="core.files.sweep",
        object_type="core.stored_file",
        changes={
            "dry_run": dry_run,
            "folders": report.folders,
            "examined": report.examined,
            "removed": report.removed,
            "bytes_removed": report.bytes_removed,
        },
    )
    return report


def _walk(storage: Storage, folder: str) -> Iterator[str]:
    try:
        directories, files = storage.listdir(folder)
    except FileNotFoundError:
        return
    for name in sorted(files):
        yield f"{folder}{name}"
    for directory in sorted(directories):
        yield from _walk(storage, f"{folder}{directory}/")


def _sweep_batch(
    storage: Storage,
    names: list[str],
    owners: list[tuple[type[models.Model], str]],
    cutoff: dt.datetime,
    dry_run: bool,
    report: SweepReport,
) -> None:
    named: set[str] = set()
    for model, attname in owners:
        named.update(
            model._base_manager.filter(**{f"{attname}__in": names}).values_list(attname, flat=True)
        )
    for name in names:
        if name in named:
            continue
        try:
            changed = storage.get_modified_time(name)
        except (FileNotFoundError, NotImplementedError):
            continue
        if timezone.is_naive(changed):
            changed = timezone.make_aware(changed)
        if changed > cutoff:
            continue
        size = storage.size(name)
        # Asked again just before removing: a row may have come to name it meanwhile.
        if any(model._base_manager.filter(**{attname: name}).exists() for model, attname in owners):
            continue
        if not dry_run:
            storage.delete(name)
        report.removed += 1
        report.bytes_removed += size
        if len(report.names) < 100:
            report.names.append(name)
