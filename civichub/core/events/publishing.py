"""The process's bus and publishing to it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from django.conf import settings
from django.db import transaction

from civichub.core.events.bus import Event, LocalBus
from civichub.core.events.machine import MachineBus, machine_directory
from civichub.core.events.redis_bus import RedisBus

logger = logging.getLogger(__name__)

_bus: LocalBus | None = None
_bus_lock = threading.Lock()


def bus() -> LocalBus:
    """The process's bus: Redis when settings.REDIS_URL is set, else this machine's sockets."""
    global _bus
    with _bus_lock:
        url = getattr(settings, "REDIS_URL", "")
        current = _bus
        if url and not (isinstance(current, RedisBus) and current.url == url):
            current = _bus = RedisBus(url)
        elif not url:
            directory = machine_directory()
            if not (isinstance(current, MachineBus) and current.directory == directory):
                current = _bus = MachineBus(directory)
        assert current is not None
        return current


def publish_now(channels: Sequence[str], event: Event) -> None:
    """Publishes at once; a failure is logged, never raised (the change itself has committed)."""
    try:
        bus().publish(channels, event)
    except Exception:
        logger.exception("could not publish the %s stream event", event.kind)


def publish(channels: Sequence[str], event: Event) -> None:
    """Publishes once the current transaction commits (at once outside a transaction)."""
    transaction.on_commit(lambda: publish_now(channels, event), robust=True)
