"""Broadcast (government accounts, posts and emergency alerts): the module's manifest."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from civichub.broadcast.permissions import ACTIONS, ROLES
from civichub.core.registry import CivicModuleConfig, ModuleManifest, NavItem, PeriodicTask


class BroadcastConfig(CivicModuleConfig):
    default = True
    name = "civichub.broadcast"
    label = "broadcast"
    verbose_name = _("政务发布")
    default_auto_field = "django.db.models.BigAutoField"
    manifest = ModuleManifest(
        url_prefix="broadcast/",
        urls="civichub.broadcast.urls",
        root_urls="civichub.broadcast.mastodon.urls",
        error_renderers=dict.fromkeys(
            ("/api/v1/", "/api/v2/", "/oauth/token", "/oauth/revoke"),
            "civichub.broadcast.mastodon.views:error_for_status",
        ),
        api_router="civichub.broadcast.api:router",
        api_prefix="/broadcast/",
        roles=ROLES,
        actions=ACTIONS,
        nav=[NavItem(_("关注动态"), "broadcast:home", "broadcast.interact", order=70)],
        demo_data="civichub.broadcast.demo:seed",
        notification_kinds="civichub.broadcast.notifications:KINDS",
        periodic_tasks=[
            PeriodicTask(
                "broadcast.media_expire", "civichub.broadcast.tasks.expire_unattached_media", 3600
            ),
        ],
    )
