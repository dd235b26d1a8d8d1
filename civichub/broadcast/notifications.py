"""The notification kinds broadcast sends, named by the manifest (`notification_kinds`) for notify
to register."""

from __future__ import annotations

from civichub.notify.kinds import Link, NotificationKind

ALERT = "broadcast.alert"


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
)
