"""The resident portal: the public front door (home, service guide, search, online
applications). The manifest names its pages, API, permissions and demo data."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from civichub.core.measures import Measure, MeasureSource
from civichub.core.registry import (
    CivicModuleConfig,
    ModuleManifest,
    NavItem,
    PeriodicTask,
    Tile,
)
from civichub.portal.conf import PortalSettings
from civichub.portal.permissions import ACTIONS, is_own_application

SERVICES = "civichub.portal.measures:service_names"
MEASURES = MeasureSource(
    "portal.applications",
    "civichub.portal.measures:application_measures",
    (
        Measure(
            "portal.submitted",
            _("网上申请"),
            "count",
            pgettext_lazy("count of applications", "件"),
            SERVICES,
            _("服务事项"),
            60,
        ),
        Measure(
            "portal.decided",
            _("办结申请"),
            "count",
            pgettext_lazy("count of applications", "件"),
            "civichub.portal.measures:decision_names",
            _("办理结果"),
            61,
        ),
        Measure(
            "portal.decision_days",
            _("申请办结平均用时"),
            "mean",
            _("天"),
            SERVICES,
            _("服务事项"),
            62,
        ),
        Measure("portal.approval", _("准予办理率"), "rate", "%", SERVICES, _("服务事项"), 63),
        Measure(
            "portal.on_time",
            _("按承诺时限办结率"),
            "rate",
            "%",
            SERVICES,
            _("服务事项"),
            64,
        ),
    ),
)


class PortalConfig(CivicModuleConfig):
    default = True
    name = "civichub.portal"
    label = "portal"
    verbose_name = _("政务服务门户")
    default_auto_field = "django.db.models.BigAutoField"
    manifest = ModuleManifest(
        audit_actions="civichub.portal.audit_actions:LABELS",
        url_prefix="services/",
        urls="civichub.portal.urls",
        public_home="civichub.portal.views:home",
        # the publishing module tells search of a written or deleted notice
        provides={"public_notice_changed": "civichub.portal.services.searchindex:notice_changed"},
        api_router="civichub.portal.api:router",
        api_prefix="/portal/",
        actions=ACTIONS,
        owner_rules={"portal.application": is_own_application},
        nav=[
            NavItem(_("办事指南管理"), "portal:guide_admin", "portal.service.edit", order=60),
            NavItem(_("办件受理"), "portal:queue", "portal.application.handle", order=61),
            NavItem(_("政务服务指标"), "portal:measures", "portal.measures.view", order=62),
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
        measures=[MEASURES],
        demo_data="civichub.portal.demo:seed",
        config=PortalSettings,
        periodic_tasks=[
            # notices that expired or grew older than the bound leave the search
            PeriodicTask("portal.notices_refresh", "civichub.portal.tasks.notices_refresh", 86400)
        ],
    )
