"""The data hub's task index: the import task (declared beside its service) and the periodic
pull of REST sources (idempotent: a source is pulled only when its interval has passed, and a
page already imported is the same batch again)."""

from __future__ import annotations

from django_tasks import task

from civichub.core.context import acting
from civichub.datahub import services
from civichub.datahub.services import import_task

__all__ = ["import_task", "pull_sources"]


@task()
def pull_sources() -> int:
    with acting(channel="task"):
        return services.sources_pull_due()
