"""The module's audit actions in people's words, for the audit log (core shows the code
beside the label; an action without a label shows its code alone)."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import pgettext_lazy

__all__ = ["LABELS"]

LABELS: dict[str, Promise] = {
    "api_token.create": pgettext_lazy("audit action", "创建接口令牌"),
    "api_token.revoke": pgettext_lazy("audit action", "吊销接口令牌"),
    "backup.created": pgettext_lazy("audit action", "创建备份"),
    "backup.restored": pgettext_lazy("audit action", "从备份恢复"),
    "core.files.sweep": pgettext_lazy("audit action", "清理无主文件"),
    "organisation.create": pgettext_lazy("audit action", "新建组织机构"),
    "resident.create": pgettext_lazy("audit action", "新建居民档案"),
    "resident.identity_key_rotated": pgettext_lazy("audit action", "轮换身份证号密钥"),
    "resident.import": pgettext_lazy("audit action", "导入居民档案"),
    "resident.list": pgettext_lazy("audit action", "查看居民列表"),
    "resident.lookup": pgettext_lazy("audit action", "按身份证号查找居民"),
    "resident.update": pgettext_lazy("audit action", "修改居民档案"),
    "resident.view": pgettext_lazy("audit action", "查看居民档案"),
    "resident.view_identity": pgettext_lazy("audit action", "查看完整身份证号"),
    "role.grant": pgettext_lazy("audit action", "授予角色"),
    "role.revoke": pgettext_lazy("audit action", "撤销角色"),
    "user.create": pgettext_lazy("audit action", "新建账号"),
    "user.language": pgettext_lazy("audit action", "更改界面语言"),
    "user.password_change": pgettext_lazy("audit action", "修改密码"),
}
