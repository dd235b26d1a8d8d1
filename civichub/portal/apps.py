"""The resident portal: the public front door (home, service guide, search, online
applications). The manifest names its pages, API, permissions and demo data."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from civichub.core.registry import CivicModuleConfig, ModuleManifest, NavItem, Tile
from civichub.portal.conf import PortalSettings
from civichub.portal.permissions import ACTIONS, is_own_application


class PortalConfig(CivicModuleConfig):
    default = True
    name = "civichub.portal"
    label = "portal"
    verbose_name = _("政务服务门户")
    default_auto_field = "django.db.models.BigAutoField"
    manifest = ModuleManifest(
        url_prefix="services/",
        urls="civichub.portal.urls",
        public_home="civichub.portal.views:home",
        api_router="civichub.portal.api:router",
        api_prefix="/portal/",
        actions=ACTIONS,
        owner_rules={"portal.application": is_own_application},
        nav=[
            NavItem(_("办事指南管理"), "portal:guide_admin", "portal.service.edit", order=60),
            NavItem(_("办件受理"), "portal:queue", "portal.application.handle", order=61),
        ],
        tiles=[
            Tile(
                _("待处理办件"),
                "portal:queue",
                "portal.application.handle",
                "civichub.portal.selectors:pending_count",
                order=60,
            )
        ],
        notification_kinds="civichub.portal.notifications:KINDS",
        demo_data="civichub.portal.demo:seed",
        config=PortalSettings,
    )
