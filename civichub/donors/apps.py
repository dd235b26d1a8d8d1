"""Emergency blood donors (registry, eligibility, compatibility, call-ups): the module's
manifest."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from civichub.core.measures import Measure, MeasureSource
from civichub.core.registry import CivicModuleConfig, ModuleManifest, NavItem, PeriodicTask, Tile
from civichub.donors import conf
from civichub.donors.permissions import ACTIONS, ROLES, is_own_donor

COMPONENTS = "civichub.donors.measures:component_names"
_M = "civichub.donors.measures:"
MEASURES = [
    MeasureSource(
        "donors.requests",
        _M + "request_measures",
        (
            Measure(
                "donors.requests", _("用血需求"), "count", _("件"), COMPONENTS, _("血液成分"), 50
            ),
            Measure(
                "donors.requests_by_group",
                _("用血需求（按患者血型）"),
                "count",
                _("件"),
                _M + "group_names",
                _("患者血型"),
                56,
            ),
        ),
    ),
    MeasureSource(
        "donors.acceptance",
        _M + "acceptance_measures",
        (
            Measure(
                "donors.acceptance_minutes",
                _("首位献血者接受平均用时"),
                "mean",
                _("分钟"),
                COMPONENTS,
                _("血液成分"),
                52,
            ),
        ),
    ),
    MeasureSource(
        "donors.closing",
        _M + "closing_measures",
        (
            Measure("donors.met", _("已满足需求"), "count", _("件"), COMPONENTS, _("血液成分"), 51),
            Measure(
                "donors.met_hours",
                _("需求满足平均用时"),
                "mean",
                _("小时"),
                COMPONENTS,
                _("血液成分"),
                53,
            ),
            Measure(
                "donors.fulfilment", _("需求满足率"), "rate", "%", COMPONENTS, _("血液成分"), 54
            ),
        ),
    ),
    MeasureSource(
        "donors.call_ups",
        _M + "call_up_measures",
        (
            Measure(
                "donors.call_ups",
                _("发出献血召集"),
                "count",
                _("人次"),
                COMPONENTS,
                _("血液成分"),
                55,
            ),
        ),
    ),
]


class DonorsConfig(CivicModuleConfig):
    default = True
    name = "civichub.donors"
    label = "donors"
    verbose_name = _("应急献血")
    default_auto_field = "django.db.models.BigAutoField"
    manifest = ModuleManifest(
        audit_actions="civichub.donors.audit_actions:LABELS",
        url_prefix="donors/",
        urls="civichub.donors.urls",
        # The live streams of the board and a request, beside Django's request cycle.
        asgi_streams={
            "/donors/stream/": "civichub.donors.live:board_stream_asgi",
            "/donors/requests/<int:request_id>/stream/": "civichub.donors.live:request_stream_asgi",
        },
        api_router="civichub.donors.api:router",
        api_prefix="/donors/",
        roles=ROLES,
        actions=ACTIONS,
        owner_rules={"donors.donor": is_own_donor},
        nav=[
            NavItem(_("用血需求"), "donors:board", "donors.request.view", order=50),
            NavItem(_("献血志愿者"), "donors:list", "donors.donor.view", order=51),
        ],
        tiles=[
            Tile(
                _("可召集献血者"),
                "donors:list",
                "donors.donor.view",
                "civichub.donors.selectors:eligible_count",
                order=50,
            )
        ],
        notification_kinds="civichub.donors.notifications:KINDS",
        periodic_tasks=[PeriodicTask("donors.waves", "civichub.donors.tasks.waves_due", 60)],
        measures=MEASURES,
        demo_data="civichub.donors.demo:seed",
        demo_logins="civichub.donors.demo:demo_logins",
        config=conf.DonorsSettings,
    )
