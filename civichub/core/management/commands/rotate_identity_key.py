"""`civichub rotate_identity_key`: re-encrypts every stored identity number under the newest key
of CIVICHUB_IDENTITY_KEYS (the first), in batches, each its own transaction and audit row.
Interrupted, it resumes by itself (numbers already under the newest key are skipped), or from
`--after ID`, the last id it printed. See docs/operations.md ("Identity number keys")."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from civichub.core import context, services


class Command(BaseCommand):
    help = "Re-encrypt every identity number under the newest identity key."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--after", type=int, default=0, help="resume after this resident id")

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = int(options["batch_size"])
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        after, scanned, rotated = int(options["after"]), 0, 0
        with context.acting(channel="cli"):
            while True:
                last, seen, changed = services.resident_identity_key_rotate(
                    after_id=after, batch_size=batch_size
                )
                if not seen:
                    break
                after, scanned, rotated = last, scanned + seen, rotated + changed
                if int(options["verbosity"]) > 1:
                    self.stdout.write(f"up to resident {after}: {rotated} re-encrypted")
        self.stdout.write(f"{scanned} identity numbers checked, {rotated} re-encrypted")
