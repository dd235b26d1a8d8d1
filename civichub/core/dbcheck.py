"""The check a pooled PostgreSQL connection passes before a request gets it.

psycopg-pool's own check (`ConnectionPool.check_connection`, which Django uses with
CONN_HEALTH_CHECKS) sends an empty query: a round trip and an (empty) transaction on the server
for every checkout, that is every request. A connection the server dropped while it sat in the
pool (a restart, a failover, `pg_terminate_backend`) has the server's goodbye waiting on its
socket, an error message and the end of the stream; an idle connection the server still holds
has nothing to read. So the socket is looked at without waiting, and the round trip is made only
when something is there (or the connection is not idle): a dropped connection is still replaced
before a request gets it, and a sound one costs no round trip. A server that vanished without
closing its connections (a machine switched off) is found neither way until TCP gives up."""

from __future__ import annotations

import select
from typing import Any

import psycopg
from psycopg import pq
from psycopg_pool import ConnectionPool


def pooled_connection_check(conn: psycopg.Connection[Any]) -> None:
    """Raises if the connection is broken (the pool then replaces it); returns if it is sound."""
    if conn.closed or conn.info.transaction_status != pq.TransactionStatus.IDLE:
        ConnectionPool.check_connection(conn)  # raises for a closed or broken connection
        return
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    if readable:
        ConnectionPool.check_connection(conn)
