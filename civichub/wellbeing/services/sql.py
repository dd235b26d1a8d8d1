"""SQL shared by ingestion and detection, where the ORM's per-value work would cost more than
the database's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection


def in_list(values: Sequence[Any]) -> tuple[str, list[Any]]:
    """`column IN (...)` for many values: one array parameter on PostgreSQL (the driver splits a
    query of thousands of placeholders value by value), placeholders on SQLite. Returns the
    condition after the column's name and its parameters."""
    if connection.vendor == "postgresql":
        return "= ANY(%s)", [list(values)]
    return "IN (" + ", ".join(["%s"] * len(values)) + ")", list(values)
