"""Elderly wellbeing (utility meters, anomaly alerts, home visits): the module's manifest."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from civichub.core.measures import Measure, MeasureSource
from civichub.core.registry import CivicModuleConfig, ModuleManifest, NavItem, PeriodicTask
from civichub.wellbeing import conf
from civichub.wellbeing.permissions import ACTIONS, ROLES, is_own_alert, is_own_household

MEASURES = [
    MeasureSource(
        "wellbeing.alerts",
        "civichub.wellbeing.measures:alert_measures",
        (
            Measure(
                "wellbeing.alerts",
                _("关爱预警"),
                "count",
                _("条"),
                "civichub.wellbeing.measures:alert_kind_names",
                _("预警类型"),
                30,
            ),
        ),
    ),
    MeasureSource(
        "wellbeing.visits",
        "civichub.wellbeing.measures:visit_measures",
        (
            Measure(
                "wellbeing.visits",
                _("上门走访"),
                "count",
                _("次"),
                "civichub.wellbeing.measures:visit_outcome_names",
                _("走访结果"),
                31,
            ),
        ),
    ),
]


class WellbeingConfig(CivicModuleConfig):
    default = True
    name = "civichub.wellbeing"
    label = "wellbeing"
    verbose_name = _("独居老人关爱")
    default_auto_field = "django.db.models.BigAutoField"
    manifest = ModuleManifest(
        audit_actions="civichub.wellbeing.audit_actions:LABELS",
        url_prefix="wellbeing/",
        urls="civichub.wellbeing.urls",
        nav=[
            NavItem(_("社区关爱"), "wellbeing:dashboard", "wellbeing.household.view", order=39),
            NavItem(_("上门查看"), "wellbeing:visits", "wellbeing.visit.act", order=40),
        ],
        api_router="civichub.wellbeing.api:router",
        measures=MEASURES,
        demo_data="civichub.wellbeing.demo:seed",
        api_prefix="/wellbeing/",
        roles=ROLES,
        actions=ACTIONS,
        owner_rules={
            "wellbeing.household": is_own_household,
            "wellbeing.alert": is_own_alert,
        },
        periodic_tasks=[
            PeriodicTask("wellbeing.escalate", "civichub.wellbeing.tasks.escalate_alerts", 60),
            PeriodicTask("wellbeing.retention", "civichub.wellbeing.tasks.apply_retention", 3600),
            # Households left due by a lost task are detected within a minute.
            PeriodicTask("wellbeing.detect", "civichub.wellbeing.tasks.detect_due", 60),
            PeriodicTask(
                "wellbeing.partitions", "civichub.wellbeing.tasks.ensure_reading_partitions", 86400
            ),
        ],
        notification_kinds="civichub.wellbeing.notifications:KINDS",
        metrics="civichub.wellbeing.metrics:readings",
        config=conf.WellbeingSettings,
    )
