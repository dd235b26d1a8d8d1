"""The suite's flush between transactional tests, quicker on PostgreSQL.

After each transactional test (`transactional_db`, `live_server`, `django_db(transaction=True)`)
Django empties every table with one `TRUNCATE` of all of them. On PostgreSQL that gives every
table and index of the schema (some 120 tables and 540 indexes) new files, however few rows the
test wrote: 0.75-1.3 s with every table empty, 1.5-5 s a test on a busy 2-core machine, for each
of the 90-odd such tests of CI's PostgreSQL run (the teardowns of 41 tests of broadcast's
streaming and Mastodon OAuth and casework's Open311 clients took 91-182 s in all, and 28-34 s
with this flush). Between tests the flush here asks first which tables hold rows at all (one
query) and empties only those: `DELETE` for the tables with a few rows, one `TRUNCATE …
CASCADE` for those with many. The tables end as empty as `TRUNCATE` leaves them, and sequences
go on counting either way, as they do with Django's own flush (no `RESTART IDENTITY`).

It is safe because every foreign key of the schema is deferrable and initially deferred (Django's
own), so the `DELETE`s need no order inside the flush's transaction, and no table has a trigger
on `DELETE` other than the audit log's guard, which the suite lifts for every flush (conftest).
A flush asked for with sequences reset, and every flush outside a test's teardown (`civichub demo
--reset` in a test, say), is Django's own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django.test import TransactionTestCase

# A table with more rows than this is truncated rather than deleted from row by row.
FEW_ROWS = 1000

_between_tests = False


@contextlib.contextmanager
def _teardown() -> Iterator[None]:
    global _between_tests
    _between_tests = True
    try:
        yield
    finally:
        _between_tests = False


def filled_tables(connection: Any, tables: list[str]) -> dict[str, int]:
    """The tables holding rows, each with its count up to FEW_ROWS + 1, in one query."""
    quote = connection.ops.quote_name
    # The schema's own table names, quoted: no outside input reaches these statements.
    probes = " UNION ALL ".join(
        f"SELECT {index}, (SELECT count(*) FROM (SELECT 1 FROM {quote(table)} "  # noqa: S608
        f"LIMIT {FEW_ROWS + 1}) AS t)"
        for index, table in enumerate(tables)
    )
    with connection.cursor() as cursor:
        cursor.execute(probes)
        rows = cursor.fetchall()
    return {tables[index]: count for index, count in rows if count}


def emptying(connection: Any, tables: list[str]) -> list[str]:
    """The statements that leave every one of `tables` empty, touching only those with rows."""
    quote = connection.ops.quote_name
    filled = filled_tables(connection, tables)
    many = sorted(t for t, n in filled.items() if n > FEW_ROWS)
    # The TRUNCATE goes first: PostgreSQL refuses to truncate a table with checks of deferred
    # foreign keys pending, which a DELETE before it could leave. CASCADE adds the tables that
    # refer to these, which are being emptied anyway.
    statements = [f"TRUNCATE {', '.join(map(quote, many))} CASCADE;"] if many else []
    few = [table for table, count in sorted(filled.items()) if count <= FEW_ROWS]
    statements += [f"DELETE FROM {quote(table)};" for table in few]  # noqa: S608
    return statements


def install() -> None:
    """Makes the flush of a transactional test's teardown on PostgreSQL empty only the tables
    that hold rows."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original_sql_flush = DatabaseOperations.sql_flush
    original_teardown = TransactionTestCase._fixture_teardown  # type: ignore[attr-defined]

    def sql_flush(
        self: Any,
        style: Any,
        tables: list[str],
        *,
        reset_sequences: bool = False,
        allow_cascade: bool = False,
    ) -> list[str]:
        if not _between_tests or reset_sequences or not tables:
            return original_sql_flush(
                self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
            )
        return emptying(self.connection, sorted(tables))

    def fixture_teardown(self: Any) -> None:
        with _teardown():
            original_teardown(self)

    DatabaseOperations.sql_flush = sql_flush  # type: ignore[assignment,method-assign]
    TransactionTestCase._fixture_teardown = fixture_teardown  # type: ignore[attr-defined]
