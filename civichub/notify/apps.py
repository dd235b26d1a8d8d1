from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from civichub.core import hooks, registry
from civichub.core.registry import (
    ActionDef,
    CivicModuleConfig,
    ModuleManifest,
    NavItem,
    PeriodicTask,
    Tile,
)
from civichub.notify import conf, kinds


class NotifyConfig(CivicModuleConfig):
    default = True
    name = "civichub.notify"
    label = "notify"
    verbose_name = _("通知")
    default_auto_field = "django.db.models.BigAutoField"
    manifest = ModuleManifest(
        audit_actions="civichub.notify.audit_actions:LABELS",
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
        tiles=[
            Tile(
                _("未读通知"),
                "notify:inbox",
                "notify.inbox.view",
                "civichub.notify.selectors:unread_figure",
                order=5,
            )
        ],
        periodic_tasks=[
            PeriodicTask(
                "notify.delivery_sweep", "civichub.notify.tasks.deliveries_sweep", every_seconds=60
            ),
        ],
        notification_kinds="civichub.notify.notifications:KINDS",
        metrics="civichub.notify.metrics:readings",
        config=conf.NotifySettings,
    )

    def ready(self) -> None:
        # Every module's kinds, notify's own included; core knows nothing of notify's types.
        kinds.register_declared(registry.notification_kind_paths())
        hooks.password_changed.subscribe(
            "civichub.notify.services.accounts:password_changed_notify"
        )
        hooks.demo_seeded.subscribe("civichub.notify.services.inbox:demo_inbox_settle")
