"""Files a transaction decides: a file is written to storage before the row that names it, so
that a slow write holds no lock; if the row is then not committed the file must go, or it stays
on disk with nothing pointing at it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

from django.core.files.storage import default_storage
from django.db import transaction

__all__ = ["files_kept_on_commit"]


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
