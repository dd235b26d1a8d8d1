"""Trigram indexes for the inbox and board search on PostgreSQL.

Django's `icontains` compares UPPER(column::text) LIKE UPPER(%s); GIN indexes with pg_trgm's
gin_trgm_ops on exactly those expressions let PostgreSQL answer substring searches of three or
more characters from the index. SQLite (and a PostgreSQL role that may not create the pg_trgm
extension) keep the plain scan: the migration then does nothing, and search still works.
"""

import logging

from django.db import DatabaseError, migrations, transaction

logger = logging.getLogger("civichub.casework")

INDEXES = {
    "casework_case_title_trgm": "UPPER(title::text) gin_trgm_ops",
    "casework_case_text_trgm": "UPPER(text::text) gin_trgm_ops",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError:
        logger.warning("pg_trgm is not available; casework search will scan instead")
        return
    for name, expression in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON casework_case USING gin ({expression})"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("casework", "0002_open311_api_key")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
