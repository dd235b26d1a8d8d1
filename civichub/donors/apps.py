"""Emergency blood donors (registry, eligibility, compatibility, call-ups): the module's
manifest."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from civichub.core.registry import CivicModuleConfig, ModuleManifest, NavItem, PeriodicTask, Tile
from civichub.donors import conf
from civichub.donors.permissions import ACTIONS, ROLES, is_own_donor


class DonorsConfig(CivicModuleConfig):
    default = True
    name = "civichub.donors"
    label = "donors"
    verbose_name = _("应急献血")
    default_auto_field = "django.db.models.BigAutoField"
    manifest = ModuleManifest(
        url_prefix="donors/",
        urls="civichub.donors.urls",
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
        demo_data="civichub.donors.demo:seed",
        demo_logins="civichub.donors.demo:demo_logins",
        config=conf.DonorsSettings,
    )
