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
from pathlib import Path

import django
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import connections


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


def database_migrate() -> str:
    """Brings the database up to date and says how: "copied" (a fresh SQLite database from the
    template), "migrated" (and the template kept for next time) or "checked" (an existing or
    non-SQLite database, through `migrate`)."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.sqlite3":
        call_command("migrate", interactive=False, verbosity=0)
        return "checked"
    name = Path(str(db["NAME"]))
    if name.exists():
        call_command("migrate", interactive=False, verbosity=0)
        return "checked"
    template = template_path()
    connections.close_all()
    if template.exists():
        _remove_sidecars(name)
        shutil.copyfile(template, name)
        return "copied"
    call_command("migrate", interactive=False, verbosity=0)
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
