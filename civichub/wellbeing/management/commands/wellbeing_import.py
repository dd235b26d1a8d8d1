"""`civichub wellbeing_import FILE`: the same as `civichub wellbeing import FILE` (CSV or
Parquet), kept under its first name for scripts that use it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from civichub.wellbeing.management.commands.wellbeing import BATCH, readings_import


class Command(BaseCommand):
    help = "Import meter readings from a CSV or Parquet file (meter_id, at, value[, reset])."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--batch", type=int, default=BATCH)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, path: Path, batch: int, no_progress: bool, **_: Any) -> None:
        totals = readings_import(path, out=self.stdout, batch_size=batch, progress=not no_progress)
        for name, value in totals.items():
            self.stdout.write(f"{name}: {value}")
