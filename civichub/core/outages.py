"""Telling an outage of a backing service (the database, Redis) from a fault in civichub: the
first is answered with 503 Service Unavailable and a Retry-After, so that clients and proxies
retry later, the second stays a 500. Neither shows a stack trace.

Django closes a connection that failed at the end of the request, and the database pool drops a
broken one when it is given back, so the next request after the service is back connects afresh:
the platform recovers by itself, without a restart."""

from __future__ import annotations

import django.db
import psycopg
import redis.exceptions
from django_redis.exceptions import ConnectionInterrupted

RETRY_AFTER_SECONDS = 5

_OUTAGES: tuple[type[BaseException], ...] = (
    django.db.OperationalError,
    django.db.InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ConnectionInterrupted,
    ConnectionRefusedError,
)


def is_outage(exc: BaseException | None) -> bool:
    """Whether `exc`, or an exception it was raised from, says a backing service is unreachable
    or dropped the connection."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, _OUTAGES):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False
