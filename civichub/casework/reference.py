"""Reference data every intake reads, kept in the process: the active categories with their
attributes, the working-day calendar and the receiving area. Reading them from the database on
every message cost five of the fourteen queries of an Open311 POST.

A copy is good while the deployment's reference token is unchanged. Any saved or deleted
category, category attribute, calendar day or organisation replaces the token when its
transaction commits (`changed`, connected to the models' save and delete signals in
`apps.ready`, so that the admin and data loaded outside the services invalidate as well: this is
cache upkeep, not domain flow). Where the token lives: in the shared cache when that is Redis (every
machine sees it), else in a stamp file in the data directory (one machine, any number of
processes), read with one `stat`.

A transaction that changed reference data reads past the copies until it ends (recorded by
`core.uncommitted`, as for the public cache), so it sees its own changes, and a rollback leaves
no copy of what never was.

The copies stay in each process rather than in the shared public cache (`core.publiccache`):
intake reads them several times a message, a copy in memory costs no round trip, and it works
without Redis; only the token is shared.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache

from civichub.core import uncommitted
from civichub.core.context import current

T = TypeVar("T")

VERSION_KEY = "casework:reference-version"
SUBJECT = "casework.reference"  # what `core.uncommitted` records a transaction changed
STAMP_NAME = "casework-reference.stamp"

_lock = threading.Lock()
_local = threading.local()
_generation = [0]  # this process's own changes: a copy older than this is dropped at once


def _stamp_path() -> Path:
    return Path(settings.DATA_DIR) / "run" / STAMP_NAME


def _token_shared() -> bool:
    return not isinstance(caches["default"], LocMemCache)


def token() -> object:
    """The deployment's current reference token (None before any change was recorded). From
    the shared cache it is read once per request or task (one Open311 POST asks four times):
    another process's change is seen from the next one on; this process's own changes at once
    (`_generation`)."""
    if _token_shared():
        act = current().request_id
        memo = getattr(_local, "token", None)
        if act and memo is not None and memo[0] == act:
            return memo[1]
        value = cache.get(VERSION_KEY)
        if act:
            _local.token = (act, value)
        return value
    try:
        stat = _stamp_path().stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def _publish() -> None:
    """A new token for every process: a fresh value in the shared cache, a new stamp file
    (renamed over the old one, so its inode changes even within the clock's resolution)."""
    _generation[0] += 1
    value = uuid.uuid4().hex
    if _token_shared():
        cache.set(VERSION_KEY, value, None)
        return
    path = _stamp_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    temporary.write_text(value)
    temporary.replace(path)


def changed(**_signal: Any) -> None:
    """Reference data changed: its transaction reads past the copies until it ends;
    every process drops its copies once it commits."""
    _generation[0] += 1
    uncommitted.record(SUBJECT, _publish)


def forget() -> None:
    """Drops every copy in this process (tests, between databases)."""
    _generation[0] += 1


class ProcessCached(Generic[T]):
    """`get()` gives the loader's value, loaded again when the reference token changed."""

    def __init__(self, loader: Callable[[], T]) -> None:
        self._loader = loader
        self._value: T | None = None
        self._key: tuple[object, int] | None = None

    def get(self) -> T:
        if uncommitted.changed(SUBJECT):
            return self._loader()
        key = (token(), _generation[0])  # read before loading: a change meanwhile reloads
        with _lock:
            if self._key == key and self._value is not None:
                return self._value
        value = self._loader()
        with _lock:
            if key[1] == _generation[0]:
                self._value, self._key = value, key
        return value
