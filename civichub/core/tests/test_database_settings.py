"""What the project's database connections are opened with."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def _sqlite_settings() -> None:
    with connection.cursor() as cursor:
        found = {}
        for pragma in ("journal_mode", "synchronous", "foreign_keys", "wal_autocheckpoint"):
            cursor.execute(f"PRAGMA {pragma}")
            found[pragma] = cursor.fetchone()[0]
    # The test database may live in memory, where SQLite keeps no write-ahead log.
    assert found["journal_mode"] in ("wal", "memory"), found
    assert found == {**found, "synchronous": 1, "foreign_keys": 1, "wal_autocheckpoint": 10000}


def _postgresql_settings() -> None:
    """A trace at ten million events was estimated past `jit_above_cost` and compiled before
    every walk (100-1,600 ms for a 5 ms statement): the connections turn JIT off."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone() == ("off",)
        # A statement planned far past the server's JIT thresholds still compiles nothing.
        cursor.execute("SET LOCAL jit_above_cost = 0")
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) SELECT sum(g) FROM generate_series(1, 10) g")
        plan = cursor.fetchone()[0][0]
        assert "JIT" not in plan, plan


def test_connections_are_opened_with_the_projects_settings() -> None:
    """SQLite: a write-ahead log checkpointed every 10,000 pages, foreign keys enforced;
    PostgreSQL: no JIT compilation."""
    if connection.vendor == "sqlite":
        _sqlite_settings()
    else:
        _postgresql_settings()
