"""Food traceability: the module's manifest."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from civichub.core.measures import Measure, MeasureSource
from civichub.core.registry import (
    CivicModuleConfig,
    ModuleManifest,
    NavItem,
    PeriodicTask,
    Tile,
)
from civichub.traceability.conf import TraceabilitySettings
from civichub.traceability.permissions import (
    ACTIONS,
    ROLES,
    is_participant_member,
    is_recall_recipient,
)

KINDS = "civichub.traceability.measures:participant_kind_names"
MEASURES = [
    MeasureSource(
        "traceability.recalls",
        "civichub.traceability.measures:recall_measures",
        (
            Measure("traceability.recalls", _("启动召回"), "count", _("次"), order=70),
            Measure(
                "traceability.notices",
                _("召回通知"),
                "count",
                _("份"),
                KINDS,
                _("经营主体类型"),
                71,
            ),
        ),
    ),
    MeasureSource(
        "traceability.acknowledgements",
        "civichub.traceability.measures:acknowledgement_measures",
        (
            Measure(
                "traceability.acknowledged",
                _("召回确认下架"),
                "count",
                _("份"),
                KINDS,
                _("经营主体类型"),
                72,
            ),
            Measure(
                "traceability.acknowledge_hours",
                _("召回确认平均用时"),
                "mean",
                _("小时"),
                KINDS,
                _("经营主体类型"),
                73,
            ),
        ),
    ),
]


class TraceabilityConfig(CivicModuleConfig):
    default = True
    name = "civichub.traceability"
    label = "traceability"
    verbose_name = _("食品追溯")
    default_auto_field = "django.db.models.BigAutoField"
    manifest = ModuleManifest(
        audit_actions="civichub.traceability.audit_actions:LABELS",
        url_prefix="trace/",
        urls="civichub.traceability.urls",
        root_urls="civichub.traceability.root_urls",
        api_router="civichub.traceability.api:router",
        api_prefix="/traceability/",
        roles=ROLES,
        actions=ACTIONS,
        owner_rules={
            "traceability.recallnotice": is_participant_member,
            "traceability.recall": is_recall_recipient,
        },
        nav=[
            NavItem(_("食品追溯"), "traceability:lots", "traceability.event.view", order=60),
            NavItem(_("召回通知"), "traceability:recalls", order=61, staff_only=True),
        ],
        tiles=[
            Tile(
                _("进行中的召回"),
                "traceability:recalls",
                "traceability.recall.start",
                "civichub.traceability.selectors:open_recall_count",
                order=60,
            )
        ],
        notification_kinds="civichub.traceability.notifications:KINDS",
        periodic_tasks=[
            PeriodicTask(
                "traceability.recall_reminders",
                "civichub.traceability.tasks.recall_reminders_task",
                900,
            ),
        ],
        measures=MEASURES,
        demo_data="civichub.traceability.demo:seed",
        demo_logins="civichub.traceability.demo:demo_logins",
        config=TraceabilitySettings,
    )
