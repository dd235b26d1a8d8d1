from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext_lazy as _

from civichub.core import conf
from civichub.core.registry import (
    ActionDef,
    CivicModuleConfig,
    ModuleManifest,
    NavItem,
    PeriodicTask,
    RoleDef,
    Tile,
)

if TYPE_CHECKING:
    from civichub.core.models import Resident, User

STAFF_ROLES = frozenset(
    {
        "community_worker",
        "department_handler",
        "department_head",
        "publisher",
        "auditor",
        "operator",
        "registrar",
    }
)


def _is_own_resident_record(user: User, resident: Resident) -> bool:
    return user.resident_id is not None and user.resident_id == resident.pk


class CoreConfig(CivicModuleConfig):
    default = True
    name = "civichub.core"
    label = "core"
    verbose_name = _("平台核心")
    default_auto_field = "django.db.models.BigAutoField"
    manifest = ModuleManifest(
        audit_actions="civichub.core.audit_actions:LABELS",
        urls="civichub.core.urls",
        api_router="civichub.core.api:router",
        api_prefix="/",
        roles=[
            RoleDef("community_worker", _("社区工作者")),
            RoleDef("department_handler", _("部门承办人")),
            RoleDef("department_head", _("部门负责人")),
            RoleDef("publisher", _("发布员")),
            RoleDef("auditor", _("审计员")),
            RoleDef("operator", _("运维管理员")),
            RoleDef("registrar", _("户籍登记员")),
        ],
        actions=[
            ActionDef("core.organisation.view", frozenset(), public=True),
            ActionDef("core.organisation.manage", frozenset({"operator"})),
            ActionDef("core.user.manage", frozenset({"operator"})),
            ActionDef("core.role.manage", frozenset({"operator"})),
            ActionDef("core.admin.access", frozenset({"operator", "auditor"})),
            ActionDef("core.metrics.view", frozenset({"operator"})),
            ActionDef("core.dashboard.view", STAFF_ROLES),
            ActionDef(
                "core.resident.view",
                frozenset({"community_worker", "registrar", "department_head"}),
                owner=True,
            ),
            ActionDef("core.resident.create", frozenset({"community_worker", "registrar"})),
            ActionDef(
                "core.resident.change", frozenset({"community_worker", "registrar"}), owner=True
            ),
            ActionDef("core.resident.view_identity", frozenset({"registrar"})),
            ActionDef("core.audit.view", frozenset({"auditor"})),
        ],
        owner_rules={"core.resident": _is_own_resident_record},
        nav=[
            NavItem(_("工作台"), "core:dashboard", "core.dashboard.view", order=10),
            NavItem(_("居民"), "core:resident_list", "core.resident.view", order=20),
            NavItem(_("审计日志"), "core:audit_log", "core.audit.view", order=90),
        ],
        tiles=[
            Tile(
                _("辖区居民"),
                "core:resident_list",
                "core.resident.view",
                "civichub.core.selectors:resident_count",
                10,
            ),
            Tile(
                _("今日审计记录"),
                "core:audit_log",
                "core.audit.view",
                "civichub.core.selectors:audit_today_count",
                90,
            ),
        ],
        demo_data=None,
        periodic_tasks=[
            # Files that no row names (a transaction rolled back after storing one, a process
            # killed between the write and the commit) are removed a day after their write.
            PeriodicTask("core.files_sweep", "civichub.core.tasks.sweep_stored_files", 6 * 3600)
        ],
        config=conf.CoreSettings,
        on_ready=["civichub.core.http:connect"],
    )
