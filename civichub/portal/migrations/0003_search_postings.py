"""The search index becomes two tables of our own, the same on SQLite and PostgreSQL (tokens
with their entry counts, postings with their weights): the full-text indexes of 0002 (FTS5,
tsvector) and the pre-segmented columns they read go."""

import django.db.models.deletion
from django.db import migrations, models

FULL_TEXT_DROP = {
    "sqlite": [
        "DROP TRIGGER IF EXISTS portal_search_au",
        "DROP TRIGGER IF EXISTS portal_search_ad",
        "DROP TRIGGER IF EXISTS portal_search_ai",
        "DROP TABLE IF EXISTS portal_search_fts",
    ],
    "postgresql": [
        "DROP INDEX IF EXISTS portal_search_gin",
        "ALTER TABLE portal_searchentry DROP COLUMN IF EXISTS search_vector",
    ],
}


def drop_full_text(apps, schema_editor):
    for statement in FULL_TEXT_DROP.get(schema_editor.connection.vendor, []):
        schema_editor.execute(statement)


def index_published(apps, schema_editor):
    """An installation with published services gets their postings now (the entries are
    rewritten from the published versions); a new one has none and imports nothing."""
    if not apps.get_model("portal", "SearchEntry").objects.exists():
        return
    from civichub.portal.services import catalogue_reindex

    catalogue_reindex()


class Migration(migrations.Migration):

    dependencies = [
        ('portal', '0002_search_index'),
    ]

    operations = [
        migrations.RunPython(drop_full_text, migrations.RunPython.noop),
        migrations.CreateModel(
            name='SearchToken',
            fields=[
                ('token', models.CharField(max_length=64, primary_key=True, serialize=False)),
                ('kind', models.CharField(max_length=4)),
                ('entries', models.IntegerField(default=0)),
            ],
        ),
        migrations.RemoveField(
            model_name='searchentry',
            name='body_terms',
        ),
        migrations.RemoveField(
            model_name='searchentry',
            name='pinyin_terms',
        ),
        migrations.RemoveField(
            model_name='searchentry',
            name='title_terms',
        ),
        migrations.CreateModel(
            name='SearchPosting',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('token', models.CharField(max_length=64)),
                ('is_service', models.BooleanField()),
                ('impact', models.FloatField()),
                ('entry', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='portal.searchentry')),
            ],
            options={
                'indexes': [models.Index(fields=['token', 'is_service', '-impact'], name='portal_posting_best')],
                'constraints': [models.UniqueConstraint(fields=('token', 'entry'), name='portal_posting_token_entry')],
            },
        ),
        migrations.RunPython(index_published, migrations.RunPython.noop),
    ]
