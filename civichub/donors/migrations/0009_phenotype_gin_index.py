"""A GIN index of the phenotypes on record, on PostgreSQL, for searches of donors lacking a
rare antigen (`selectors.antigens.RARE_ANTIGEN_MAX`): `phenotype @> '{"Fya": "-"}'` finds the
few such donors of the whole registry without reading every phenotyped donor of the disc.
Its condition is written as the ranking writes it (`selectors.antigens.phenotyped_sql`).
SQLite has no such index: the migration does nothing there, and the search reads the index
of phenotyped donors as before.
"""

from django.db import migrations

NAME = "donors_donor_phenotype_gin"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {NAME} ON donors_donor"
        " USING gin (phenotype jsonb_path_ops) WHERE NOT (phenotype = '{}'::jsonb)"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {NAME}")


class Migration(migrations.Migration):
    dependencies = [("donors", "0008_phenotyped_ranking_index")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
