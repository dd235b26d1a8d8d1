"""Core's part of the deployment profile (`CIVICHUB_PROFILE`): what every module may read about
the deployment itself. The environment variables that set each key are in settings.py and the
README."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from civichub.core.config import ModuleConfig, module_config


@dataclass(frozen=True)
class CoreSettings(ModuleConfig):
    setting: ClassVar[str] = "CIVICHUB_PROFILE"

    # The deployment's name.
    city_name: str = ""
    # The coordinate system assumed for incoming coordinates that do not name one (a value of
    # `core.models.CoordinateSystem`): "gcj02" (Chinese maps) or "wgs84" (GPS).
    default_crs: str = "gcj02"


def core_settings() -> CoreSettings:
    return module_config(CoreSettings)
