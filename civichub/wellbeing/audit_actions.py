"""The module's audit actions in people's words, for the audit log (core shows the code
beside the label; an action without a label shows its code alone)."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import pgettext_lazy

__all__ = ["LABELS"]

LABELS: dict[str, Promise] = {
    "wellbeing.alert.acknowledge": pgettext_lazy("audit action", "确认预警"),
    "wellbeing.alert.follow_up": pgettext_lazy("audit action", "预警后续更新"),
    "wellbeing.alert.raise": pgettext_lazy("audit action", "发出关爱预警"),
    "wellbeing.alert.view": pgettext_lazy("audit action", "查看关爱预警"),
    "wellbeing.away.cancel": pgettext_lazy("audit action", "取消外出登记"),
    "wellbeing.away.end": pgettext_lazy("audit action", "结束外出登记"),
    "wellbeing.away.mark": pgettext_lazy("audit action", "登记外出"),
    "wellbeing.consent.withdraw": pgettext_lazy("audit action", "撤回关爱服务同意"),
    "wellbeing.contacts.set": pgettext_lazy("audit action", "设置紧急联系人"),
    "wellbeing.household.enrol": pgettext_lazy("audit action", "登记关爱对象"),
    "wellbeing.household.list": pgettext_lazy("audit action", "查看关爱对象列表"),
    "wellbeing.household.view": pgettext_lazy("audit action", "查看关爱对象"),
    "wellbeing.meter.add": pgettext_lazy("audit action", "添加表计"),
    "wellbeing.meter.remove": pgettext_lazy("audit action", "移除表计"),
    "wellbeing.meter.replace": pgettext_lazy("audit action", "更换表计"),
    "wellbeing.readings.ingest": pgettext_lazy("audit action", "接收表计读数"),
    "wellbeing.retention.apply": pgettext_lazy("audit action", "执行数据保留期限"),
    "wellbeing.visit.accept": pgettext_lazy("audit action", "接受上门任务"),
    "wellbeing.visit.create": pgettext_lazy("audit action", "派发上门任务"),
    "wellbeing.visit.escalate": pgettext_lazy("audit action", "上门任务升级"),
    "wellbeing.visit.list": pgettext_lazy("audit action", "查看上门任务列表"),
    "wellbeing.visit.on_the_way": pgettext_lazy("audit action", "出发上门"),
    "wellbeing.visit.record": pgettext_lazy("audit action", "记录上门结果"),
    "wellbeing.visit.view": pgettext_lazy("audit action", "查看上门任务"),
}
