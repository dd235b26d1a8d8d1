"""Notify's own notification kinds: the operator's test, and what it tells a person on core's
account events (core sends no notification itself). Named by notify's manifest."""

from __future__ import annotations

from civichub.notify.kinds import NotificationKind

KINDS: list[NotificationKind] = [
    NotificationKind(
        key="notify.test",
        category="system",
        subject={"zh-hans": "测试通知", "en": "Test notification"},
        body={
            "zh-hans": "这是一条由{{ sender }}发出的测试通知，用于检查通知渠道是否畅通。"
            "{% if message %}\n\n{{ message }}{% endif %}",
            "en": "This is a test notification sent by {{ sender }} to check that the notification "
            "channels work.{% if message %}\n\n{{ message }}{% endif %}",
        },
        default_channels=("inapp",),
        description="An operator checks the channels.",
    ),
    NotificationKind(
        key="core.password_changed",
        category="account",
        subject={"zh-hans": "您的密码已修改", "en": "Your password was changed"},
        body={
            "zh-hans": "{{ name }}，您的 civichub 账号密码已于 {{ changed_at }} 修改。"
            "如果不是您本人操作，请立即联系管理员。",
            "en": "{{ name }}, the password of your civichub account was changed at "
            "{{ changed_at }}. If you did not do this, contact the administrator at once.",
        },
        default_channels=("inapp", "email"),
        description="Sent to the account holder after a password change.",
    ),
]
