"""SQLite write transactions queued behind a file lock: they commit whole or not at all, and the
queue excludes other processes."""

from __future__ import annotations

import fcntl
import multiprocessing
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction

from civichub.core.sqlitewrite import _gate, sqlite_writer


def _rows() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT x FROM writer_probe ORDER BY x")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.sqlite
@pytest.mark.django_db(transaction=True)
def test_a_write_commits_whole_or_leaves_nothing() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only (CI's PostgreSQL run leaves it out: marked `sqlite`)")
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE writer_probe (x INTEGER)")

    def insert_then_fail() -> None:
        with sqlite_writer(connection) as cursor:
            cursor.execute("INSERT INTO writer_probe VALUES (?)", [1])
            raise RuntimeError

    with pytest.raises(RuntimeError):
        insert_then_fail()
    assert _rows() == []
    assert not connection.connection.in_transaction
    with sqlite_writer(connection) as cursor:
        cursor.execute("INSERT INTO writer_probe VALUES (?)", [2])
        cursor.execute("INSERT INTO writer_probe VALUES (:x)", {"x": 3})
    assert _rows() == [2, 3]
    # Inside a caller's transaction it is part of it: rolled back with it.
    with transaction.atomic():
        with sqlite_writer(connection) as cursor:
            cursor.execute("INSERT INTO writer_probe VALUES (?)", [4])
        transaction.set_rollback(True)
    assert _rows() == [2, 3]


def _try_lock(path: str, answer: Any) -> None:
    with open(f"{path}-writers.lock", "a") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            answer.put(False)
        else:
            answer.put(True)


def test_the_queue_holds_other_processes_off_until_it_is_released(tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite3")
    gate = _gate(path)
    assert gate is not None
    _lock, fd = gate
    # Forked: the child opens the file anew, as another process would.
    context = multiprocessing.get_context("fork")
    answer = context.SimpleQueue()
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        other = context.Process(target=_try_lock, args=(path, answer))
        other.start()
        other.join(timeout=60)
        assert answer.get() is False
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
    other = context.Process(target=_try_lock, args=(path, answer))
    other.start()
    other.join(timeout=60)
    assert answer.get() is True
