"""Thin, idempotent tasks: load by id, call a service. Running one twice is harmless: routing
does nothing to a case that has left `received`, and notifications carry dedupe keys."""

from __future__ import annotations

from dataclasses import asdict

from django_tasks import task

from civichub.casework import services
from civichub.core.context import acting


@task()
def route_case(case_id: int) -> str:
    """Routes one case. On failure the attempt is recorded and the task fails; the case stays
    `received` and the periodic sweep routes it later."""
    with acting(channel="task"):
        try:
            case = services.case_route(case_id=int(case_id))
        except Exception as exc:
            services.case_routing_failed(case_id=int(case_id), error=f"{type(exc).__name__}: {exc}")
            raise
        return case.status


@task()
def acknowledge_case(case_id: int) -> bool:
    with acting(channel="task"):
        return services.case_acknowledge(case_id=int(case_id))


@task()
def sweep_cases() -> dict[str, int]:
    with acting(channel="task"):
        return asdict(services.cases_sweep())


@task()
def escalate_overdue_cases() -> dict[str, int]:
    with acting(channel="task"):
        return asdict(services.cases_escalate_overdue())
