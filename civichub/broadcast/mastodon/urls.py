"""The Mastodon client API, at the site's root where Mastodon clients look for it (/api/v1/…,
/api/v2/instance, /oauth/…), each path with or without a trailing slash. Also served under
/broadcast/mastodon/ for clients configured with that base URL."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.urls import URLPattern, re_path

from civichub.broadcast.mastodon import oauth, streaming, views


def route(pattern: str, view: Callable[..., Any]) -> URLPattern:
    """`api/v1/statuses/<status_id>` matches with and without a trailing slash."""
    regex = re.sub(r"<(\w+)>", r"(?P<\1>[^/]+)", pattern)
    return re_path(rf"^{regex}/?$", view)


urlpatterns = [
    route(".well-known/oauth-authorization-server", views.oauth_server_metadata),
    route("oauth/authorize", oauth.authorize),
    route("oauth/token", oauth.token),
    route("oauth/revoke", oauth.revoke),
    re_path(
        r"^oauth/authorized_applications/?$",
        oauth.authorized_apps,
        name="mastodon_authorized_apps",
    ),
    route("api/v1/instance", views.instance_v1),
    route("api/v2/instance", views.instance_v2),
    route("api/v1/apps", views.app_register),
    route("api/v1/apps/verify_credentials", views.app_verify_credentials),
    route("api/v1/accounts/verify_credentials", views.verify_credentials),
    route("api/v1/accounts/relationships", views.account_relationships),
    route("api/v1/accounts/lookup", views.account_lookup),
    route("api/v1/accounts/<account_id>", views.account),
    route("api/v1/accounts/<account_id>/statuses", views.account_statuses),
    route("api/v1/accounts/<account_id>/follow", views.account_follow),
    route("api/v1/accounts/<account_id>/unfollow", views.account_unfollow),
    route("api/v1/accounts/<account_id>/following", views.account_following),
    route("api/v1/accounts/<account_id>/followers", views.account_followers),
    route("api/v1/favourites", views.favourites),
    route("api/v1/preferences", views.preferences),
    route("api/v1/custom_emojis", views.nothing_here),
    route("api/v1/filters", views.nothing_here),
    route("api/v2/filters", views.nothing_here),
    route("api/v1/lists", views.nothing_here),
    route("api/v1/announcements", views.nothing_here),
    route("api/v1/bookmarks", views.nothing_here),
    route("api/v1/media", views.media_upload),
    route("api/v2/media", views.media_upload),
    route("api/v1/media/<media_id>", views.media_get),
    route("api/v1/statuses", views.status_post),
    route("api/v1/statuses/<status_id>", views.status_detail),
    route("api/v1/statuses/<status_id>/context", views.status_context),
    route("api/v1/statuses/<status_id>/history", views.status_history),
    route("api/v1/statuses/<status_id>/source", views.status_source),
    route("api/v1/statuses/<status_id>/reblog", views.status_reblog),
    route("api/v1/statuses/<status_id>/unreblog", views.status_unreblog),
    route("api/v1/statuses/<status_id>/favourite", views.status_favourite),
    route("api/v1/statuses/<status_id>/unfavourite", views.status_unfavourite),
    route("api/v1/timelines/home", views.timeline_home),
    route("api/v1/timelines/public", views.timeline_public),
    route("api/v1/timelines/tag/<hashtag>", views.timeline_tag),
    route("api/v2/search", views.search),
    route("api/v1/notifications", views.notifications),
    route("api/v1/notifications/<notification_id>", views.notification),
    route("api/v1/streaming/health", streaming.streaming_health),
    route("api/v1/streaming/user", streaming.streaming_user),
    route("api/v1/streaming/user/notification", streaming.streaming_user_notification),
    route("api/v1/streaming/public", streaming.streaming_public),
    route("api/v1/streaming/public/local", streaming.streaming_public),
    route("api/v1/streaming/public/remote", streaming.streaming_public),
    # Anything else under Mastodon's API prefixes is Mastodon's 404, not civichub's API's.
    re_path(r"^api/v[12]/", views.api_not_found),
]
