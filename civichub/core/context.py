"""Who is acting, from where: set by the request middleware, the task runner and the CLI, read by
the audit log so that services need not pass the request around."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class ActingContext:
    ip_address: str | None = None
    request_id: str = ""
    channel: str = "system"  # web, api, task, cli, admin, system


# ActingContext is a frozen dataclass, so one shared default is safe.
_current: ContextVar[ActingContext] = ContextVar(
    "civichub_acting",
    default=ActingContext(),  # noqa: B039
)


def current() -> ActingContext:
    return _current.get()


@contextlib.contextmanager
def acting(*, ip_address: str | None = None, channel: str, request_id: str = "") -> Iterator[None]:
    token = _current.set(
        ActingContext(
            ip_address=ip_address, request_id=request_id or str(uuid.uuid4()), channel=channel
        )
    )
    try:
        yield
    finally:
        _current.reset(token)
