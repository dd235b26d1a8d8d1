"""A migrated, empty SQLite database kept once per code version, so that a fresh demo copies a file
instead of running every migration (which takes half a minute on a small machine).

The template is the result of `migrate` itself, data migrations included, taken right after the
first fresh migration of this code; its name carries a digest of every installed app's migration
files and Django's version, so a change to any migration makes a new template. It lives in the
user's cache directory (`CIVICHUB_CACHE_DIR`, else `$XDG_CACHE_HOME/civichub`, else
`~/.cache/civichub`), outside the data directory, so `--reset` and new data directories reuse it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import django
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.core.management.commands import migrate
from django.db import connections
from django.db.migrations.executor import MigrationExecutor


def cache_dir() -> Path:
    configured = os.environ.get("CIVICHUB_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "civichub"


def migrations_digest() -> str:
    """A digest of every installed app's migration files and Django's version."""
    digest = hashlib.sha256(django.get_version().encode())
    for config in sorted(apps.get_app_configs(), key=lambda c: c.label):
        folder = Path(config.path) / "migrations"
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.py")):
            digest.update(f"{config.label}/{path.name}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def template_path() -> Path:
    return cache_dir() / f"migrated-{migrations_digest()}.sqlite3"


def first_migration_needed() -> bool:
    """True when the database is a fresh SQLite file and no template of this code version is
    kept: the one case where preparing the database runs every migration (about a minute on a
    small machine), which `civichub demo` then does behind the web server's progress page."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.sqlite3":
        return False
    name = Path(str(db["NAME"]))
    return (not name.exists() or _blank(name)) and not template_path().exists()


def _blank(database: Path) -> bool:
    """True for a SQLite file without a single table: created by a connection (the web server
    answering its progress page opens one) before anything was migrated into it."""
    try:
        with closing(sqlite3.connect(database)) as connection:
            return connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    except sqlite3.Error:
        return False


def _migrate(progress: Callable[[int, int], None] | None) -> None:
    """`migrate`, reporting (applied, planned) after each migration when asked."""
    command = migrate.Command()
    if progress is not None:
        executor = MigrationExecutor(connections["default"])
        planned = len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
        applied = 0
        progress(0, planned)

        def report(action: str, migration: Any = None, fake: bool = False) -> None:
            nonlocal applied
            if action == "apply_success":
                applied += 1
                progress(applied, planned)

        command.migration_progress_callback = report  # type: ignore[method-assign]
    call_command(command, interactive=False, verbosity=0)


def database_migrate(progress: Callable[[int, int], None] | None = None) -> str:
    """Brings the database up to date and says how: "copied" (a fresh SQLite database from the
    template), "migrated" (and the template kept for next time) or "checked" (an existing or
    non-SQLite database, through `migrate`). `progress`, if given, hears (applied, planned)
    while migrations run."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.sqlite3":
        call_command("migrate", interactive=False, verbosity=0)
        return "checked"
    name = Path(str(db["NAME"]))
    if name.exists() and not _blank(name):
        call_command("migrate", interactive=False, verbosity=0)
        return "checked"
    template = template_path()
    connections.close_all()
    if template.exists():
        name.unlink(missing_ok=True)
        _remove_sidecars(name)
        shutil.copyfile(template, name)
        return "copied"
    _migrate(progress)
    connections.close_all()
    _template_keep(name, template)
    return "migrated"


def _template_keep(database: Path, template: Path) -> None:
    """Copies the freshly migrated database into the cache through SQLite's backup, so the copy
    holds what the write-ahead log had too; best effort, a demo runs without it."""
    partial: Path | None = None
    try:
        template.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=template.parent, suffix=".partial")
        os.close(handle)
        partial = Path(name)
        source = sqlite3.connect(database)
        target = sqlite3.connect(partial)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()
            source.close()
        os.replace(partial, template)
    except (OSError, sqlite3.Error):
        if partial is not None:
            partial.unlink(missing_ok=True)


def _remove_sidecars(name: Path) -> None:
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{name}{suffix}").unlink(missing_ok=True)
