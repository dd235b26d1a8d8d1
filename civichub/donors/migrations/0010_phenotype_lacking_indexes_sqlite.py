"""On SQLite, one small partial index per antigen a request may ask donors to lack: the donors
whose phenotype records the antigen as negative (`json_extract(phenotype, '$."Fya"') = '-'`,
written as the ranking writes it, `selectors.antigens.lacking_sql`). SQLite has no GIN index;
with these, a search for donors lacking a rare antigen (Fy(a) among Han Chinese donors) reads
the few hundred such donors of the whole registry instead of every phenotyped donor of the
disc, as PostgreSQL does through `donors_donor_phenotype_gin` (migration 0009). PostgreSQL:
nothing (its GIN index serves every antigen).
"""

from django.db import migrations

# `models.REQUESTABLE_ANTIGENS` when this was written (a migration keeps its own copy).
ANTIGENS = ("C", "c", "E", "e", "K", "k", "Fya", "Fyb", "Jka", "Jkb", "Dia")


def index_name(n: int, antigen: str) -> str:
    return f"donors_donor_lacks_{n:02d}_{antigen.lower()}"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for n, antigen in enumerate(ANTIGENS):
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {index_name(n, antigen)} ON donors_donor (abo, rhd)"
            f" WHERE json_extract(phenotype, '$.\"{antigen}\"') = '-'"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for n, antigen in enumerate(ANTIGENS):
        schema_editor.execute(f"DROP INDEX IF EXISTS {index_name(n, antigen)}")


class Migration(migrations.Migration):
    dependencies = [("donors", "0009_phenotype_gin_index")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
