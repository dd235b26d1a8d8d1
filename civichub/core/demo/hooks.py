"""What the installed modules add to the demo city, found through the registry: each manifest's
`demo_data` (called after core's data) and `demo_logins` (listed after core's logins)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from django.utils.module_loading import import_string

from civichub.core.registry import modules


def _load(path: str) -> Callable[..., Any]:
    """A manifest's "pkg.module:function" as the function."""
    function: Callable[..., Any] = import_string(path.replace(":", "."))
    return function


def demo_data_hooks() -> Iterator[tuple[str, Callable[..., Any]]]:
    """(app label, seeding function) of each module with demo data, in the order of
    INSTALLED_APPS; each is called as function(city=..., size=...), with seed= when it takes one."""
    for config, manifest in modules():
        if manifest.demo_data:
            yield config.label, _load(manifest.demo_data)


def demo_login_hooks() -> Iterator[Callable[..., Any]]:
    """The function of each module that documents demo logins, called as function(seed=...)."""
    for _config, manifest in modules():
        if manifest.demo_logins:
            yield _load(manifest.demo_logins)
