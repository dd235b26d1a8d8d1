"""The module's audit actions in people's words, for the audit log (core shows the code
beside the label; an action without a label shows its code alone)."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import pgettext_lazy

__all__ = ["LABELS"]

LABELS: dict[str, Promise] = {
    "portal.application.accepted": pgettext_lazy("audit action", "受理办件"),
    "portal.application.approved": pgettext_lazy("audit action", "办结办件（准予）"),
    "portal.application.more_needed": pgettext_lazy("audit action", "要求补正材料"),
    "portal.application.rate": pgettext_lazy("audit action", "评价办件"),
    "portal.application.refused": pgettext_lazy("audit action", "办结办件（不予）"),
    "portal.application.submit": pgettext_lazy("audit action", "提交办件"),
    "portal.application.submitted": pgettext_lazy("audit action", "提交办件"),
    "portal.application.withdrawn": pgettext_lazy("audit action", "撤回办件"),
    "portal.certificate.download": pgettext_lazy("audit action", "下载电子证照"),
    "portal.certificate.issue": pgettext_lazy("audit action", "签发电子证照"),
    "portal.certificate.revoke": pgettext_lazy("audit action", "吊销电子证照"),
    "portal.dataset.publish": pgettext_lazy("audit action", "发布开放数据"),
    "portal.dataset.save": pgettext_lazy("audit action", "保存开放数据"),
    "portal.measures.export": pgettext_lazy("audit action", "导出统计数据"),
    "portal.service.create": pgettext_lazy("audit action", "新建服务事项"),
    "portal.version.draft": pgettext_lazy("audit action", "起草办事指南"),
    "portal.version.publish": pgettext_lazy("audit action", "发布办事指南"),
    "portal.version.return": pgettext_lazy("audit action", "退回办事指南"),
    "portal.version.submit": pgettext_lazy("audit action", "提交办事指南审核"),
}
