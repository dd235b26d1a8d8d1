"""Broadcast's rules, plugged into core's single check.

Publishers hold their role at an organisation; it covers the broadcast accounts of that
organisation's subtree (a post's scope is its account's organisation). Following, reposting,
favouriting and commenting are open to anyone signed in, which the services check."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from civichub.core.registry import ActionDef, RoleDef

PUBLISHER = "broadcast_publisher"

ROLES = [
    RoleDef(PUBLISHER, _("发布员"), "Posts and alerts for the organisation's broadcast accounts."),
]

ACTIONS = [
    ActionDef(
        "broadcast.account.manage",
        frozenset({"operator"}),
        description="Create broadcast accounts and set their verified badge.",
    ),
    ActionDef(
        "broadcast.federation.manage",
        frozenset({"operator"}),
        description="Block and unblock other servers (ActivityPub federation).",
    ),
    ActionDef(
        "broadcast.post.publish",
        frozenset({PUBLISHER}),
        description="Post, edit and retract posts of the organisation's accounts.",
    ),
    ActionDef(
        "broadcast.alert.publish",
        frozenset({PUBLISHER}),
        description="Post emergency alerts pushed to every resident of the target areas.",
    ),
    ActionDef(
        "broadcast.comment.moderate",
        frozenset({PUBLISHER}),
        description="Hide comments on the organisation's posts.",
    ),
    ActionDef(
        "broadcast.read",
        frozenset(),
        public=True,
        description="Read accounts, posts, threads and feeds.",
    ),
    ActionDef(
        "broadcast.interact",
        frozenset(),
        public=True,
        description="Follow, repost, favourite and comment (signed in).",
    ),
]
