"""`civichub restore FILE [--into TARGET] [--replace] [--media TAR]`: restores a backup made by
`civichub backup`, by default over the configured database (stop civichub first), or into a
scratch database to check the backup (a SQLite file path, or a PostgreSQL database name on the
configured server, created when missing). Prints the rows of every restored table."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from civichub.core import backup, context, services


class Command(BaseCommand):
    help = "Restore a database backup (and uploaded files with --media)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("backup", type=Path, help="a file written by `civichub backup`")
        parser.add_argument(
            "--into",
            help="a SQLite file or a PostgreSQL database name (default: the configured database)",
        )
        parser.add_argument(
            "--replace", action="store_true", help="restore over a database that has tables"
        )
        parser.add_argument("--media", type=Path, help="also unpack this media tar")

    def handle(self, *args: Any, **options: Any) -> None:
        source = Path(options["backup"]).resolve()
        into: str = options["into"] or str(connection.settings_dict["NAME"])
        media = Path(options["media"]) if options["media"] else None
        try:
            backup.database_restore(source, into=into, replace=options["replace"])
            files = backup.media_restore(media) if media else None
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from exc
        connection.close()  # the configured database may have just been replaced
        with context.acting(channel="cli"):
            services.database_restore_record(backup=str(source), into=into, media=str(media or ""))
        summary = backup.summary_of_target(into)
        for table, rows in sorted(summary.rows.items()):
            self.stdout.write(f"{table}: {rows}")
        self.stdout.write(f"restored {len(summary.rows)} tables into {into}")
        if media:
            self.stdout.write(f"media: {files} files")
