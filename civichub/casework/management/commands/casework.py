"""`civichub casework`: casework maintenance.

    civichub casework train-router                      # from the deployment's own cases
    civichub casework train-router --min-per-category 20
    civichub casework train-router --from-csv past.csv --text-column text --label-column category

`train-router` trains the message router on past messages whose category a person decided or
confirmed: it scores every candidate model (character n-grams, with or without word n-grams,
with or without categories weighted by their rarity; NBSVM or a linear SVM; the char baseline
among them; and the average of the two best) by 3-fold stratified cross-validation on
them, prints each candidate's macro-F1 (mean ± spread over the folds) and the chosen one's
out-of-fold per-category precision and recall, then trains the chosen model on all of them and
saves it to `DATA_DIR/models/router.joblib`, which routing picks up at once. The chosen model
never scores below the char baseline in that cross-validation. It refuses when there is too
little labelled data.
"""

from __future__ import annotations

import csv
from argparse import ArgumentParser
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from civichub.casework import routing
from civichub.casework.selectors import routing_training_examples


def _csv_samples(path: Path, text_column: str, label_column: str) -> list[tuple[str, str]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            missing = [c for c in (text_column, label_column) if c not in columns]
            if missing:
                raise CommandError(
                    f"{path} has no column {', '.join(missing)}; its columns are: "
                    f"{', '.join(columns) or '(none)'}"
                )
            return [(row[text_column] or "", row[label_column] or "") for row in reader]
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CommandError(f"{path} is not a UTF-8 CSV file: {exc}") from exc


def _database_samples() -> Iterator[tuple[str, str]]:
    yield from routing_training_examples()


class Command(BaseCommand):
    help = "Casework maintenance: train-router."

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        train = actions.add_parser(
            "train-router",
            help="Train the message router on past messages and save it.",
            description="Train the message router on the deployment's past messages (or a "
            "CSV file), print its held-out precision and recall per category and its macro-F1, "
            "and save it for routing.",
        )
        train.add_argument(
            "--min-per-category",
            type=int,
            default=routing.DEFAULT_MIN_PER_CATEGORY,
            metavar="N",
            help="leave out categories with fewer than N examples "
            f"(default {routing.DEFAULT_MIN_PER_CATEGORY})",
        )
        train.add_argument(
            "--from-csv",
            type=Path,
            metavar="FILE",
            help="train on a UTF-8 CSV file instead of the cases in the database",
        )
        train.add_argument(
            "--text-column", default="text", metavar="C", help="the CSV's text column"
        )
        train.add_argument(
            "--label-column", default="category", metavar="L", help="the CSV's category column"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "train-router":
            self.train_router(options)

    def train_router(self, options: dict[str, Any]) -> None:
        if options["min_per_category"] < 1:
            raise CommandError("--min-per-category must be at least 1")
        source: Any
        if options["from_csv"] is not None:
            source = _csv_samples(
                options["from_csv"], options["text_column"], options["label_column"]
            )
        else:
            source = _database_samples()
        try:
            report = routing.train_from_cases(source, min_per_category=options["min_per_category"])
        except routing.RouterError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(routing.describe(report), ending="")
