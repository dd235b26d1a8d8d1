"""The module's audit actions in people's words, for the audit log (core shows the code
beside the label; an action without a label shows its code alone)."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import pgettext_lazy

__all__ = ["LABELS"]

LABELS: dict[str, Promise] = {
    "traceability.events.capture": pgettext_lazy("audit action", "接收追溯事件"),
    "traceability.lot.register": pgettext_lazy("audit action", "登记批次"),
    "traceability.participant.register": pgettext_lazy("audit action", "登记经营主体"),
    "traceability.product.register": pgettext_lazy("audit action", "登记产品"),
    "traceability.query.create": pgettext_lazy("audit action", "创建订阅查询"),
    "traceability.query.delete": pgettext_lazy("audit action", "删除订阅查询"),
    "traceability.recall.acknowledge": pgettext_lazy("audit action", "确认召回通知"),
    "traceability.recall.announce": pgettext_lazy("audit action", "公告召回"),
    "traceability.recall.close": pgettext_lazy("audit action", "结束召回"),
    "traceability.recall.remind": pgettext_lazy("audit action", "催办召回"),
    "traceability.recall.start": pgettext_lazy("audit action", "启动召回"),
}
