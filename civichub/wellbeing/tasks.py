"""Thin, idempotent tasks: detection resumes from the household's last processed half hour, and
escalation only moves alerts and visits whose deadline has passed, and retention only removes
what has expired.

`run_detection` is queued by ingestion, so it is defined beside the run it calls
(`services.detection_runs`) and named here with the periodic ones; the imports run one way,
tasks → services."""

from __future__ import annotations

from dataclasses import asdict

from django_tasks import task

from civichub.core.context import acting
from civichub.wellbeing import services
from civichub.wellbeing.services import run_detection

__all__ = ["apply_retention", "escalate_alerts", "run_detection"]


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
