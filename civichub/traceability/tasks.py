"""Thin, idempotent tasks, named here as the module's task index: the periodic reminder of
recall notices not yet acknowledged (defined beside the service it calls)."""

from __future__ import annotations

from civichub.traceability.services import capture_job_task, recall_reminders_task

__all__ = ["capture_job_task", "recall_reminders_task"]
