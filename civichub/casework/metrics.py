"""Casework's figures for /metrics (`core.metrics`): residents' messages by status."""

from __future__ import annotations

from django.db.models import Count

from civichub.casework.models import Case, CaseStatus
from civichub.core.metrics import Reading

HELP = "Residents' messages by status"


def readings() -> list[Reading]:
    rows = Case.objects.order_by().values("status").annotate(n=Count("pk"))
    counts = {row["status"]: row["n"] for row in rows}
    # Every status, zeros included: no messages is a figure, not a gap.
    return [
        Reading("casework_cases", HELP, counts.get(status, 0), {"status": status})
        for status in CaseStatus.values
    ]
