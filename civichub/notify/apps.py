from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext_lazy as _

from civichub.core import hooks
from civichub.core.registry import (
    ActionDef,
    CivicModuleConfig,
    ModuleManifest,
    NavItem,
    PeriodicTask,
    Tile,
)

if TYPE_CHECKING:
    from civichub.core.models import User


def _unread_count(user: User) -> int:
    from civichub.notify.selectors import unread_count

    return unread_count(user=user)


class NotifyConfig(CivicModuleConfig):
    default = True
    name = "civichub.notify"
    label = "notify"
    verbose_name = _("通知")
    default_auto_field = "django.db.models.BigAutoField"
    manifest = ModuleManifest(
        url_prefix="notifications/",
        urls="civichub.notify.urls",
        api_router="civichub.notify.api:router",
        api_prefix="/notifications/",
        actions=[
            # Everyone has an inbox; the selectors show each person only their own.
            ActionDef(
                "notify.inbox.view",
                frozenset(),
                public=True,
                description="Read one's own notifications and set one's preferences.",
            ),
            ActionDef(
                "notify.test.send",
                frozenset({"operator"}),
                description="Send a test notification to an account.",
            ),
            ActionDef(
                "notify.dispatch.view",
                frozenset({"operator"}),
                description="See any send and the state of its deliveries.",
            ),
        ],
        nav=[NavItem(_("通知"), "notify:inbox", "notify.inbox.view", order=15)],
        tiles=[Tile(_("未读通知"), "notify:inbox", "notify.inbox.view", _unread_count, order=5)],
        periodic_tasks=[
            PeriodicTask(
                "notify.delivery_sweep", "civichub.notify.tasks.deliveries_sweep", every_seconds=60
            ),
        ],
    )

    def ready(self) -> None:
        from civichub.notify import kinds  # noqa: F401  (registers the platform's kinds)

        hooks.password_changed.subscribe(
            "civichub.notify.services.accounts:password_changed_notify"
        )
