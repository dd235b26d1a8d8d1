"""The pool's check of a lent PostgreSQL connection: a dropped one is refused, a sound one
passes without a round trip."""

from __future__ import annotations

import os
from collections.abc import Iterator
import time
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from civichub.core.dbcheck import pooled_connection_check
from conftest import require_service

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def server_url() -> str:
    url = os.environ.get("CIVICHUB_TEST_DATABASE_URL") or DEFAULT_POSTGRES
    return urlunsplit(urlsplit(url)._replace(path="/postgres"))


@pytest.fixture
def admin() -> Iterator[psycopg.Connection]:
    try:
        conn = psycopg.connect(server_url(), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        require_service("PostgreSQL", str(exc))
    with conn:
        yield conn


def last_statement(admin: psycopg.Connection, pid: int) -> tuple[str, object]:
    row = admin.execute(
        "SELECT query, state_change FROM pg_stat_activity WHERE pid = %s", [pid]
    ).fetchone()
    assert row is not None
    return str(row[0]), row[1]


def test_a_connection_the_server_dropped_is_refused_and_a_sound_one_passes_unasked(
    admin: psycopg.Connection,
) -> None:
    with psycopg.connect(server_url(), autocommit=True) as pooled:
        pid = pooled.info.backend_pid
        pooled.execute("SELECT 1")
        seen = last_statement(admin, pid)
        pooled_connection_check(pooled)  # sound: passes, and the server is asked nothing
        assert last_statement(admin, pid) == seen == ("SELECT 1", seen[1])

        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        deadline = time.monotonic() + 10
        while admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]
        ).fetchone() != (0,):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with pytest.raises(psycopg.OperationalError):
            pooled_connection_check(pooled)
