"""Casework's figures for /metrics (`core.metrics`): residents' messages by status."""

from __future__ import annotations

from django.db.models import Count

from civichub.casework.models import Case
from civichub.core.metrics import Reading

HELP = "Residents' messages by status"


def readings() -> list[Reading]:
    by_status = Case.objects.order_by().values("status").annotate(n=Count("pk"))
    return [
        Reading(
            "casework_cases", "Residents' messages by status", row["n"], {"status": row["status"]}
        )
        for row in by_status
    ]
