"""Mastodon client API over broadcast's services (research notes §5), one module per resource.
Broadcast accounts are Mastodon accounts with ids "a<pk>", residents are "u<pk>"; posts are
statuses with their own ids, a resident's reply is a comment ("c<pk>"), a reblog is a repost
("r<pk>").

Every endpoint names the OAuth scopes it accepts (as Mastodon does): a token without one of
them gets 403 `{"error": "This action is outside the authorized scopes"}`, a missing or bad
token on an endpoint that needs one 401. Errors are Mastodon's `{"error": "..."}`."""

from civichub.broadcast.mastodon.endpoint import api_not_found, error_for_status
from civichub.broadcast.mastodon.views.accounts import (
    account,
    account_follow,
    account_followers,
    account_following,
    account_lookup,
    account_relationships,
    account_statuses,
    account_unfollow,
    favourites,
    verify_credentials,
)
from civichub.broadcast.mastodon.views.instance import (
    app_register,
    app_verify_credentials,
    instance_v1,
    instance_v2,
    nothing_here,
    oauth_server_metadata,
    preferences,
)
from civichub.broadcast.mastodon.views.notifications import notification, notifications
from civichub.broadcast.mastodon.views.statuses import (
    media_get,
    media_upload,
    status_context,
    status_detail,
    status_favourite,
    status_get,
    status_history,
    status_post,
    status_reblog,
    status_source,
    status_unfavourite,
    status_unreblog,
)
from civichub.broadcast.mastodon.views.timelines import (
    search,
    timeline_home,
    timeline_public,
    timeline_tag,
)

__all__ = [
    "account",
    "account_follow",
    "account_followers",
    "account_following",
    "account_lookup",
    "account_relationships",
    "account_statuses",
    "account_unfollow",
    "api_not_found",
    "app_register",
    "app_verify_credentials",
    "error_for_status",
    "favourites",
    "instance_v1",
    "instance_v2",
    "media_get",
    "media_upload",
    "nothing_here",
    "notification",
    "notifications",
    "oauth_server_metadata",
    "preferences",
    "search",
    "status_context",
    "status_detail",
    "status_favourite",
    "status_get",
    "status_history",
    "status_post",
    "status_reblog",
    "status_source",
    "status_unfavourite",
    "status_unreblog",
    "timeline_home",
    "timeline_public",
    "timeline_tag",
    "verify_credentials",
]
