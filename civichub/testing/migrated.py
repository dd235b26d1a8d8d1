"""Migrated PostgreSQL databases for benchmarks and the tests that start real processes, copied
from a template instead of migrated one by one: running every migration into an empty database
costs 45-80 s of CPU on a 2-core machine (most of it Django re-rendering the models' state after
each operation), and the benchmarks' quick runs and the system tests need dozens of fresh
databases.

The template is `migrate` itself, data migrations included, run once into a database of its own
on the same server (`civichub_migrated_<digest>`); the digest covers every migration file of the
project, Django's version and every installed distribution's version, so a change to any of them
makes a new template (old ones stay until dropped by hand: `civichub_migrated_*`). A copy is
PostgreSQL's `CREATE DATABASE … TEMPLATE`, which copies the files: triggers, functions, partitions
and rows, as `migrate` left them. SQLite's counterpart is the demo's template
(`civichub.core.demo.template.database_migrate`)."""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

CIVICHUB = Path(__file__).resolve().parents[1]
TEMPLATE_PREFIX = "civichub_migrated_"


def code_digest() -> str:
    """A digest of the project's migration files and of every installed distribution's version
    (Django's and the migrations of the apps installed from packages among them)."""
    digest = hashlib.sha256()
    for path in sorted(CIVICHUB.glob("*/migrations/*.py")):
        digest.update(f"{path.relative_to(CIVICHUB)}\0".encode())
        digest.update(path.read_bytes())
    versions = sorted(
        f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions() if d.metadata
    )
    digest.update("\n".join(versions).encode())
    return digest.hexdigest()[:16]


def with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _migrate_into(url: str) -> None:
    """Runs `civichub migrate` into the database at `url`, in a process of its own (the caller
    may have Django set up on another database, or not at all)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"CIVICHUB_TEST_DATABASE_URL", "CIVICHUB_TESTING", "DJANGO_SETTINGS_MODULE"}
    }
    with tempfile.TemporaryDirectory(prefix="civichub-template-") as data_dir:
        env.update(
            DATABASE_URL=url,
            CIVICHUB_DATA_DIR=data_dir,
            DJANGO_SETTINGS_MODULE="civichub.settings",
            PYTHONPATH=os.pathsep.join(
                [str(CIVICHUB.parent), *filter(None, [env.get("PYTHONPATH")])]
            ),
        )
        subprocess.run(
            [sys.executable, "-m", "civichub.cli", "migrate", "--verbosity", "0"],
            env=env,
            check=True,
            timeout=900,
        )


def _template(admin: psycopg.Connection, server_url: str) -> str:
    """The template's name, migrated first when this code has none yet. Two runs making it at
    once each migrate a database of their own; the first rename wins, the other drops its own."""
    name = f"{TEMPLATE_PREFIX}{code_digest()}"
    if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
        return name
    partial = f"{name}_partial_{secrets.token_hex(3)}"
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(partial)))
    try:
        _migrate_into(with_path(server_url, f"/{partial}"))
        admin.execute(
            sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                sql.Identifier(partial), sql.Identifier(name)
            )
        )
    except psycopg.errors.DuplicateDatabase:
        pass  # another run made it first
    finally:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(partial))
        )
    return name


def create_migrated_postgres(server_url: str, name: str) -> None:
    """Database `name` on the server of `server_url` (any database path), made afresh as a
    migrated copy of this code's template, the template made first when missing. A database of
    that name is dropped first."""
    maintenance = with_path(server_url, "/postgres")
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=10) as admin:
        template = _template(admin, server_url)
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        create = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template)
        )
        # A copy refuses while another session is connected to the template: a run making its
        # own copy at the same moment holds no connection to it, so this is brief if it occurs.
        for attempt in range(20):
            try:
                admin.execute(create)
                return
            except psycopg.errors.ObjectInUse:
                if attempt == 19:
                    raise
                time.sleep(0.5)
