"""The module's audit actions in people's words, for the audit log (core shows the code
beside the label; an action without a label shows its code alone)."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import pgettext_lazy

__all__ = ["LABELS"]

LABELS: dict[str, Promise] = {
    "casework.calendar.set": pgettext_lazy("audit action", "设置工作日历"),
    "casework.case.assign": pgettext_lazy("audit action", "指派承办人"),
    "casework.case.close": pgettext_lazy("audit action", "办结留言"),
    "casework.case.escalate": pgettext_lazy("audit action", "升级督办"),
    "casework.case.extend_decide": pgettext_lazy("audit action", "审批延期申请"),
    "casework.case.extend_request": pgettext_lazy("audit action", "申请延期"),
    "casework.case.list": pgettext_lazy("audit action", "查看留言列表"),
    "casework.case.merge": pgettext_lazy("audit action", "合并重复留言"),
    "casework.case.note": pgettext_lazy("audit action", "添加内部备注"),
    "casework.case.photo_fail": pgettext_lazy("audit action", "留言照片处理失败"),
    "casework.case.photo_ready": pgettext_lazy("audit action", "留言照片处理完成"),
    "casework.case.photos_add": pgettext_lazy("audit action", "补充留言照片"),
    "casework.case.rate": pgettext_lazy("audit action", "评价答复"),
    "casework.case.reply": pgettext_lazy("audit action", "答复留言"),
    "casework.case.route": pgettext_lazy("audit action", "自动分派留言"),
    "casework.case.submit": pgettext_lazy("audit action", "提交留言"),
    "casework.case.transfer": pgettext_lazy("audit action", "转办留言"),
    "casework.case.triage": pgettext_lazy("audit action", "分拣留言"),
    "casework.case.view": pgettext_lazy("audit action", "查看留言"),
    "casework.category.attribute_create": pgettext_lazy("audit action", "新增类别字段"),
    "casework.category.create": pgettext_lazy("audit action", "新建留言类别"),
    "casework.category.update": pgettext_lazy("audit action", "修改留言类别"),
    "casework.community_area.set": pgettext_lazy("audit action", "设置社区范围"),
    "casework.contact.verified": pgettext_lazy("audit action", "联系方式已验证"),
    "casework.contact.verify_start": pgettext_lazy("audit action", "发送联系方式验证码"),
    "casework.open311_key.create": pgettext_lazy("audit action", "创建 Open311 接口密钥"),
    "casework.open311_key.revoke": pgettext_lazy("audit action", "吊销 Open311 接口密钥"),
    "casework.photo.view": pgettext_lazy("audit action", "查看留言照片"),
}
