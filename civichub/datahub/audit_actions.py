"""The module's audit actions in people's words, for the audit log (core shows the code
beside the label; an action without a label shows its code alone)."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import pgettext_lazy

__all__ = ["LABELS"]

LABELS: dict[str, Promise] = {
    "datahub.agreement.create": pgettext_lazy("audit action", "签订数据共享协议"),
    "datahub.agreement.end": pgettext_lazy("audit action", "终止数据共享协议"),
    "datahub.consent.give": pgettext_lazy("audit action", "同意数据共享"),
    "datahub.consent.withdraw": pgettext_lazy("audit action", "撤回数据共享同意"),
    "datahub.correction.answer": pgettext_lazy("audit action", "答复更正申请"),
    "datahub.correction.request": pgettext_lazy("audit action", "申请更正数据"),
    "datahub.import.done": pgettext_lazy("audit action", "数据导入完成"),
    "datahub.import.rollback": pgettext_lazy("audit action", "撤销数据导入"),
    "datahub.import.start": pgettext_lazy("audit action", "开始导入数据"),
    "datahub.mydata.view": pgettext_lazy("audit action", "查看本人数据"),
    "datahub.person.read": pgettext_lazy("audit action", "读取个人数据"),
    "datahub.record.relink": pgettext_lazy("audit action", "重新关联记录"),
    "datahub.registry.link": pgettext_lazy("audit action", "关联人口登记"),
    "datahub.rejects.download": pgettext_lazy("audit action", "下载被拒记录"),
    "datahub.review.decide": pgettext_lazy("audit action", "审核关联结果"),
    "datahub.review.view": pgettext_lazy("audit action", "查看待审核关联"),
    "datahub.source.sync": pgettext_lazy("audit action", "同步数据源"),
}
