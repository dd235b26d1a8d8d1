"""The notification kinds the donors module sends: the manifest names `KINDS`."""

from __future__ import annotations

from civichub.notify.kinds import Link, NotificationKind

KINDS = (
    NotificationKind(
        key="donors.call_up",
        link=Link(context_key="link"),
        category="alert",
        subject={
            "zh-hans": "紧急献血召集：{{ hospital }}",
            "en": "Urgent blood donation: {{ hospital }}",
        },
        body={
            "zh-hans": "{{ hospital }}有患者急需{{ component }}，您的血型可以救助。"
            "能否前来献血？请点击回复（无需登录）：{{ link }}",
            "en": "A patient at {{ hospital }} urgently needs {{ component }} and your blood "
            "group can help. Can you come to donate? Answer here (no sign-in): {{ link }}",
        },
        default_channels=("sms",),
        description="Sent to a donor called in a wave for an emergency request.",
    ),
    NotificationKind(
        key="donors.stand_down",
        category="alert",
        subject={"zh-hans": "感谢您：用血需求已满足", "en": "Thank you: the need is met"},
        body={
            "zh-hans": "{{ hospital }}的用血需求已经满足，您无需前往。衷心感谢您的爱心！",
            "en": "The need at {{ hospital }} has been met; you do not need to come. "
            "Thank you for being ready to help!",
        },
        default_channels=("sms",),
        description="Sent to donors still called or on their way when a request closes.",
    ),
)
