"""Core's own domain events: a module subscribes by dotted path, core sends, and core names no
module."""

from __future__ import annotations

from typing import Any

from civichub.core import hooks

received: list[Any] = []


def record(event: Any) -> None:
    received.append(event)


HANDLER = f"{__name__}:record"


def test_a_subscribed_handler_receives_each_event_once_even_if_subscribed_twice() -> None:
    hook: hooks.Hook[str] = hooks.Hook("tests.event")
    received.clear()
    hook.subscribe(HANDLER)
    hook.subscribe(HANDLER)
    hook.send("first")
    hook.unsubscribe(HANDLER)
    hook.send("second")
    assert received == ["first"]


def test_a_hook_without_subscribers_does_nothing() -> None:
    hooks.Hook[str]("tests.silent").send("nobody listens")


def test_notify_subscribes_to_password_changes() -> None:
    assert hooks.password_changed._paths == [
        "civichub.notify.services.accounts:password_changed_notify"
    ]
