"""`insert_row` writes what `Model.save()` writes for a new row, with the same signals."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models.signals import post_save, pre_save
from django.forms.models import model_to_dict
from django.utils import timezone

from civichub.core.models import AuditEvent
from civichub.core.rows import insert_row

pytestmark = pytest.mark.django_db


def event(**changes: Any) -> AuditEvent:
    return AuditEvent(
        at=timezone.now(),
        actor_label="system:test",
        action="core.test.insert",
        object_type="core.organisation",
        object_id="7",
        changes={"name": "街道", "count": 2, **changes},
    )


def stored(row: AuditEvent) -> dict[str, Any]:
    values = model_to_dict(AuditEvent.objects.get(pk=row.pk))
    values.pop("id")
    return values


def test_insert_row_stores_the_row_save_stores() -> None:
    when = timezone.now()
    by_save, by_insert = event(), event()
    by_save.at = by_insert.at = when
    by_save.save()
    insert_row(by_insert)
    assert by_insert.pk is not None and by_insert.pk != by_save.pk
    assert not by_insert._state.adding
    assert stored(by_insert) == stored(by_save)


def test_insert_row_sends_the_save_signals_as_a_new_row() -> None:
    seen: list[tuple[str, bool | None]] = []

    def before(sender: Any, instance: AuditEvent, **kwargs: Any) -> None:
        seen.append(("pre", instance.pk is None))

    def after(sender: Any, instance: AuditEvent, created: bool, **kwargs: Any) -> None:
        seen.append(("post", created and instance.pk is not None))

    pre_save.connect(before, sender=AuditEvent, dispatch_uid="test-rows-pre")
    post_save.connect(after, sender=AuditEvent, dispatch_uid="test-rows-post")
    try:
        insert_row(event())
    finally:
        pre_save.disconnect(dispatch_uid="test-rows-pre", sender=AuditEvent)
        post_save.disconnect(dispatch_uid="test-rows-post", sender=AuditEvent)
    assert seen == [("pre", True), ("post", True)]
