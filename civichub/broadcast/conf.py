"""Broadcast's part of the deployment profile (`CIVICHUB_PROFILE`, shared with other modules):

    CIVICHUB_PROFILE = {"default_crs": "wgs84"}

Code reads it with `broadcast_settings()` (`core.config.module_config(BroadcastSettings)`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from civichub.core.config import ModuleConfig, module_config


@dataclass(frozen=True)
class BroadcastSettings(ModuleConfig):
    """Fields:

    - `default_crs` — the coordinate system drawn areas are taken in when the form or the API
      names none: "gcj02" for maps published in China, "wgs84" for GPS."""

    setting: ClassVar[str] = "CIVICHUB_PROFILE"
    default_crs: str = "gcj02"


def broadcast_settings() -> BroadcastSettings:
    """The defaults with the deployment's `CIVICHUB_PROFILE` overrides applied."""
    return module_config(BroadcastSettings)
