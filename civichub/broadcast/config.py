"""Broadcast's part of the deployment profile."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from civichub.core.config import ModuleConfig


@dataclass(frozen=True)
class BroadcastModuleConfig(ModuleConfig):
    setting: ClassVar[str] = "CIVICHUB_PROFILE"
    # The coordinate system drawn areas are taken in when the form or the API names none
    # ("gcj02" for maps published in China, "wgs84" for GPS).
    default_crs: str = "gcj02"
