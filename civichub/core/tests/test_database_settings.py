"""What the project's PostgreSQL connections are opened with."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_postgresql_connections_never_jit_compile() -> None:
    """A trace at ten million events was estimated past `jit_above_cost` and compiled before
    every walk (100-1,600 ms for a 5 ms statement): the connections turn JIT off."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite compiles nothing")
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone() == ("off",)
        # A statement planned far past the server's JIT thresholds still compiles nothing.
        cursor.execute("SET LOCAL jit_above_cost = 0")
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) SELECT sum(g) FROM generate_series(1, 10) g")
        plan = cursor.fetchone()[0][0]
        assert "JIT" not in plan, plan
