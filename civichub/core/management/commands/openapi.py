"""`civichub openapi`: write or check the committed OpenAPI document (docs/openapi.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.module_loading import import_string

DEFAULT_PATH = Path(settings.BASE_DIR).parent / "docs" / "openapi.json"


def current_schema() -> str:
    # The project's API, named by a setting: core does not import the project root.
    api = import_string(settings.CIVICHUB_API)
    schema = api.get_openapi_schema(path_prefix="/api/")
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


class Command(BaseCommand):
    help = "Write the API's OpenAPI document, or check that the committed one is current."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", type=Path, default=DEFAULT_PATH)
        parser.add_argument(
            "--check",
            action="store_true",
            help="fail when the committed document differs from the code",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["output"]
        schema = current_schema()
        if options["check"]:
            if not path.exists() or path.read_text() != schema:
                raise CommandError(f"{path} is out of date: run `civichub openapi` and commit it.")
            self.stdout.write("OpenAPI document is current.")
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(schema)
        self.stdout.write(f"Wrote {path}")
