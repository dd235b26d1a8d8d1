"""Thin, idempotent tasks: detection resumes from each household's last processed half hour,
escalation only moves alerts and visits whose deadline has passed, retention only removes what
has expired, and partitions are only made where missing.

`detect_due` and `run_detection` are queued by ingestion, so they are defined beside the runs
they call (`services.detection_runs`) and named here with the periodic ones; the imports run one
way, tasks → services."""

from __future__ import annotations

from dataclasses import asdict

from django_tasks import task

from civichub.core.context import acting
from civichub.wellbeing import services
from civichub.wellbeing.services import detect_due, run_detection
from civichub.wellbeing.services.partitions import readings_partitions_ensure

__all__ = [
    "apply_retention",
    "detect_due",
    "ensure_reading_partitions",
    "escalate_alerts",
    "run_detection",
]


@task()
def escalate_alerts() -> dict[str, int]:
    with acting(channel="task"):
        return asdict(services.alerts_escalate())


@task()
def apply_retention() -> dict[str, int]:
    """Hourly: expired raw readings become aggregates, old aggregates and the data of households
    that withdrew consent long enough ago are deleted (services.retention_apply)."""
    with acting(channel="task"):
        return asdict(services.retention_apply())


@task()
def ensure_reading_partitions() -> int:
    """Daily: the readings' monthly partitions for the coming months, on PostgreSQL."""
    with acting(channel="task"):
        return readings_partitions_ensure()
