"""Backups of the database (and, when asked, of the uploaded files) and their restore.

SQLite is copied with SQLite's online backup API, consistent while other processes keep writing
(a file copy could tear between the database and its write-ahead log). PostgreSQL is dumped with
`pg_dump --format=custom` and restored with `pg_restore`, both Debian's postgresql-client. The
password goes to them in the environment (PGPASSWORD), never on a command line other users can
read. `database_summary` counts the rows of every table and checksums a few, so that a restore
can be compared with what was backed up.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess  # pg_dump and pg_restore, with argument lists, no shell  # nosec B404
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection

# Tables whose every row is checksummed as well as counted: people, the tree and the audit log.
CHECKSUM_TABLES = ("core_user", "core_organisation", "core_resident", "core_auditevent")


class BackupError(RuntimeError):
    """A backup or restore that could not be done; the message says why."""


@dataclass
class DatabaseSummary:
    rows: dict[str, int] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)


def vendor() -> str:
    return str(connection.vendor)


# PostgreSQL ----------------------------------------------------------------------------------
def _pg_environment(dbname: str | None = None) -> dict[str, str]:
    """libpq's environment for the configured server (and database, unless another is named)."""
    params = settings.DATABASES["default"]
    env = dict(os.environ)
    pairs = {
        "PGHOST": params.get("HOST") or "",
        "PGPORT": str(params.get("PORT") or ""),
        "PGUSER": params.get("USER") or "",
        "PGPASSWORD": params.get("PASSWORD") or "",
        "PGDATABASE": dbname or connection.settings_dict["NAME"],
    }
    env.update({key: value for key, value in pairs.items() if value})
    return env


def _pg_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    return path


def _run(argv: list[str], env: dict[str, str]) -> None:
    # Fixed tools with an argument list, no shell; the password is in env, not argv.
    result = subprocess.run(  # noqa: S603  # nosec B603
        argv, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BackupError(f"{Path(argv[0]).name} failed: {result.stderr.strip()[:2000]}")


def _pg_database_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        return cursor.fetchone() is not None


def _pg_create_database(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {connection.ops.quote_name(name)}")


# SQLite --------------------------------------------------------------------------------------
def _sqlite_open(target: str) -> sqlite3.Connection:
    """A file path, or a URI as the configured name may be (the test suite's shared memory)."""
    return sqlite3.connect(target, uri=target.startswith("file:"))


def _sqlite_copy(source: sqlite3.Connection, target_name: str) -> None:
    target = _sqlite_open(target_name)
    try:
        source.backup(target)
    finally:
        target.close()


def _sqlite_table_count(target_name: str) -> int:
    if not target_name.startswith("file:") and not Path(target_name).exists():
        return 0
    target = _sqlite_open(target_name)
    try:
        row = target.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()
        return int(row[0])
    finally:
        target.close()


# Backup and restore --------------------------------------------------------------------------
def database_backup(output: Path) -> None:
    """Writes a consistent copy of the database to `output` (a SQLite file, or a pg_dump archive
    in custom format)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    if vendor() == "sqlite":
        connection.ensure_connection()
        raw = connection.connection
        assert isinstance(raw, sqlite3.Connection)
        output.unlink(missing_ok=True)
        _sqlite_copy(raw, str(output))
    elif vendor() == "postgresql":
        argv = [_pg_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={output}"]
        _run(argv, _pg_environment())
    else:
        raise BackupError(f"no backup for the {vendor()} database engine")


def database_restore(backup: Path, *, into: str, replace: bool) -> None:
    """Restores `backup` into `into`: a SQLite file path, or a PostgreSQL database name on the
    configured server (created when missing). An existing non-empty target is replaced only
    with `replace`."""
    if not backup.is_file():
        raise BackupError(f"no backup at {backup}")
    if vendor() == "sqlite":
        if not replace and _sqlite_table_count(into):
            raise BackupError(f"{into} has tables; restore over it with --replace")
        source = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
        try:
            _sqlite_copy(source, into)
        finally:
            source.close()
    elif vendor() == "postgresql":
        argv = [_pg_tool("pg_restore"), "--no-owner", "--exit-on-error", f"--dbname={into}"]
        if _pg_database_exists(into):
            if not replace and _pg_table_count(into):
                raise BackupError(f"database {into} has tables; restore over it with --replace")
            argv += ["--clean", "--if-exists"]
        else:
            _pg_create_database(into)
        _run([*argv, str(backup)], _pg_environment(into))
    else:
        raise BackupError(f"no restore for the {vendor()} database engine")


def _pg_table_count(name: str) -> int:
    with pg_connection(name) as target, target.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        row = cursor.fetchone()
        return int(row[0]) if row else 0


def pg_connection(name: str) -> Any:
    """A plain psycopg connection to another database on the configured server."""
    env = _pg_environment(name)
    return psycopg.connect(
        host=env.get("PGHOST"),
        port=env.get("PGPORT"),
        user=env.get("PGUSER"),
        password=env.get("PGPASSWORD"),
        dbname=name,
    )


def media_backup(output: Path) -> int:
    """A tar (gzip) of the uploaded files; returns how many files it holds."""
    root = Path(settings.MEDIA_ROOT)
    count = 0
    output.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(output, "w:gz") as archive:
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    archive.add(path, arcname=str(path.relative_to(root)), recursive=False)
                    count += 1
    return count


def media_restore(archive_path: Path) -> int:
    """Unpacks a media archive into MEDIA_ROOT; members that would land outside it (absolute
    paths, `..`, links, devices) are refused."""
    root = Path(settings.MEDIA_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive_path, "r:gz") as archive:
        members = archive.getmembers()
        archive.extractall(root, members=members, filter="data")
    return sum(1 for member in members if member.isfile())


# Comparison ----------------------------------------------------------------------------------
def _table_names(cursor: Any, engine: str) -> list[str]:
    if engine == "sqlite":
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    else:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return sorted(str(row[0]) for row in cursor.fetchall())


def _columns(cursor: Any, engine: str, table: str) -> list[str]:
    if engine == "sqlite":
        cursor.execute(f'PRAGMA table_info("{table}")')
        return [str(row[1]) for row in cursor.fetchall()]
    cursor.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
        [table],
    )
    return [str(row[0]) for row in cursor.fetchall()]


def _checksum(cursor: Any, engine: str, table: str) -> str:
    """SHA-256 over every row in primary-key order, each value rendered as text by the database
    itself (so the driver's type conversions cannot differ between two connections)."""
    columns = _columns(cursor, engine, table)
    cast = "quote({})" if engine == "sqlite" else "{}::text"
    select = ", ".join(cast.format(f'"{column}"') for column in columns)
    # Names from the database's own catalogue, quoted.
    query = f'SELECT {select} FROM "{table}" ORDER BY 1'  # noqa: S608  # nosec B608
    cursor.execute(query)
    digest = hashlib.sha256()
    for row in cursor.fetchall():
        digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def database_summary(cursor: Any, engine: str) -> DatabaseSummary:
    """Rows per table and checksums of `CHECKSUM_TABLES`, through any DB-API cursor."""
    summary = DatabaseSummary()
    if engine == "postgresql":
        cursor.execute("SET TIME ZONE 'UTC'")  # timestamps rendered alike on every connection
    for table in _table_names(cursor, engine):
        query = f'SELECT count(*) FROM "{table}"'  # noqa: S608  # nosec B608
        cursor.execute(query)
        summary.rows[table] = int(cursor.fetchone()[0])
        if table in CHECKSUM_TABLES:
            summary.checksums[table] = _checksum(cursor, engine, table)
    return summary


def summary_of_target(into: str) -> DatabaseSummary:
    """The summary of a restored database (a SQLite path or a PostgreSQL database name)."""
    if vendor() == "sqlite":
        target = _sqlite_open(into)
        try:
            return database_summary(target.cursor(), "sqlite")
        finally:
            target.close()
    with pg_connection(into) as target, target.cursor() as cursor:
        return database_summary(cursor, "postgresql")


def summary_of_current() -> DatabaseSummary:
    with connection.cursor() as cursor:
        return database_summary(cursor, vendor())
