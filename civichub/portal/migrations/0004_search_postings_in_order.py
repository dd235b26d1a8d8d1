"""A token's postings are read in the order of one index that holds the entry too (best first,
ties by entry): the first places come from the index alone, in the same order on SQLite and
PostgreSQL. The titles' pinyin keys now include each two adjacent words, so a catalogue already
published is indexed again."""

from django.db import migrations, models


def index_published(apps, schema_editor):
    if not apps.get_model("portal", "SearchEntry").objects.exists():
        return
    from civichub.portal.services import catalogue_reindex

    catalogue_reindex()


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0003_search_postings"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="searchposting",
            name="portal_posting_best",
        ),
        migrations.AddIndex(
            model_name="searchposting",
            index=models.Index(
                fields=["token", "is_service", "-impact", "entry"], name="portal_posting_order"
            ),
        ),
        migrations.RunPython(index_published, migrations.RunPython.noop),
    ]
