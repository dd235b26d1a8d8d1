"""Cached reads of public data (the message board, the Atom feeds): what every visitor sees the
same, computed once and shared by all web processes through the cache (Redis in production).

Each cached subject has a generation number in the cache; a value is stored under the
generation it was read in, so changing the data bumps the generation and every value read
before is never served again (it expires by itself). Nothing personal is ever cached here: the
values are the selectors' public results, never a rendered page, so a page that greets its
reader by name is still rendered per request.

A change inside a transaction bumps the generation once, when the transaction commits (a
change outside one, at once): after the commit, so that a reader that read the old rows while
the transaction was open cannot keep them under the new generation. Until then the transaction
that made the change reads the subject from the database and stores nothing, so that it reads
its own change and no other process is ever served rows that are not committed (and may never
be, if the transaction rolls back). One cache write per change, none inside the transaction:
an intake that puts a message on the board costs one round trip to Redis for it, not two. When
the cache is unreachable, reads go to the database and a failed bump is logged (values also
expire after their timeout, so a missed bump cannot keep a stale value for longer than that).

A value missing from the current generation is built by one reader at a time: the first takes a
short lock in the cache and builds; readers arriving while it builds get the value last built for
the same arguments (older by at most the build's own time) instead of each reading the database
again. Under a steady stream of changes (messages arriving several a second, each changing the
board) readers would otherwise pile onto every new generation together. A reader with no earlier
value to fall back on, or whose builder's lock has expired, builds the value itself; a reader
inside a transaction never gets the older value (it may have made the change itself).

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
from django.db import transaction
from django.utils import translation

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


class _BumpOnCommit:
    """The commit callback of a change to `subject`; while it is pending, the transaction that
    made the change reads the subject from the database (`_changed_here`)."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self.done = False

    def __call__(self) -> None:
        # Called at the commit, which also replaces the list of callbacks (or by a test that
        # runs the callbacks of a transaction it never commits): the change is out.
        self.done = True
        kept = getattr(transaction.get_connection(), "_public_cache_changes", None)
        if kept is not None:
            kept[1].discard(self.subject)
        _bump(self.subject)


def _changed_here_subjects() -> set[str]:
    """The subjects the open transaction changed: those whose bump still waits for the commit.
    Kept beside the connection's list of commit callbacks and read again only when Django
    replaces that list (a commit, a rollback, a rolled-back savepoint taking its callbacks and
    so its changes with it), so that a transaction changing many rows does not scan its
    callbacks once per row."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        return set()
    hooks = connection.run_on_commit
    kept = getattr(connection, "_public_cache_changes", None)
    if kept is None or kept[0] is not hooks:
        subjects = {
            f.subject for _ids, f, _robust in hooks if isinstance(f, _BumpOnCommit) and not f.done
        }
        kept = (hooks, subjects)
        connection._public_cache_changes = kept
    return kept[1]


def _changed_here(subject: str) -> bool:
    """Whether the open transaction changed the subject."""
    return subject in _changed_here_subjects()


def invalidate(subject: str) -> None:
    """Forgets every cached value of the subject once the transaction (if any) commits; at once
    outside a transaction."""
    changed = _changed_here_subjects()
    if subject in changed:
        return  # one bump at the commit covers every change of the transaction
    transaction.on_commit(_BumpOnCommit(subject))
    if transaction.get_connection().in_atomic_block:
        changed.add(subject)


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
    if not settings.PUBLIC_CACHE or _changed_here(subject):
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
        # Inside a transaction the reader may have made the change itself: it reads it.
        if not building and not transaction.get_connection().in_atomic_block:
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
