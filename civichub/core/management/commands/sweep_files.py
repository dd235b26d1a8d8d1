"""`civichub sweep_files`: removes stored files that no row names (left by a transaction rolled
back after the file was written, or a process stopped between the two), once they are older
than the grace period. The worker's scheduler runs the same sweep every six hours;
`--dry-run` lists what it would remove. See docs/operations.md ("Stored files")."""

from __future__ import annotations

import datetime as dt
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from civichub.core import context
from civichub.core.files import SWEEP_GRACE, stored_files_sweep


class Command(BaseCommand):
    help = "Remove stored files that no row names, older than the grace period."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="list, remove nothing")
        parser.add_argument(
            "--grace-hours",
            type=float,
            default=SWEEP_GRACE.total_seconds() / 3600,
            help="keep files changed more recently than this (default: %(default)s)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        grace_hours = float(options["grace_hours"])
        if grace_hours < 1:
            raise CommandError(
                "--grace-hours must be at least 1: a younger file may belong to a row "
                "not yet committed"
            )
        dry_run = bool(options["dry_run"])
        with context.acting(channel="cli"):
            report = stored_files_sweep(grace=dt.timedelta(hours=grace_hours), dry_run=dry_run)
        for name in report.names:
            self.stdout.write(name)
        verb = "would be removed" if dry_run else "removed"
        self.stdout.write(
            f"{report.examined} files examined in {report.folders} folders, "
            f"{report.removed} {verb} ({report.bytes_removed} bytes)"
        )
