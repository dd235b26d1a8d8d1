"""The notification kinds traceability sends: the manifest names `KINDS` and notify registers
them."""

from __future__ import annotations

from civichub.notify.kinds import Link, NotificationKind

KINDS = (
    NotificationKind(
        key="traceability.recall",
        link=Link("traceability:recall", ("recall_id",)),
        category="alert",
        subject={
            "zh-hans": "食品召回：{{ product }} 批次 {{ lot }}",
            "en": "Food recall: {{ product_en }} lot {{ lot }}",
        },
        body={
            "zh-hans": "{{ participant }}：您收到的 {{ product }}（批次 {{ lot }}）"
            "已被监管部门召回，原因：{{ reason }}。"
            "请立即停止销售、下架封存，并确认下架数量：{{ link }}",
            "en": "{{ participant_en }}: {{ product_en }} (lot {{ lot }}) that you received has "
            "been recalled by the regulator. Reason: {{ reason }}. Stop selling it, withdraw "
            "it and confirm the quantity withdrawn: {{ link }}",
        },
        default_channels=("inapp", "sms"),
        description="Sent to each participant downstream of a recalled lot.",
    ),
    NotificationKind(
        key="traceability.recall_reminder",
        link=Link("traceability:recall", ("recall_id",)),
        category="alert",
        subject={
            "zh-hans": "请确认下架：{{ product }} 批次 {{ lot }}（第 {{ reminder }} 次提醒）",
            "en": "Please confirm the withdrawal: {{ product_en }} lot {{ lot }} "
            "(reminder {{ reminder }})",
        },
        body={
            "zh-hans": "{{ participant }}：{{ product }}（批次 {{ lot }}）的召回通知尚未确认。"
            "请立即停止销售、下架封存，并确认下架数量：{{ link }}",
            "en": "{{ participant_en }}: the recall of {{ product_en }} (lot {{ lot }}) has "
            "not been acknowledged yet. Stop selling it, withdraw it and confirm the quantity "
            "withdrawn: {{ link }}",
        },
        default_channels=("inapp", "sms"),
        description="Reminds a participant that has not acknowledged a recall notice.",
    ),
)
