"""URLs standards fix at the site's root: the Mastodon client API (/api/v1/…, /oauth/…) and
WebFinger (/.well-known/webfinger), which servers elsewhere ask to find an account's actor."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path, re_path

from civichub.broadcast.activitypub import views as activitypub

urlpatterns: list[URLPattern | URLResolver] = [
    re_path(r"^\.well-known/webfinger/?$", activitypub.webfinger, name="webfinger"),
    path("", include("civichub.broadcast.mastodon.urls")),
]
