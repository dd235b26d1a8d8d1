"""`civichub datahub_exchange verify`: recomputes the exchange API's hash-chained message log
and names every entry that was edited, deleted or inserted; exits with an error if any was.
Prints the chain's head (last number and hash), which can be kept elsewhere as an anchor."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from civichub.datahub.exchange import exchange_verify


class Command(BaseCommand):
    help = "Data hub: verify the exchange API's tamper-evident message log."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("verify")

    def handle(self, *args: Any, **options: Any) -> None:
        report = exchange_verify()
        for problem in report.problems:
            self.stderr.write(problem)
        self.stdout.write(
            f"entries: {report.entries}\nhead: {report.head_sequence} {report.head_hash}"
        )
        if not report.intact:
            raise CommandError(f"message log broken: {len(report.problems)} problems")
        self.stdout.write("message log intact")
