"""Keeps the cached Atom feeds (`syndication.FEEDS_CACHE`) true to the database: any post,
image, CAP message or account written or deleted makes them read again. Model signals rather
than calls in each service because this is a cache, not domain flow: no service can forget it,
and a change made outside the services (the admin, the demo seeder) is seen too."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save

from civichub.broadcast.models import BroadcastAccount, CapMessage, Post, PostImage
from civichub.broadcast.syndication import FEEDS_CACHE
from civichub.core.publiccache import invalidate


def _changed(sender: Any, **kwargs: Any) -> None:
    invalidate(FEEDS_CACHE)


def connect() -> None:
    for model in (BroadcastAccount, Post, PostImage, CapMessage):
        for signal, name in ((post_save, "save"), (post_delete, "delete")):
            signal.connect(
                _changed, sender=model, dispatch_uid=f"broadcast.feeds.{model.__name__}.{name}"
            )
