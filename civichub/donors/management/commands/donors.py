"""`civichub donors`: the donor registry's maintenance.

    civichub donors import centre.csv --community C001 --rejects rejects.csv
    civichub donors import centre.xlsx

`import` reads the blood centre's file (CSV in UTF-8 or Excel .xlsx, the columns named in
`civichub.donors.services.importing`), stores every good row (a new donor, or merged into the
one with the same identity number; a row that changes nothing is left alone, so a second run
of the same file changes nothing) and reports every bad row with its number and a stable code,
on stdout or in the `--rejects` CSV file. The import is audited.
"""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from civichub.donors import services
from civichub.donors.selectors import community_by_code


class Command(BaseCommand):
    help = "Donor registry maintenance: import the blood centre's file."

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        imports = actions.add_parser(
            "import", help="Import donors from the blood centre's CSV or .xlsx file."
        )
        imports.add_argument("file", type=Path)
        imports.add_argument(
            "--community", default="", help="community code for rows that name none"
        )
        imports.add_argument("--rejects", type=Path, help="write the rejects report here (CSV)")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from exc
        community = None
        if options["community"]:
            community = community_by_code(options["community"])
            if community is None:
                raise CommandError(f"no community has the code {options['community']}")
        try:
            result = services.donor_import(
                actor=None, filename=path.name, content=content, community=community
            )
        except services.ImportUnreadable as exc:
            raise CommandError(f"{path}: {exc}") from exc
        self.stdout.write(
            f"created: {result.created}\nmerged: {result.merged}\n"
            f"unchanged: {result.unchanged}\nrejected: {len(result.rejects)}"
        )
        report = result.rejects_csv()
        if options["rejects"]:
            options["rejects"].write_text(report, encoding="utf-8")
        elif result.rejects:
            self.stdout.write(report.rstrip("\n"))
