"""Keeps the cached public board (`selectors.board_list`) true to the database: any saved or
deleted case, reply, category or organisation makes it read again. Model signals rather than
calls in each service because this is a cache, not domain flow: no service can forget it, and
a change made outside the services (the admin, a migration, the demo seeder) is seen too."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save

from civichub.casework.models import Case, CaseEvent, Category, EventKind
from civichub.casework.selectors.board import BOARD_CACHE
from civichub.core.models import Organisation
from civichub.core.publiccache import invalidate


def _case_saved(sender: Any, instance: Case, created: bool, **kwargs: Any) -> None:
    # A new message is on the board only if it is public, has its department and is merged into
    # no other (the board's filter, `selectors.board`); intake stores it without a department,
    # which routing gives it in a save of its own. Any other change may take one on or off.
    on_board = instance.is_public and instance.department_id and not instance.merged_into_id
    if created and not on_board:
        return
    invalidate(BOARD_CACHE)


def _event_saved(sender: Any, instance: CaseEvent, **kwargs: Any) -> None:
    if instance.kind == EventKind.REPLY:  # only replies are shown on the board
        invalidate(BOARD_CACHE)


def _changed(sender: Any, **kwargs: Any) -> None:
    invalidate(BOARD_CACHE)


def connect() -> None:
    uid = "casework.board"
    post_save.connect(_case_saved, sender=Case, dispatch_uid=f"{uid}.case")
    post_save.connect(_event_saved, sender=CaseEvent, dispatch_uid=f"{uid}.event")
    for model in (Case, CaseEvent, Category, Organisation):
        post_delete.connect(_changed, sender=model, dispatch_uid=f"{uid}.{model.__name__}.del")
    for model in (Category, Organisation):
        post_save.connect(_changed, sender=model, dispatch_uid=f"{uid}.{model.__name__}.save")
