"""The notification kinds broadcast sends, named by the manifest (`notification_kinds`) for notify
to register."""

from __future__ import annotations

from civichub.notify.kinds import Link, NotificationKind

ALERT = "broadcast.alert"
IMAGE_FAILED = "broadcast.image_failed"


KINDS = (
    NotificationKind(
        key=ALERT,
        link=Link("broadcast:post", ("post_id",)),
        category="alert",
        subject={"zh-hans": "【预警】{{ event }}", "en": "[Alert] {{ event_en }}"},
        body={
            "zh-hans": "{{ account }}：{{ text }}{% if instruction %} {{ instruction }}{% endif %}",
            "en": "{{ account_en }}: {{ text_en }}{% if instruction_en %} {{ instruction_en }}"
            "{% endif %}",
        },
        default_channels=("inapp", "sms", "push"),
        description="An emergency alert for the area the resident lives in.",
    ),
    NotificationKind(
        key=IMAGE_FAILED,
        link=Link("broadcast:post", ("post_id",)),
        category="service",
        subject={
            "zh-hans": "发布中的一张图片未能处理",
            "en": "An image in your post could not be processed",
        },
        body={
            "zh-hans": "您以{{ account }}发布的内容中，图片「{{ alt_text }}」处理失败"
            "（{{ error }}），不会随发布显示。",
            "en": 'The image "{{ alt_text }}" in your post as {{ account_en }} could not be '
            "processed ({{ error }}) and is not shown with the post.",
        },
        default_channels=("inapp",),
        description="Sent to a post's author when an image published with it fails to process.",
    ),
)
