"""The module's audit actions in people's words, for the audit log (core shows the code
beside the label; an action without a label shows its code alone)."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import pgettext_lazy

__all__ = ["LABELS"]

LABELS: dict[str, Promise] = {
    "broadcast.account.avatar": pgettext_lazy("audit action", "更换账号头像"),
    "broadcast.account.create": pgettext_lazy("audit action", "新建发布账号"),
    "broadcast.alert.publish": pgettext_lazy("audit action", "发布预警"),
    "broadcast.alert.push": pgettext_lazy("audit action", "推送预警"),
    "broadcast.area.subscribe": pgettext_lazy("audit action", "订阅区域消息"),
    "broadcast.area.unsubscribe": pgettext_lazy("audit action", "取消订阅区域消息"),
    "broadcast.block.create": pgettext_lazy("audit action", "屏蔽用户"),
    "broadcast.block.delete": pgettext_lazy("audit action", "解除屏蔽用户"),
    "broadcast.cap.issue": pgettext_lazy("audit action", "生成 CAP 预警消息"),
    "broadcast.comment.create": pgettext_lazy("audit action", "发表评论"),
    "broadcast.comment.hide": pgettext_lazy("audit action", "隐藏评论"),
    "broadcast.comment.release": pgettext_lazy("audit action", "放行评论"),
    "broadcast.favourite.create": pgettext_lazy("audit action", "点赞"),
    "broadcast.favourite.delete": pgettext_lazy("audit action", "取消点赞"),
    "broadcast.federation.actor_delete": pgettext_lazy("audit action", "外部账号已注销"),
    "broadcast.federation.block": pgettext_lazy("audit action", "屏蔽外部服务器"),
    "broadcast.federation.blocked": pgettext_lazy("audit action", "拒绝被屏蔽服务器的请求"),
    "broadcast.federation.follow": pgettext_lazy("audit action", "外部关注"),
    "broadcast.federation.followers_shown": pgettext_lazy("audit action", "查看外部关注者"),
    "broadcast.federation.interaction": pgettext_lazy("audit action", "外部互动"),
    "broadcast.federation.interaction_undo": pgettext_lazy("audit action", "撤销外部互动"),
    "broadcast.federation.key": pgettext_lazy("audit action", "更新外部账号密钥"),
    "broadcast.federation.reply": pgettext_lazy("audit action", "收到外部回复"),
    "broadcast.federation.reply_delete": pgettext_lazy("audit action", "外部回复已删除"),
    "broadcast.federation.reply_release": pgettext_lazy("audit action", "放行外部回复"),
    "broadcast.federation.unblock": pgettext_lazy("audit action", "解除屏蔽外部服务器"),
    "broadcast.federation.unfollow": pgettext_lazy("audit action", "取消外部关注"),
    "broadcast.follow.create": pgettext_lazy("audit action", "关注账号"),
    "broadcast.follow.delete": pgettext_lazy("audit action", "取消关注账号"),
    "broadcast.keyword_filter.add": pgettext_lazy("audit action", "添加关键词过滤"),
    "broadcast.keyword_filter.remove": pgettext_lazy("audit action", "删除关键词过滤"),
    "broadcast.media.expire": pgettext_lazy("audit action", "清理未使用的图片"),
    "broadcast.media.fail": pgettext_lazy("audit action", "图片处理失败"),
    "broadcast.media.upload": pgettext_lazy("audit action", "上传图片"),
    "broadcast.post.edit": pgettext_lazy("audit action", "修改发布内容"),
    "broadcast.post.publish": pgettext_lazy("audit action", "发布内容"),
    "broadcast.post.retract": pgettext_lazy("audit action", "撤回发布内容"),
    "broadcast.repost.create": pgettext_lazy("audit action", "转发"),
    "broadcast.repost.delete": pgettext_lazy("audit action", "取消转发"),
    "broadcast.video.captions": pgettext_lazy("audit action", "更新视频字幕"),
    "broadcast.video.expire": pgettext_lazy("audit action", "清理未使用的视频"),
    "broadcast.video.fail": pgettext_lazy("audit action", "视频转码失败"),
    "broadcast.video.ready": pgettext_lazy("audit action", "视频转码完成"),
    "broadcast.video.upload": pgettext_lazy("audit action", "上传视频"),
    "mastodon.app.register": pgettext_lazy("audit action", "注册客户端应用"),
    "mastodon.authorization.grant": pgettext_lazy("audit action", "授权客户端应用"),
    "mastodon.authorization.revoke": pgettext_lazy("audit action", "撤销客户端授权"),
    "mastodon.token.create": pgettext_lazy("audit action", "签发客户端令牌"),
    "mastodon.token.revoke": pgettext_lazy("audit action", "吊销客户端令牌"),
    "broadcast.federation.instance_key": pgettext_lazy("audit action", "生成本站联邦密钥"),
}
