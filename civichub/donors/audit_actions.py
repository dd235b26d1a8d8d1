"""The module's audit actions in people's words, for the audit log (core shows the code
beside the label; an action without a label shows its code alone)."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import pgettext_lazy

__all__ = ["LABELS"]

LABELS: dict[str, Promise] = {
    "donors.call_up.mark": pgettext_lazy("audit action", "记录召集结果"),
    "donors.call_up.respond": pgettext_lazy("audit action", "献血者答复召集"),
    "donors.consent.withdraw.health": pgettext_lazy("audit action", "撤回健康信息同意"),
    "donors.consent.withdraw.location": pgettext_lazy("audit action", "撤回位置信息同意"),
    "donors.deferral.add": pgettext_lazy("audit action", "登记暂缓献血"),
    "donors.donation.record": pgettext_lazy("audit action", "登记献血"),
    "donors.donor.import": pgettext_lazy("audit action", "导入献血者"),
    "donors.donor.list": pgettext_lazy("audit action", "查看献血者列表"),
    "donors.donor.merge": pgettext_lazy("audit action", "合并重复献血者"),
    "donors.donor.pause": pgettext_lazy("audit action", "暂停召集"),
    "donors.donor.phenotype": pgettext_lazy("audit action", "登记血型表型"),
    "donors.donor.verify": pgettext_lazy("audit action", "核验献血者血型"),
    "donors.donor.view": pgettext_lazy("audit action", "查看献血者"),
    "donors.donor.windows": pgettext_lazy("audit action", "设置可联系时段"),
    "donors.request.close": pgettext_lazy("audit action", "关闭用血需求"),
    "donors.request.create": pgettext_lazy("audit action", "发起用血需求"),
    "donors.request.wave": pgettext_lazy("audit action", "发出一轮召集"),
}
