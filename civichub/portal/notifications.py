"""The notification kinds the portal sends: the manifest names `KINDS` and notify registers them."""

from __future__ import annotations

from civichub.notify.kinds import Link, NotificationKind

KINDS = (
    NotificationKind(
        key="portal.application_status",
        link=Link(context_key="link"),
        category="service",
        subject={
            "zh-hans": "办件 {{ reference }}：{{ status_zh }}",
            "en": "Application {{ reference }}: {{ status_en }}",
        },
        body={
            "zh-hans": "您申请的“{{ service }}”（{{ reference }}）状态为：{{ status_zh }}。"
            "{{ note }} 查看详情：{{ link }}",
            "en": "Your application for “{{ service_en }}” ({{ reference }}) is now: "
            "{{ status_en }}. {{ note }} Details: {{ link }}",
        },
        default_channels=("inapp",),
        description="Sent to the applicant when an application is accepted, needs more "
        "materials, or is decided.",
    ),
)
