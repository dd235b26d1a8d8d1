"""Who is acting, from where: set by the request middleware, the task runner and the CLI, read by
the audit log so that services need not pass the request around. The context also holds the
work to do once the act is over (`after_act`), whatever its transactions did."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActingContext:
    ip_address: str | None = None
    request_id: str = ""
    channel: str = "system"  # web, api, task, cli, admin, system
    # Work to do once the act is over (`after_act`); None outside `acting`.
    after: list[Callable[[], None]] | None = field(default=None, compare=False, repr=False)


# ActingContext is a frozen dataclass, so one shared default is safe.
_current: ContextVar[ActingContext] = ContextVar(
    "civichub_acting",
    default=ActingContext(),  # noqa: B039
)


def current() -> ActingContext:
    return _current.get()


@contextlib.contextmanager
def acting(*, ip_address: str | None = None, channel: str, request_id: str = "") -> Iterator[None]:
    context = ActingContext(
        ip_address=ip_address,
        request_id=request_id or str(uuid.uuid4()),
        channel=channel,
        after=[],
    )
    token = _current.set(context)
    try:
        yield
    finally:
        try:
            _run_after(context)
        finally:
            _current.reset(token)


def after_act(work: Callable[[], None]) -> None:
    """Runs `work` when the current request, task or command is over, still in its context:
    after the transaction that is open now has ended, whether it committed or rolled back (a
    refused read is recorded although the read's own transaction is undone). Outside any
    `acting` context, at once."""
    pending = current().after
    if pending is None:
        work()
    else:
        pending.append(work)


def _run_after(context: ActingContext) -> None:
    for work in context.after or []:
        try:
            work()
        except Exception:
            # What runs afterwards must not turn an answer already given into an error.
            logger.exception("work after the request %s failed", context.request_id)
