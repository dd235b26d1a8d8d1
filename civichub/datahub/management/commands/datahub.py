"""`civichub datahub sync CITY_CODE`: registers the sources of the mapping files whose
department exists under the city.

`civichub datahub import SOURCE FILE [--rejects OUT.csv]`: imports a delivery (CSV, Excel or
JSON, by its extension) as the operator, printing the counts, with the refused rows written to
a rejects file.

`civichub datahub pull [SOURCE]`: pulls one REST source now, or every one that is due.

`civichub datahub link [--engine duckdb|spark]`: links the whole registry again with splink,
in-process on DuckDB (the default) or on Spark for a city that outgrows one machine (a local
Spark here; `SPARK_REMOTE` or Spark's own configuration points it at a cluster)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from civichub.core.context import acting
from civichub.core.errors import DomainError
from civichub.core.models import Organisation
from civichub.datahub import services
from civichub.datahub.models import RowError, Source
from civichub.datahub.scale_linkage import ENGINES

FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".json": "json"}


class Command(BaseCommand):
    help = "Data hub: register sources, import a delivery, pull REST sources, link."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sync = sub.add_parser("sync")
        sync.add_argument("city")
        run = sub.add_parser("import")
        run.add_argument("source")
        run.add_argument("file")
        run.add_argument("--rejects", default="")
        pull = sub.add_parser("pull")
        pull.add_argument("source", nargs="?", default="")
        relink = sub.add_parser("link")
        relink.add_argument("--engine", choices=ENGINES, default="duckdb")

    def handle(self, *args: Any, **options: Any) -> None:
        with acting(channel="cli"):
            try:
                getattr(self, f"_{options['action']}")(options)
            except DomainError as exc:
                raise CommandError(exc.message) from exc

    def _sync(self, options: dict[str, Any]) -> None:
        city = Organisation.objects.filter(code=options["city"]).first()
        if city is None:
            raise CommandError(f"no organisation with code {options['city']}")
        for source in services.source_sync(city=city):
            self.stdout.write(f"{source.key}: {source.department.name}")

    def _import(self, options: dict[str, Any]) -> None:
        source = Source.objects.filter(key=options["source"]).first()
        if source is None:
            raise CommandError(f"no source {options['source']}")
        path = Path(options["file"])
        batch = services.import_start(
            actor=None,
            source=source,
            content=path.read_bytes(),
            file_name=path.name,
            fmt=FORMATS.get(path.suffix.lower(), ""),
        )
        batch = services.import_run(batch_id=batch.pk)
        self.stdout.write(
            f"batch {batch.pk}: {batch.rows_accepted} accepted, {batch.rows_rejected} refused,"
            f" {batch.rows_unchanged} unchanged"
        )
        if options["rejects"]:
            lines = ["row_number,code,field"] + [
                f"{e.row_number},{e.code},{e.field}" for e in RowError.objects.filter(batch=batch)
            ]
            Path(options["rejects"]).write_text("\n".join(lines) + "\n", encoding="utf-8")

    def _pull(self, options: dict[str, Any]) -> None:
        if not options["source"]:
            self.stdout.write(f"{services.sources_pull_due()} batches")
            return
        source = Source.objects.filter(key=options["source"], format="rest").first()
        if source is None:
            raise CommandError(f"no REST source {options['source']}")
        batches = services.source_pull(actor=None, source=source)
        self.stdout.write(f"{len(batches)} batches, cursor {source.cursor!r}")

    def _link(self, options: dict[str, Any]) -> None:
        found = services.registry_link(actor=None, engine=options["engine"])
        self.stdout.write(
            f"{found['records']} records, {found['moved']} moved,"
            f" {found['review_items']} pairs to review ({options['engine']})"
        )
