"""The module's audit actions in people's words, for the audit log (core shows the code
beside the label; an action without a label shows its code alone)."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import pgettext_lazy

__all__ = ["LABELS"]

LABELS: dict[str, Promise] = {
    "notification.deliver": pgettext_lazy("audit action", "投递通知"),
    "notification.preference_update": pgettext_lazy("audit action", "修改通知设置"),
    "notification.read": pgettext_lazy("audit action", "标记通知已读"),
    "notification.read_all": pgettext_lazy("audit action", "全部通知标为已读"),
    "notification.send": pgettext_lazy("audit action", "发送通知"),
    "notification.sweep": pgettext_lazy("audit action", "清理过期通知"),
    "push_subscription.delete": pgettext_lazy("audit action", "删除推送订阅"),
    "push_subscription.save": pgettext_lazy("audit action", "保存推送订阅"),
}
