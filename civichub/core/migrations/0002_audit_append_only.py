"""Database-level guard: the audit log refuses UPDATE and DELETE, whatever the client."""

from django.db import migrations

from civichub.core import dbguard


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    dbguard.install(schema_editor.connection)


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    dbguard.remove(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
