"""The two consent texts a volunteer agrees to, each on its own (PIPL art. 29: sensitive personal
information needs a separate consent). A donor record keeps the version agreed to and the time;
a changed text gets a new version, so what someone agreed to can always be told."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

HEALTH_VERSION = "health-2026-12"
LOCATION_VERSION = "location-2026-12"

HEALTH_TEXT = _(
    "我同意血站和医院为紧急用血召集保存并使用我的血型、性别、出生日期、体重和献血记录。"
    "这些属于敏感个人信息；我可以随时撤回，撤回后这些信息立即删除，也不会再被召集。"
)
LOCATION_TEXT = _(
    "我同意保存我的大致位置（约 0.7 平方公里的区域，不保存地址或确切位置），用于召集附近的献血者。"
    "工作人员只看到社区和距离范围；我可以随时撤回，撤回后位置立即删除。"
)
