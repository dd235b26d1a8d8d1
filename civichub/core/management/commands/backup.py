"""`civichub backup --output FILE [--media FILE]`: a consistent copy of the database (SQLite's
online backup, or `pg_dump --format=custom`), and of the uploaded files when asked. Safe while
civichub runs. See docs/operations.md ("Back up")."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from civichub.core import backup, context, services


class Command(BaseCommand):
    help = "Back up the database (and the uploaded files with --media)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--output", required=True, type=Path, help="the database backup file to write"
        )
        parser.add_argument("--media", type=Path, help="also write the uploaded files to this tar")

    def handle(self, *args: Any, **options: Any) -> None:
        output = Path(options["output"]).resolve()
        media = Path(options["media"]).resolve() if options["media"] else None
        with context.acting(channel="cli"):
            # Recorded first, so the backup itself holds the row that says it was taken.
            services.database_backup_record(output=str(output), media=str(media or ""))
            try:
                backup.database_backup(output)
                files = backup.media_backup(media) if media else None
            except backup.BackupError as exc:
                raise CommandError(str(exc)) from exc
        summary = backup.summary_of_current()
        self.stdout.write(
            f"database: {output} ({len(summary.rows)} tables, {sum(summary.rows.values())} rows)"
        )
        if media:
            self.stdout.write(f"media: {media} ({files} files)")
