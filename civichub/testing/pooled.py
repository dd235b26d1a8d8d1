"""Pooled PostgreSQL connections that a test's threads took and never gave back.

Each thread that touches the database takes a connection of its own from the process's pool
(psycopg-pool, `max_size` per process) and keeps it until `connection.close()`. A thread that
ends without closing keeps its slot for ever: the pool counts the connection as lent. A few such
threads and every later test waits 20 s for a connection and fails with PoolTimeout, far from
the test that leaked. The ledger here records which thread holds each lent connection, so that
after each test the connections of threads that have ended are named (the test fails) and given
back (the tests after it do not fail for it)."""

from __future__ import annotations

import threading
from typing import Any


class PoolLedger:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lent: dict[int, tuple[Any, Any, threading.Thread]] = {}
        self.installed = False

    def install(self) -> None:
        """Wraps psycopg-pool's lending and returning (once per process)."""
        if self.installed:
            return
        try:
            from psycopg_pool import ConnectionPool
        except ImportError:  # SQLite-only installs have no pool to watch
            return
        getconn, putconn = ConnectionPool.getconn, ConnectionPool.putconn
        ledger = self

        def lend(pool: Any, timeout: float | None = None) -> Any:
            conn = getconn(pool, timeout)
            with ledger._lock:
                ledger._lent[id(conn)] = (pool, conn, threading.current_thread())
            return conn

        def give_back(pool: Any, conn: Any) -> None:
            with ledger._lock:
                ledger._lent.pop(id(conn), None)
            putconn(pool, conn)

        ConnectionPool.getconn = lend  # type: ignore[method-assign,assignment]
        ConnectionPool.putconn = give_back  # type: ignore[method-assign,assignment]
        self.installed = True

    def reclaim_orphans(self) -> list[str]:
        """Gives back the connections of threads that have ended; returns those threads' names."""
        with self._lock:
            orphans = [
                (key, pool, conn, thread)
                for key, (pool, conn, thread) in self._lent.items()
                if not thread.is_alive()
            ]
            for key, *_ in orphans:
                del self._lent[key]
        for _key, pool, conn, _thread in orphans:
            pool.putconn(conn)  # a connection left mid-transaction is rolled back by the pool
        return [thread.name for *_, thread in orphans]


ledger = PoolLedger()
