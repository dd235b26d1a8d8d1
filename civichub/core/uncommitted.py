"""Which cached subjects the open transaction of a database connection has changed.

A cache that serves more than one transaction (every process through Redis, or the threads of
one process) must never be given what a transaction read of its own uncommitted change: other
readers would be served rows not yet committed, and after a rollback rows that never were. So
a change made inside a transaction is recorded here and announced to the cache only when the
transaction commits (at once outside a transaction), and until then the transaction reads the
subject from the database and keeps what it read nowhere (`changed`).

The record is cleared when the transaction commits; Django announces no rollback, so the first
read that finds the connection outside any transaction clears what a rolled-back transaction
left. A record left over can only send reads to the database until then, never serve a value.
"""

from __future__ import annotations

from collections.abc import Callable
from weakref import WeakKeyDictionary

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

# per connection (one a thread), the subjects its open transaction changed
_changed: WeakKeyDictionary[BaseDatabaseWrapper, set[str]] = WeakKeyDictionary()


def record(subject: str, announce: Callable[[], None]) -> None:
    """The open transaction (if any) changed `subject`: `announce` tells the cache once it
    commits, or at once outside a transaction."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        announce()
        return
    _changed.setdefault(connection, set()).add(subject)

    def committed() -> None:
        _changed.get(connection, set()).discard(subject)
        announce()

    transaction.on_commit(committed)


def changed(subject: str) -> bool:
    """Whether this connection's open transaction changed `subject`: then it reads the subject
    from the database and shares nothing it reads."""
    connection = transaction.get_connection()
    subjects = _changed.get(connection)
    if not subjects or subject not in subjects:
        return False
    if connection.in_atomic_block:
        return True
    # The transaction ended and no commit cleared the record: it was rolled back (or is
    # committing, and the announcement comes right after the callbacks before it).
    subjects.discard(subject)
    return False


def forget() -> None:
    """Forgets every record (tests: each test's transaction is rolled back, which nothing
    announces)."""
    _changed.clear()
