"""The module's task index: the wave task is declared beside the service it calls; the periodic
entry point sends the waves that are due (a lost task is caught up within a minute)."""

from __future__ import annotations

from django.utils import timezone
from django_tasks import task

from civichub.core.context import acting
from civichub.donors.selectors import open_requests_due
from civichub.donors.services import call_up_wave, call_up_wave_task

__all__ = ["call_up_wave_task", "waves_due"]


@task()
def waves_due() -> int:
    """Calls every wave that is due; idempotent (a wave not due calls nobody)."""
    called = 0
    with acting(channel="task"):
        for request_id in open_requests_due(timezone.now()):
            called += call_up_wave(request_id=request_id)
    return called
