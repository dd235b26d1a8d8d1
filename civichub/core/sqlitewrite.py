"""Short write transactions on SQLite, from many processes at once.

SQLite has one writer at a time. A process that finds the database taken is put to sleep by
SQLite's busy handler for 1, 2, 5, 10, 20 ms and more, rechecking only when it wakes: with a
handful of processes writing short transactions (reposts of one post), the writers spend most
of their time asleep while the database sits free. Writers that go through `sqlite_writer`
first queue on an exclusive `flock` of a file beside the database, which the kernel hands to
the next waiter as soon as it is released (and releases by itself when a process dies, even by
SIGKILL), so that among them SQLite's lock is free whenever one asks for it. Any other writer
still meets SQLite's own lock and busy handler, which remain what keeps the data right.

`filelock` and `fasteners` poll a non-blocking lock in a sleep loop: the very wait this
avoids; hence the few lines of `fcntl` here."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any, cast

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.sqlite3.base import DatabaseWrapper

try:
    import fcntl
except ImportError:  # pragma: no cover  (no flock: SQLite's own lock alone)
    fcntl = None  # type: ignore[assignment]

_gates: dict[tuple[int, str], tuple[threading.Lock, int]] = {}
_gates_lock = threading.Lock()


def _gate(path: str) -> tuple[threading.Lock, int] | None:
    """This process's lock and open file for the database at `path`. The file is opened in
    each process anew: a descriptor inherited through fork shares its lock with the parent.
    Threads of one process queue on the lock first, as they share the process's file."""
    if fcntl is None:
        return None
    key = (os.getpid(), path)
    gate = _gates.get(key)
    if gate is None:
        with _gates_lock:
            gate = _gates.get(key)
            if gate is None:
                fd = os.open(f"{path}-writers.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                gate = _gates[key] = (threading.Lock(), fd)
    return gate


@contextlib.contextmanager
def sqlite_writer(connection: BaseDatabaseWrapper) -> Iterator[Any]:
    """A cursor of the driver itself (its own `?` and `:name` placeholders) in a write
    transaction that commits when the block ends and rolls back if it raises; the driver's
    errors come out as Django's. Inside a caller's transaction it is a savepoint of it, with
    no queueing (the caller holds the database already)."""
    connection.ensure_connection()
    if connection.in_atomic_block or not connection.get_autocommit():
        with transaction.atomic(using=connection.alias), connection.wrap_database_errors:
            yield connection.connection.cursor()
        return
    in_memory = cast(DatabaseWrapper, connection).is_in_memory_db()
    gate = None if in_memory else _gate(connection.settings_dict["NAME"])
    with contextlib.ExitStack() as held:
        if gate is not None and fcntl is not None:
            lock, fd = gate
            held.enter_context(lock)
            fcntl.flock(fd, fcntl.LOCK_EX)
            held.callback(fcntl.flock, fd, fcntl.LOCK_UN)
        with connection.wrap_database_errors:
            cursor = connection.connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
                cursor.execute("COMMIT")
            except BaseException:
                if connection.connection.in_transaction:
                    cursor.execute("ROLLBACK")
                raise
