"""Reads for the OAuth pages: the apps a resident has let use their account."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from civichub.broadcast.mastodon.models import OAuthToken
from civichub.core.models import User


@dataclass
class AuthorizedApp:
    app_id: int
    name: str
    website: str
    scopes: list[str]
    authorized_at: dt.datetime
    last_used_at: dt.datetime | None


def authorized_apps(user: User) -> list[AuthorizedApp]:
    """Each app with a live token for the user, once, with the scopes of all its tokens."""
    apps: dict[int, AuthorizedApp] = {}
    tokens = (
        OAuthToken.objects.filter(user=user, revoked_at__isnull=True)
        .select_related("app")
        .order_by("created_at", "id")
    )
    for token in tokens:
        entry = apps.get(token.app_id)
        if entry is None:
            entry = apps[token.app_id] = AuthorizedApp(
                token.app_id, token.app.name, token.app.website, [], token.created_at, None
            )
        entry.scopes += [s for s in token.scopes.split() if s not in entry.scopes]
        if token.last_used_at and (
            entry.last_used_at is None or token.last_used_at > entry.last_used_at
        ):
            entry.last_used_at = token.last_used_at
    return sorted(apps.values(), key=lambda a: a.name)
