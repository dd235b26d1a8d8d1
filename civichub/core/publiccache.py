"""Cached reads of public data (the message board, the Atom feeds): what every visitor sees the
same, computed once and shared by all web processes through the cache (Redis in production).

Each cached subject has a generation number in the cache; a value is stored under the
generation it was read in, so changing the data bumps the generation and every value read
before is never served again (it expires by itself). Nothing personal is ever cached here: the
values are the selectors' public results, never a rendered page, so a page that greets its
reader by name is still rendered per request.

The bump happens when the transaction commits (at once outside a transaction), never before:
a value read in the changing transaction would hold rows no other reader may see yet, and
after a rollback rows that never were. Until it ends, the changing transaction reads the
subject from the database and neither reads nor stores the cache (`core.uncommitted`), so it
sees its own change and shares none of it. A reader elsewhere that read the old rows while the
transaction was open stored them under the generation it read before building, which the
commit's bump leaves behind. When the cache is unreachable, reads go to the database and a
failed bump is logged (values also expire after their timeout, so a missed bump cannot keep a
stale value for longer than that).

A value missing from the current generation is built by one reader at a time: the first takes a
short lock in the cache and builds; readers arriving while it builds get the value last built for
the same arguments (older by at most the build's own time) instead of each reading the database
again. Under a steady stream of changes (messages arriving several a second, each changing the
board) readers would otherwise pile onto every new generation together. A reader with no earlier
value to fall back on, or whose builder's lock has expired, builds the value itself.

Only with a cache that all processes share (`PUBLIC_CACHE`, on with Redis): with each process's
own memory, a change made by another process would not reach this one's copy."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.utils import translation

from civichub.core import uncommitted

logger = logging.getLogger(__name__)

T = TypeVar("T")
_MISSING = object()
# How long a reader may hold the right to build a value before others build it too (a builder
# that died, or a read slower than this); builds take milliseconds.
BUILD_SECONDS = 5


def _generation_key(subject: str) -> str:
    return f"public:{subject}:generation"


def generation(subject: str) -> int:
    """The subject's current generation. A lost counter (eviction, a flushed cache) starts again
    from the clock in nanoseconds, above any number it had reached, so an old value cannot
    come back."""
    key = _generation_key(subject)
    value = cache.get(key)
    if value is None:
        cache.add(key, time.time_ns(), timeout=None)
        value = cache.get(key)
    return int(value) if value is not None else time.time_ns()


def _bump(subject: str) -> None:
    key = _generation_key(subject)
    try:
        try:
            cache.incr(key)
        except ValueError:  # no counter yet
            cache.set(key, time.time_ns(), timeout=None)
    except Exception:  # the cache is down: values expire after their timeout
        logger.warning("could not invalidate the cached %s", subject, exc_info=True)


def invalidate(subject: str) -> None:
    """Forgets every cached value of the subject once the transaction (if any) commits; until
    then the transaction reads the subject from the database."""
    uncommitted.record(subject, lambda: _bump(subject))


def cached(
    subject: str,
    parts: tuple[object, ...],
    build: Callable[[], T],
    timeout: float | Callable[[T], float],
) -> T:
    """The value `build()` returns for `parts` (the arguments it depends on), from the cache
    when it was built in the subject's current generation. The active language is part of the
    key, since labels are translated when built. `timeout` bounds a value's life in seconds; a
    function of the value gives it for values that change with time alone (a post scheduled
    for later appears at its time without any write to invalidate the feeds)."""
    if not settings.PUBLIC_CACHE or uncommitted.changed(subject):
        return build()
    digest = hashlib.sha256(repr((translation.get_language(), parts)).encode()).hexdigest()[:32]
    latest = f"public:{subject}:latest:{digest}"
    try:
        current = generation(subject)
        key = f"public:{subject}:{current}:{digest}"
        value = cache.get(key, _MISSING)
        if value is not _MISSING:
            return value
        lock = f"public:{subject}:building:{current}:{digest}"
        building = cache.add(lock, 1, timeout=BUILD_SECONDS)
        if not building:
            value = cache.get(latest, _MISSING)  # the value last built, while another builds
            if value is not _MISSING:
                return value
    except Exception:
        logger.warning("cache unavailable: %s read from the database", subject, exc_info=True)
        return build()
    try:
        value = build()
    finally:
        if building:
            with contextlib.suppress(Exception):
                cache.delete(lock)
    try:
        seconds = timeout(value) if callable(timeout) else timeout
        if seconds >= 1:
            cache.set_many({key: value, latest: value}, timeout=seconds)
    except Exception:
        logger.warning("could not cache %s", subject, exc_info=True)
    return value
