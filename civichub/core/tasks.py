"""Core's periodic tasks: thin and idempotent, each calls one service."""

from __future__ import annotations

from django_tasks import task

from civichub.core.context import acting
from civichub.core.files import stored_files_sweep

__all__ = ["sweep_stored_files"]


@task()
def sweep_stored_files() -> dict[str, int]:
    """Every six hours: files in the file fields' folders that no row names, a day after their
    write, are removed (`files.stored_files_sweep`); a second run finds nothing left to do."""
    with acting(channel="task"):
        report = stored_files_sweep()
    return {"examined": report.examined, "removed": report.removed}
