"""The data hub: departments' data joined into one person registry, with provenance for every
value, record linkage with clerical review, sharing agreements and an access log that the
residents read themselves. The module's manifest."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from civichub.core.measures import Measure, MeasureSource
from civichub.core.registry import CivicModuleConfig, ModuleManifest, NavItem, PeriodicTask, Tile
from civichub.datahub.conf import DatahubSettings
from civichub.datahub.permissions import ACTIONS, ROLES


def _is_own_person(user: Any, person: Any) -> bool:
    return user.resident_id is not None and person.resident_id == user.resident_id


MEASURES = MeasureSource(
    "datahub.reads",
    "civichub.datahub.measures:read_measures",
    (
        Measure(
            "datahub.reads",
            _("按协议查看个人信息"),
            "count",
            _("次"),
            "civichub.datahub.measures:purpose_names",
            _("用途"),
            80,
        ),
    ),
)


class DatahubConfig(CivicModuleConfig):
    default = True
    name = "civichub.datahub"
    label = "datahub"
    verbose_name = _("数据中台")
    default_auto_field = "django.db.models.BigAutoField"
    manifest = ModuleManifest(
        audit_actions="civichub.datahub.audit_actions:LABELS",
        url_prefix="datahub/",
        urls="civichub.datahub.urls",
        api_router="civichub.datahub.api:router",
        api_prefix="/datahub/",
        provides={
            "resident_facts": "civichub.datahub.capabilities:resident_facts",
            "verified_blood_group": "civichub.datahub.capabilities:verified_blood_group",
            "population_counts": "civichub.datahub.capabilities:population_counts",
        },
        roles=ROLES,
        actions=ACTIONS,
        owner_rules={"datahub.person": _is_own_person},
        nav=[
            NavItem(_("数据源"), "datahub:sources", "datahub.source.view", order=60),
            NavItem(_("关联审核"), "datahub:reviews", "datahub.review.decide", order=61),
            NavItem(_("共享协议"), "datahub:agreements", "datahub.agreement.view", order=62),
            NavItem(_("我的数据"), "datahub:my_data", order=63),
            NavItem(_("更正申请"), "datahub:corrections", "datahub.correction.answer", order=64),
        ],
        tiles=[
            Tile(
                _("待审核的记录关联"),
                "datahub:reviews",
                "datahub.review.decide",
                "civichub.datahub.selectors:review_open_count",
                order=60,
            )
        ],
        periodic_tasks=[PeriodicTask("datahub.pull", "civichub.datahub.tasks.pull_sources", 300)],
        measures=[MEASURES],
        demo_data="civichub.datahub.demo:seed",
        demo_logins="civichub.datahub.demo:demo_logins",
        config=DatahubSettings,
    )
