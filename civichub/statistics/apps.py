"""Statistics across services: the module's manifest. The figures come from the measures every
module declares in its own manifest (`core.measures`), rolled up into a daily table."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from civichub.core.registry import CivicModuleConfig, ModuleManifest, NavItem, PeriodicTask
from civichub.statistics.conf import StatisticsSettings
from civichub.statistics.permissions import ACTIONS


class StatisticsConfig(CivicModuleConfig):
    default = True
    name = "civichub.statistics"
    label = "statistics"
    verbose_name = _("统计分析")
    default_auto_field = "django.db.models.BigAutoField"
    manifest = ModuleManifest(
        audit_actions="civichub.statistics.audit_actions:LABELS",
        url_prefix="",
        urls="civichub.statistics.urls",
        api_router="civichub.statistics.api:router",
        api_prefix="/statistics/",
        actions=ACTIONS,
        nav=[
            NavItem(_("统计分析"), "statistics:figures", "statistics.figures.view", order=80),
            NavItem(_("好差评"), "statistics:evaluation", order=85),
        ],
        periodic_tasks=[
            PeriodicTask("statistics.roll_up", "civichub.statistics.tasks.roll_up_figures", 300)
        ],
        demo_data="civichub.statistics.demo:seed",
        config=StatisticsSettings,
    )
