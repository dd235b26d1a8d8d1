"""What casework's caches hear of changes, connected when the app registry is ready (the
manifest's `on_ready`): intake's per-process reference data (categories, the calendar, the
receiving area, the Open311 keys) and the public board's cache. Caches only: the domain's flow
goes through the services, never through signals."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from civichub.casework import boardcache, reference
from civichub.casework.models import CalendarDay, Category, CategoryAttribute, Open311ApiKey
from civichub.core.models import Organisation


def connect() -> None:
    # Any change to reference data, by a service, the admin or a data load, replaces the
    # copies intake keeps in each process (the Open311 keys among them).
    for model in (Category, CategoryAttribute, CalendarDay, Organisation, Open311ApiKey):
        post_save.connect(reference.changed, sender=model, dispatch_uid=f"reference-{model}")
        post_delete.connect(reference.changed, sender=model, dispatch_uid=f"reference-{model}-")
    boardcache.connect()
