"""Tells a module that indexes public notices (the portal's search, through the registry's
`public_notice_changed`) of every post written or deleted. Model signals rather than calls in
each service for the reason the feeds' cache gives (`feedcache`): the index is derived data, and
a change made outside the services (the admin, the demo seeder) is seen too."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save

from civichub.broadcast.models import Post
from civichub.core import registry

# a save of these columns alone (counters) changes nothing a search shows
UNSEEN = frozenset({"reposts_count", "favourites_count", "comments_count"})


def _changed(sender: Any, instance: Post, **kwargs: Any) -> None:
    update_fields = kwargs.get("update_fields")
    if update_fields and set(update_fields) <= UNSEEN:
        return
    notice_changed = registry.provided("public_notice_changed")
    if notice_changed is not None:
        # A scheduled post becomes a notice only at its time: the index is told when that is.
        notice_changed(instance.pk, visible_at=instance.published_at)


def connect() -> None:
    post_save.connect(_changed, sender=Post, dispatch_uid="broadcast.notices.save")
    post_delete.connect(_changed, sender=Post, dispatch_uid="broadcast.notices.delete")
