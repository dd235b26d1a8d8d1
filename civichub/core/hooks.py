"""Core's own domain events that modules act on, without core importing any module: a core
service sends the event, a module subscribes to it from its AppConfig.ready(). Handlers run in
the caller's transaction, in the order they subscribed, so what they write commits or rolls back
with the change that caused it.

A handler is named by its dotted path ("pkg.module:function"), resolved when the event is first
sent: a module's apps.py can then subscribe without importing its services (and their models)
while the app registry is still loading."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from civichub.core.models import User

E = TypeVar("E")


class Hook(Generic[E]):
    """One kind of event and the handlers subscribed to it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._paths: list[str] = []
        self._handlers: dict[str, Callable[[E], object]] = {}

    def subscribe(self, path: str) -> None:
        """Adds the handler at `path` ("pkg.module:function"); subscribing twice is harmless."""
        if path not in self._paths:
            self._paths.append(path)

    def unsubscribe(self, path: str) -> None:
        if path in self._paths:
            self._paths.remove(path)

    def send(self, event: E) -> None:
        for path in list(self._paths):
            handler = self._handlers.get(path)
            if handler is None:
                handler = self._handlers[path] = import_string(path.replace(":", "."))
            handler(event)


@dataclass(frozen=True)
class PasswordChanged:
    """An account's password was changed, by its holder or by an operator (`actor`)."""

    user: User
    actor: User | None
    at: dt.datetime  # local time of the change


password_changed: Hook[PasswordChanged] = Hook("core.password_changed")


@dataclass(frozen=True)
class DemoSeeded:
    """The demo city is written, every module's demo data included (sent once, at the end)."""

    size: str


demo_seeded: Hook[DemoSeeded] = Hook("core.demo_seeded")
