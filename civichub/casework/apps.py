"""Casework (citizens' messages): the module's manifest."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from civichub.casework.actions import ACTIONS, ROLES, is_own_case
from civichub.casework.conf import CaseworkSettings
from civichub.core.measures import Measure, MeasureSource
from civichub.core.registry import CivicModuleConfig, ModuleManifest, NavItem, PeriodicTask, Tile

SERVICES = "civichub.casework.measures:service_names"
MEASURES = MeasureSource(
    "casework.cases",
    "civichub.casework.measures:case_measures",
    (
        Measure(
            "casework.received",
            _("收到留言"),
            "count",
            pgettext_lazy("count of messages", "件"),
            SERVICES,
            _("服务事项"),
            10,
        ),
        Measure(
            "casework.response_hours",
            _("首次答复平均用时"),
            "mean",
            _("小时"),
            SERVICES,
            _("服务事项"),
            11,
        ),
        Measure(
            "casework.resolution_hours",
            _("办结平均用时"),
            "mean",
            _("小时"),
            SERVICES,
            _("服务事项"),
            12,
        ),
        Measure("casework.satisfaction", _("满意率"), "rate", "%", SERVICES, _("服务事项"), 13),
    ),
)


class CaseworkConfig(CivicModuleConfig):
    default = True
    name = "civichub.casework"
    label = "casework"
    verbose_name = _("群众留言")
    default_auto_field = "django.db.models.BigAutoField"
    manifest = ModuleManifest(
        audit_actions="civichub.casework.audit_actions:LABELS",
        url_prefix="messages/",
        provides={"working_day_deadline": "civichub.casework.workdays:deadline"},
        demo_logins="civichub.casework.demo:demo_logins",
        notification_kinds="civichub.casework.notifications:KINDS",
        metrics="civichub.casework.metrics:readings",
        config=CaseworkSettings,
        error_renderers={"/open311/": "civichub.casework.open311.render:error_for_status"},
        urls="civichub.casework.urls",
        root_urls="civichub.casework.root_urls",
        api_router="civichub.casework.api:router",
        api_prefix="/casework/",
        roles=ROLES,
        actions=ACTIONS,
        owner_rules={"casework.case": is_own_case},
        nav=[
            NavItem(_("留言办理"), "casework:inbox", "casework.case.view", order=30),
            NavItem(_("留言统计"), "casework:statistics", "casework.stats.view", order=35),
            NavItem(_("我的留言"), "casework:mine", "casework.case.submit", order=60),
            NavItem(_("留言公开栏"), "casework:board", "casework.board.view", order=65),
        ],
        tiles=[
            Tile(
                _("待办留言"),
                "casework:inbox",
                "casework.case.view",
                "civichub.casework.selectors:open_count",
                30,
            ),
            Tile(
                _("超期留言"),
                "casework:inbox",
                "casework.case.view",
                "civichub.casework.selectors:overdue_count",
                31,
            ),
            Tile(
                _("待分拣留言"),
                "casework:inbox",
                "casework.case.triage",
                "civichub.casework.selectors:triage_count",
                32,
            ),
        ],
        measures=[MEASURES],
        on_ready=["civichub.casework.signals:connect"],
        demo_data="civichub.casework.demo:seed",
        periodic_tasks=[
            PeriodicTask("casework.sweep", "civichub.casework.tasks.sweep_cases", 300),
            PeriodicTask(
                "casework.escalate", "civichub.casework.tasks.escalate_overdue_cases", 900
            ),
        ],
    )
