"""The full-text index over the search entries: SQLite FTS5 (external content, kept in step by
triggers) when embedded, a stored tsvector column with a GIN index on PostgreSQL. The terms are pre-segmented by
`portal.search`, so both use plain word tokenizers."""

from django.db import migrations

VECTOR_SQL = (
    "(setweight(to_tsvector('simple', title_terms), 'A') || "
    "setweight(to_tsvector('simple', pinyin_terms), 'B') || "
    "setweight(to_tsvector('simple', body_terms), 'C'))"
)
COLUMNS = "title_terms, body_terms, pinyin_terms"
OLD = "old.title_terms, old.body_terms, old.pinyin_terms"
NEW = "new.title_terms, new.body_terms, new.pinyin_terms"
SQLITE = [
    "CREATE VIRTUAL TABLE portal_search_fts USING fts5("
    f"{COLUMNS}, content='portal_searchentry', content_rowid='id', tokenize='unicode61')",
    "CREATE TRIGGER portal_search_ai AFTER INSERT ON portal_searchentry BEGIN"
    f" INSERT INTO portal_search_fts(rowid, {COLUMNS}) VALUES (new.id, {NEW}); END",
    "CREATE TRIGGER portal_search_ad AFTER DELETE ON portal_searchentry BEGIN"
    f" INSERT INTO portal_search_fts(portal_search_fts, rowid, {COLUMNS})"
    f" VALUES ('delete', old.id, {OLD}); END",
    "CREATE TRIGGER portal_search_au AFTER UPDATE ON portal_searchentry BEGIN"
    f" INSERT INTO portal_search_fts(portal_search_fts, rowid, {COLUMNS})"
    f" VALUES ('delete', old.id, {OLD});"
    f" INSERT INTO portal_search_fts(rowid, {COLUMNS}) VALUES (new.id, {NEW}); END",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS portal_search_au",
    "DROP TRIGGER IF EXISTS portal_search_ad",
    "DROP TRIGGER IF EXISTS portal_search_ai",
    "DROP TABLE IF EXISTS portal_search_fts",
]
# The document is stored (a generated column Django does not know of), so ranking a match reads
# it instead of segmenting the text again for every row.
POSTGRES = [
    "ALTER TABLE portal_searchentry ADD COLUMN search_vector tsvector"
    f" GENERATED ALWAYS AS {VECTOR_SQL} STORED",
    "CREATE INDEX portal_search_gin ON portal_searchentry USING GIN (search_vector)",
]
POSTGRES_DROP = [
    "DROP INDEX IF EXISTS portal_search_gin",
    "ALTER TABLE portal_searchentry DROP COLUMN IF EXISTS search_vector",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("portal", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE, "postgresql": POSTGRES}),
            _run({"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}),
        )
    ]
