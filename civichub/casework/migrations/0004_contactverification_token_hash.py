"""The hash of the token that binds a contact verification to the client that started it.
Records started before it have none, so they can no longer be confirmed or used: a sender
simply asks for a new code."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("casework", "0003_search_trigram_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="contactverification",
            name="token_hash",
            field=models.CharField(default="", editable=False, max_length=64),
        ),
    ]
