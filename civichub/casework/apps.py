"""Casework (citizens' messages): the module's manifest."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext_lazy as _

from civichub.casework.permissions import ACTIONS, ROLES, is_own_case
from civichub.core.registry import CivicModuleConfig, ModuleManifest, NavItem, PeriodicTask, Tile

if TYPE_CHECKING:
    from civichub.core.models import User


def _open_cases(user: User) -> int:
    from civichub.casework.selectors import open_count

    return open_count(user)


def _overdue_cases(user: User) -> int:
    from civichub.casework.selectors import overdue_count

    return overdue_count(user)


def _triage_cases(user: User) -> int:
    from civichub.casework.selectors import triage_count

    return triage_count(user)


class CaseworkConfig(CivicModuleConfig):
    default = True
    name = "civichub.casework"
    label = "casework"
    verbose_name = _("群众留言")
    default_auto_field = "django.db.models.BigAutoField"
    manifest = ModuleManifest(
        url_prefix="messages/",
        demo_logins="civichub.casework.demo:demo_logins",
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
            Tile(_("待办留言"), "casework:inbox", "casework.case.view", _open_cases, 30),
            Tile(_("超期留言"), "casework:inbox", "casework.case.view", _overdue_cases, 31),
            Tile(_("待分拣留言"), "casework:inbox", "casework.case.triage", _triage_cases, 32),
        ],
        demo_data="civichub.casework.demo:seed",
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
