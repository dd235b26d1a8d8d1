"""Imports meter readings from a CSV file (columns meter_id, at, value and optionally reset),
in batches, with a progress line on stderr and a per-row error report on stdout. Rows already
stored are counted once; bad rows are reported and the good ones kept."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from civichub.core.context import acting
from civichub.wellbeing import services

BATCH = 5000


class Command(BaseCommand):
    help = "Import meter readings from a CSV file (meter_id, at, value[, reset])."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args: Any, path: Path, **options: Any) -> None:
        if not path.exists():
            raise CommandError(f"no such file: {path}")
        totals = {"accepted": 0, "duplicates": 0, "errors": 0}
        offset = 0
        with path.open(newline="", encoding="utf-8") as handle, acting(channel="cli"):
            reader = csv.DictReader(handle)
            missing = {"meter_id", "at", "value"} - set(reader.fieldnames or [])
            if missing:
                raise CommandError(f"missing columns: {', '.join(sorted(missing))}")
            batch: list[dict[str, Any]] = []
            for row in reader:
                row["reset"] = str(row.get("reset") or "").strip().lower() in {"1", "true", "yes"}
                batch.append(row)
                if len(batch) == BATCH:
                    offset = self._send(batch, offset, totals)
                    batch = []
            if batch:
                offset = self._send(batch, offset, totals)
        sys.stderr.write("\n")
        self.stdout.write(
            f"accepted: {totals['accepted']}\nduplicates: {totals['duplicates']}\n"
            f"errors: {totals['errors']}"
        )

    def _send(self, batch: list[dict[str, Any]], offset: int, totals: dict[str, int]) -> int:
        report = services.readings_ingest(actor=None, rows=batch)
        totals["accepted"] += report.accepted
        totals["duplicates"] += report.duplicates
        totals["errors"] += len(report.errors)
        for error in report.errors:
            # Line numbers count the header as line 1.
            self.stdout.write(f"line {offset + error['row'] + 2}: {error['error']}")
        offset += len(batch)
        sys.stderr.write(f"\rrows read: {offset}")
        sys.stderr.flush()
        return offset
