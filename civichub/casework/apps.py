"""Casework (citizens' messages): the module's manifest."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext_lazy as _

from civichub.casework.permissions import ACTIONS, ROLES, is_own_case
from civichub.core.registry import CivicModuleConfig, ModuleManifest, PeriodicTask

if TYPE_CHECKING:
    pass


class CaseworkConfig(CivicModuleConfig):
    default = True
    name = "civichub.casework"
    label = "casework"
    verbose_name = _("群众留言")
    default_auto_field = "django.db.models.BigAutoField"
    manifest = ModuleManifest(
        roles=ROLES,
        actions=ACTIONS,
        owner_rules={"casework.case": is_own_case},
        periodic_tasks=[
            PeriodicTask("casework.sweep", "civichub.casework.tasks.sweep_cases", 300),
            PeriodicTask(
                "casework.escalate", "civichub.casework.tasks.escalate_overdue_cases", 900
            ),
        ],
    )

    def ready(self) -> None:
        from civichub.casework.notifications import register_kinds

        register_kinds()
