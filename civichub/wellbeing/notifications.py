"""The notification kinds wellbeing sends: the manifest names `KINDS` and notify registers them."""

from __future__ import annotations

from civichub.notify.kinds import Link, NotificationKind

KINDS = (
    NotificationKind(
        key="wellbeing.alert_family",
        link=Link(context_key="link"),
        category="alert",
        subject={"zh-hans": "关爱提醒：请联系{{ name }}", "en": "Please check on {{ name }}"},
        body={
            "zh-hans": "{{ name }}家中用水用电出现异常：{{ explanation_zh }}"
            "请联系老人，并在 {{ minutes }} 分钟内告诉我们结果，否则将由社区工作者上门查看："
            "{{ link }}",
            "en": "Unusual water or electricity use at {{ name }}'s home: {{ explanation }} "
            "Please check on them and tell us within {{ minutes }} minutes, or a community "
            "worker will visit: {{ link }}",
        },
        default_channels=("inapp", "sms"),
        description="Sent to a household's family contacts when an alert is raised.",
    ),
    NotificationKind(
        key="wellbeing.visit_task",
        link=Link("wellbeing:visit", ("visit_id",)),
        category="alert",
        subject={"zh-hans": "上门查看任务：{{ name }}", "en": "Home visit: {{ name }}"},
        body={
            "zh-hans": "{{ name }}（{{ address }}）的异常提醒无人确认，请于 {{ due_at }} 前"
            "上门查看：{{ explanation_zh }}",
            "en": "Nobody acknowledged the alert for {{ name }} ({{ address }}). Please visit "
            "by {{ due_at }}: {{ explanation }}",
        },
        default_channels=("inapp", "sms"),
        description="Sent to the responsible community worker when an alert becomes a visit.",
    ),
    NotificationKind(
        key="wellbeing.visit_escalated",
        link=Link("wellbeing:visit", ("visit_id",)),
        category="alert",
        subject={
            "zh-hans": "上门任务已上报：{{ name }}",
            "en": "Visit escalated: {{ name }}",
        },
        body={
            "zh-hans": "{{ name }}（{{ address }}）的上门查看任务已超期或被上报，请安排处理。",
            "en": "The home visit for {{ name }} ({{ address }}) is overdue or was "
            "escalated; please arrange it.",
        },
        default_channels=("inapp", "sms"),
        description="Sent to the community head when a visit task is overdue or escalated.",
    ),
)
