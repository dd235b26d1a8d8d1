from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from civichub.core.registry import CivicModuleConfig, ModuleManifest


class NotifyConfig(CivicModuleConfig):
    default = True
    name = "civichub.notify"
    label = "notify"
    verbose_name = _("通知")
    default_auto_field = "django.db.models.BigAutoField"
    manifest = ModuleManifest()
