"""Notify's part of the deployment profile (`CIVICHUB_PROFILE`, which it shares with core; the
environment variables that set each key are in settings.py and the README)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from civichub.core.config import ModuleConfig, module_config


@dataclass(frozen=True)
class NotifySettings(ModuleConfig):
    setting: ClassVar[str] = "CIVICHUB_PROFILE"

    # Quiet hours of everyone who has not set their own, "HH:MM-HH:MM" in local time, across
    # midnight when the start is after the end; empty or "off" for none. Non-emergency SMS,
    # e-mail and push wait until they end.
    quiet_hours_default: str = "22:00-07:00"
    # Attempts of a delivery on an outside channel before it fails for good.
    notification_max_attempts: int = 6
    # Seconds before the first retry of a failed delivery; each further retry waits about twice
    # as long, up to six hours.
    notification_backoff_seconds: int = 30
    # Seconds a worker's claim on its deliveries lasts unless renewed; the worker renews it
    # while it sends. A worker that dies holds its deliveries this long, then the sweep (every
    # minute) gives them to another. It must exceed the longest single send: the SMTP timeout
    # (15 s per step) or the push timeout (10 s) for each of a person's browsers.
    notification_lease_seconds: int = 180


def notify_settings() -> NotifySettings:
    return module_config(NotifySettings)
