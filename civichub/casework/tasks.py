"""Thin, idempotent tasks: load by id, call a service. Running one twice is harmless: routing
does nothing to a case that has left `received`, and notifications carry dedupe keys.

The casework task index: the periodic tasks are here; `after_intake` (which intake enqueues
after commit), `route_case` and `acknowledge_case` are declared beside the routing services
they call, `process_case_photo` (a large photo's re-encoding) beside its service."""

from __future__ import annotations

from dataclasses import asdict

from django_tasks import task

from civichub.casework import services
from civichub.casework.services.photo_processing import process_case_photo
from civichub.casework.services.routing import acknowledge_case, after_intake, route_case
from civichub.core.context import acting

__all__ = [
    "acknowledge_case",
    "after_intake",
    "escalate_overdue_cases",
    "process_case_photo",
    "route_case",
    "sweep_cases",
]


@task()
def sweep_cases() -> dict[str, int]:
    with acting(channel="task"):
        return asdict(services.cases_sweep())


@task()
def escalate_overdue_cases() -> dict[str, int]:
    with acting(channel="task"):
        return asdict(services.cases_escalate_overdue())
