"""Scratch PostgreSQL databases and Redis database numbers for the tests that run real
processes (the fault tests, the scale-out test): each test gets a database of its own on the
test run's PostgreSQL server (CIVICHUB_TEST_DATABASE_URL) and a flushed Redis database number of
its own on the run's Redis server (REDIS_URL). Without the service the test skips with a
reason, and under CI=true fails (conftest's `require_service`)."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import redis
from psycopg import sql

from civichub.testing.migrated import create_migrated_postgres, with_path
from conftest import require_service

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


@contextlib.contextmanager
def scratch_postgres(prefix: str) -> Iterator[str]:
    """A fresh database named `<prefix>_<random>`, migrated (a copy of the migrated template of
    this code: `civichub.testing.migrated`), dropped afterwards."""
    server = os.environ.get("CIVICHUB_TEST_DATABASE_URL") or DEFAULT_POSTGRES
    maintenance = with_path(server, "/postgres")
    name = f"{prefix}_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(maintenance, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        require_service("PostgreSQL", f"{urlsplit(maintenance).netloc}: {exc}")
    with admin:
        create_migrated_postgres(maintenance, name)
        try:
            yield with_path(server, f"/{name}")
        finally:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def system_redis_number(number: int) -> int:
    """The test's own Redis database number, or the one CIVICHUB_TEST_SYSTEM_REDIS_DB names
    (for a run beside another that uses the usual numbers)."""
    return int(os.environ.get("CIVICHUB_TEST_SYSTEM_REDIS_DB") or number)


@contextlib.contextmanager
def redis_database(number: int) -> Iterator[str]:
    """Database `number` (or CIVICHUB_TEST_SYSTEM_REDIS_DB) on the run's Redis server, flushed
    before and after."""
    number = system_redis_number(number)
    url = with_path(os.environ.get("REDIS_URL") or DEFAULT_REDIS, f"/{number}")
    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        require_service("Redis", f"{urlsplit(url).netloc}: {exc}")
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()
