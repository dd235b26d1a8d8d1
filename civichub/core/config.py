"""Typed module configuration: each module's part of the deployment profile.

A module declares one frozen dataclass, each default written once, naming the Django setting
that holds the deployment's overrides (a dict; `settings.py` fills it from the environment,
setting a key only when its variable is set, so the dataclass's default holds otherwise):

    @dataclass(frozen=True)
    class CaseworkSettings(ModuleConfig):
        setting: ClassVar[str] = "CIVICHUB_CASEWORK"
        triage_threshold: float = 0.55

and reads it with `module_config(CaseworkSettings)`. A dict field is merged key by key with the
override (a deployment changes one deadline without repeating the others). The result is cached
and dropped when the setting changes (Django's `setting_changed`, sent by `override_settings`),
so tests that override the profile see their values. Keys the dataclass does not know are left
alone: several modules may share one setting (`CIVICHUB_PROFILE`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

C = TypeVar("C", bound="ModuleConfig")

_cache: dict[type[ModuleConfig], ModuleConfig] = {}


@dataclasses.dataclass(frozen=True)
class ModuleConfig:
    """Base of every module's configuration dataclass."""

    setting: ClassVar[str] = ""


def _merged(default: Any, override: Any) -> Any:
    if isinstance(default, Mapping) and isinstance(override, Mapping):
        return {**default, **override}
    return override


def module_config(cls: type[C]) -> C:
    """The deployment's configuration of one module: the dataclass's defaults with the
    overrides of its Django setting applied."""
    found = _cache.get(cls)
    if found is None:
        overrides: Mapping[str, Any] = (
            (getattr(settings, cls.setting, None) or {}) if cls.setting else {}
        )
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name in overrides:
                if f.default_factory is not dataclasses.MISSING:
                    default = f.default_factory()
                else:
                    default = f.default
                values[f.name] = _merged(default, overrides[f.name])
        found = cls(**values)
        _cache[cls] = found
    assert isinstance(found, cls)
    return found


def config_clear(setting: str | None = None) -> None:
    """Forget cached configurations (of one setting, or all)."""
    for cls in list(_cache):
        if setting is None or cls.setting == setting:
            del _cache[cls]


@receiver(setting_changed)
def _setting_changed(*, setting: str, **_kwargs: Any) -> None:
    config_clear(setting)
