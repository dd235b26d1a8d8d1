"""Broadcast (government accounts, posts and emergency alerts): the module's manifest."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from civichub.broadcast.permissions import ACTIONS, ROLES
from civichub.core.measures import Measure, MeasureSource
from civichub.core.registry import CivicModuleConfig, ModuleManifest, NavItem, PeriodicTask, Tile

MEASURES = [
    MeasureSource(
        "broadcast.posts",
        "civichub.broadcast.measures:post_measures",
        (
            Measure(
                "broadcast.posts",
                _("发布信息"),
                "count",
                _("条"),
                "civichub.broadcast.measures:category_names",
                _("类别"),
                20,
            ),
        ),
    ),
    MeasureSource(
        "broadcast.reach",
        "civichub.broadcast.measures:reach_measures",
        (Measure("broadcast.views", _("信息阅读量"), "count", _("次"), order=21),),
    ),
]


class BroadcastConfig(CivicModuleConfig):
    default = True
    name = "civichub.broadcast"
    label = "broadcast"
    verbose_name = _("政务发布")
    default_auto_field = "django.db.models.BigAutoField"
    manifest = ModuleManifest(
        audit_actions="civichub.broadcast.audit_actions:LABELS",
        url_prefix="broadcast/",
        provides={
            "public_notices": "civichub.broadcast.selectors:area_notices",
            "searchable_notices": "civichub.broadcast.selectors:searchable_notices",
            "public_announcement": "civichub.broadcast.services.announcements:announcement_publish",
        },
        urls="civichub.broadcast.urls",
        root_urls="civichub.broadcast.root_urls",
        error_renderers=dict.fromkeys(
            ("/api/v1/", "/api/v2/", "/oauth/token", "/oauth/revoke"),
            "civichub.broadcast.mastodon.views:error_for_status",
        ),
        api_router="civichub.broadcast.api:router",
        api_prefix="/broadcast/",
        roles=ROLES,
        actions=ACTIONS,
        nav=[
            NavItem(_("关注动态"), "broadcast:home", "broadcast.interact", order=70),
            NavItem(_("政务账号"), "broadcast:directory", "broadcast.interact", order=71),
            NavItem(_("发布"), "broadcast:publish", "broadcast.post.publish", order=69),
        ],
        # The publisher's landing leads to compose first.
        tiles=[Tile(_("发布"), "broadcast:publish", "broadcast.post.publish", order=1)],
        measures=MEASURES,
        # The Atom feeds' cache forgets what a change makes stale (signal receivers).
        # A module that indexes public notices (the portal's search) hears of each change.
        on_ready=[
            "civichub.broadcast.feedcache:connect",
            "civichub.broadcast.noticechanges:connect",
        ],
        # Every event stream, beside Django's request cycle (no thread per open stream):
        # Mastodon's public and user streams, the pages' live feed.
        asgi_streams={
            **{
                f"{prefix}/api/v1/streaming/{stream}": (
                    f"civichub.broadcast.mastodon.streaming:{chooser}"
                )
                for prefix in ("", "/broadcast/mastodon")
                for stream, chooser in (
                    ("public", "public_stream_asgi"),
                    ("public/local", "public_stream_asgi"),
                    ("public/remote", "public_stream_asgi"),
                    ("user", "user_stream_asgi"),
                    ("user/notification", "user_notification_stream_asgi"),
                )
            },
            "/broadcast/stream/": "civichub.broadcast.streaming:page_stream_asgi",
        },
        demo_data="civichub.broadcast.demo:seed",
        notification_kinds="civichub.broadcast.notifications:KINDS",
        periodic_tasks=[
            PeriodicTask(
                "broadcast.media_expire", "civichub.broadcast.tasks.expire_unattached_media", 3600
            ),
            PeriodicTask(
                "broadcast.deliveries_due", "civichub.broadcast.tasks.retry_deliveries", 60
            ),
            PeriodicTask(
                "broadcast.signatures_expire", "civichub.broadcast.tasks.expire_signatures", 3600
            ),
        ],
    )
