"""The quicker flush between transactional tests on PostgreSQL (civichub.testing.flush): it
leaves the tables as Django's own flush does, and the schema keeps what makes it safe."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection

from civichub.core.models import Resident
from civichub.testing import flush
from civichub.testing.city import build_city

pytestmark = pytest.mark.postgres


def _postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: on SQLite the suite's flush is Django's own")


def _row_counts() -> dict[str, int]:
    tables = sorted(connection.introspection.django_table_names(only_existing=True))
    with connection.cursor() as cursor:
        counts = {}
        for table in tables:
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"SELECT count(*) FROM {quoted}")  # noqa: S608
            counts[table] = cursor.fetchone()[0]
    return counts


def _fill() -> None:
    """A small city, and more residents than the flush deletes row by row."""
    city = build_city()
    Resident.objects.bulk_create(
        Resident(name=f"居民{i}", community=city.community_a1) for i in range(flush.FEW_ROWS + 1)
    )


@pytest.mark.django_db(transaction=True)
def test_the_flush_between_tests_leaves_every_table_as_djangos_own_flush_does() -> None:
    _postgresql_only()
    _fill()
    tables = sorted(connection.introspection.django_table_names(only_existing=True))
    statements = flush.emptying(connection, tables)
    # Both ways are taken: the residents are truncated, the city's few rows deleted.
    assert statements[0].startswith("TRUNCATE ") and '"core_resident"' in statements[0]
    assert 'DELETE FROM "core_organisation";' in statements
    assert len(statements) < len(tables) / 2, "only the tables holding rows are touched"

    with flush._teardown():
        call_command("flush", interactive=False, verbosity=0)
    quick = _row_counts()
    _fill()
    call_command("flush", interactive=False, verbosity=0)  # Django's own TRUNCATE of them all
    assert quick == _row_counts()
    assert quick["core_resident"] == quick["core_organisation"] == quick["core_auditevent"] == 0


@pytest.mark.django_db
def test_every_foreign_key_is_deferred_and_only_the_audit_guard_is_a_trigger() -> None:
    """What lets the flush delete from tables in any order, trigger-free: were a migration to add
    a foreign key checked at once, or a trigger on DELETE, the flush would need another look."""
    _postgresql_only()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint "
            "WHERE contype = 'f' AND NOT (condeferrable AND condeferred)"
        )
        assert cursor.fetchall() == []
        cursor.execute(
            "SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal"
        )
        assert cursor.fetchall() == [("core_auditevent", "core_auditevent_append_only")]
