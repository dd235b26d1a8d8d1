"""Emergency blood donors (registry, eligibility, compatibility, call-ups): the module's
manifest."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from civichub.core.registry import CivicModuleConfig, ModuleManifest
from civichub.donors import conf
from civichub.donors.permissions import ACTIONS, ROLES, is_own_donor


class DonorsConfig(CivicModuleConfig):
    default = True
    name = "civichub.donors"
    label = "donors"
    verbose_name = _("应急献血")
    default_auto_field = "django.db.models.BigAutoField"
    manifest = ModuleManifest(
        roles=ROLES,
        actions=ACTIONS,
        owner_rules={"donors.donor": is_own_donor},
        config=conf.DonorsSettings,
    )
