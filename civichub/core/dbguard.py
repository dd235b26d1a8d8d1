"""The database-level guard that makes the audit log append-only (triggers refusing UPDATE,
DELETE and TRUNCATE). Lifting it is reserved for whole-database operations an operator runs
from the command line (`civichub demo --reset`) and for the test suite's database flush."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

SQLITE_INSTALL = [
    """CREATE TRIGGER IF NOT EXISTS core_auditevent_no_update BEFORE UPDATE ON core_auditevent
       BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;""",
    """CREATE TRIGGER IF NOT EXISTS core_auditevent_no_delete BEFORE DELETE ON core_auditevent
       BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;""",
]
SQLITE_REMOVE = [
    "DROP TRIGGER IF EXISTS core_auditevent_no_update;",
    "DROP TRIGGER IF EXISTS core_auditevent_no_delete;",
]
POSTGRES_INSTALL = [
    """CREATE OR REPLACE FUNCTION core_auditevent_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'audit events are append-only'; END; $$ LANGUAGE plpgsql;""",
    "DROP TRIGGER IF EXISTS core_auditevent_append_only ON core_auditevent;",
    """CREATE TRIGGER core_auditevent_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
       ON core_auditevent FOR EACH STATEMENT EXECUTE FUNCTION core_auditevent_append_only();""",
]
POSTGRES_REMOVE = ["DROP TRIGGER IF EXISTS core_auditevent_append_only ON core_auditevent;"]


def _statements(vendor: str, install: bool) -> list[str]:
    if vendor == "sqlite":
        return SQLITE_INSTALL if install else SQLITE_REMOVE
    if vendor == "postgresql":
        return POSTGRES_INSTALL if install else POSTGRES_REMOVE
    return []


def install(connection: Any) -> None:
    with connection.cursor() as cursor:
        for statement in _statements(connection.vendor, True):
            cursor.execute(statement)


def remove(connection: Any) -> None:
    with connection.cursor() as cursor:
        for statement in _statements(connection.vendor, False):
            cursor.execute(statement)


@contextlib.contextmanager
def lifted(connection: Any) -> Iterator[None]:
    remove(connection)
    try:
        yield
    finally:
        install(connection)
