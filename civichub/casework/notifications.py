"""The notification kinds casework sends; the manifest names `KINDS` and notify registers them."""

from __future__ import annotations

from civichub.notify.kinds import Link, NotificationKind

_CASE = "{{ tracking_number }}「{{ title }}」"
_CASE_EN = '{{ tracking_number }} "{{ title }}"'


KINDS: tuple[NotificationKind, ...] = (
    NotificationKind(
        key="casework.contact_code",
        category="account",
        subject={"zh-hans": "验证码", "en": "Your verification code"},
        body={
            "zh-hans": "您的留言验证码是 {{ code }}，{{ minutes }} 分钟内有效。请勿告诉他人。",
            "en": "Your code for sending a message is {{ code }}. "
            "It is valid for {{ minutes }} minutes. Do not share it.",
        },
        default_channels=("inapp",),
        description="A one-time code for an anonymous sender's phone or email.",
        secret=("code",),
    ),
    NotificationKind(
        key="casework.sms_budget_spent",
        category="system",
        subject={
            "zh-hans": "短信验证码本小时额度已用完",
            "en": "This hour's SMS budget for one-time codes is spent",
        },
        body={
            "zh-hans": "本小时短信验证码的费用已达上限（{{ budget }}，每条 {{ cost }}），"
            "本小时内通过短信获取验证码的请求将被拒绝。请检查是否有人盗刷短信，"
            "必要时调整额度（sms_budget_per_hour）。",
            "en": "One-time codes by SMS reached this hour's budget ({{ budget }}, {{ cost }} "
            "each); further codes by SMS are refused until the hour ends. Check for SMS "
            "pumping, and change the budget (sms_budget_per_hour) if needed.",
        },
        default_channels=("inapp", "email"),
        description="Sent to operators, once an hour, when the SMS budget is spent.",
    ),
    NotificationKind(
        key="casework.case_received",
        link=Link("casework:case", ("tracking_number",)),
        category="service",
        subject={
            "zh-hans": "留言已受理：{{ tracking_number }}",
            "en": "Message received: {{ tracking_number }}",
        },
        body={
            "zh-hans": "您的留言" + _CASE + "已受理，请在 {{ due_at }} 前留意答复。"
            "可凭受理编号查询办理进度。",
            "en": "Your message " + _CASE_EN + " was received. Expect an answer by {{ due_at }}. "
            "Use the tracking number to follow it.",
        },
        default_channels=("inapp", "sms", "email"),
        description="Sent to the sender when a message is accepted.",
    ),
    NotificationKind(
        key="casework.case_new",
        link=Link("casework:case", ("tracking_number",)),
        category="service",
        subject={
            "zh-hans": "新留言待办：{{ tracking_number }}",
            "en": "New case: {{ tracking_number }}",
        },
        body={
            "zh-hans": "新留言" + _CASE + "{% if department %}已派至{{ department }}{% else %}"
            "待分拣{% endif %}，办理时限 {{ due_at }}。",
            "en": "New case " + _CASE_EN + "{% if department %} for {{ department }}{% else %}"
            " waits for triage{% endif %}; due {{ due_at }}.",
        },
        default_channels=("inapp",),
        description="Sent to the department and community staff of a newly routed case.",
    ),
    NotificationKind(
        key="casework.case_assigned",
        link=Link("casework:case", ("tracking_number",)),
        category="service",
        subject={
            "zh-hans": "交办给您：{{ tracking_number }}",
            "en": "Assigned to you: {{ tracking_number }}",
        },
        body={
            "zh-hans": "留言" + _CASE + "已交由您办理，时限 {{ due_at }}。",
            "en": "Case " + _CASE_EN + " is assigned to you; due {{ due_at }}.",
        },
        default_channels=("inapp",),
        description="Sent to the handler a case is assigned to.",
    ),
    NotificationKind(
        key="casework.case_replied",
        link=Link("casework:case", ("tracking_number",), fragment="rate"),
        category="service",
        subject={
            "zh-hans": "您的留言有答复：{{ tracking_number }}",
            "en": "Your message was answered: {{ tracking_number }}",
        },
        body={
            "zh-hans": "您的留言" + _CASE + "已答复：\n{{ reply }}\n\n请对答复进行评价。",
            "en": "Your message " + _CASE_EN + " was answered:\n{{ reply }}\n\n"
            "Please rate the answer.",
        },
        default_channels=("inapp", "sms", "email"),
        description="Sent to the sender on each reply.",
    ),
    NotificationKind(
        key="casework.case_progress",
        link=Link("casework:case", ("tracking_number",)),
        category="service",
        subject={
            "zh-hans": "您的留言有办理进展：{{ tracking_number }}",
            "en": "Progress on your message: {{ tracking_number }}",
        },
        body={
            "zh-hans": "您的留言" + _CASE + "有办理进展：\n{{ reply }}\n\n"
            "事项办完后，部门会再次答复，届时请您评价。",
            "en": "Progress on your message " + _CASE_EN + ":\n{{ reply }}\n\n"
            "When the work is done the department will answer again, and you can rate it then.",
        },
        default_channels=("inapp", "sms", "email"),
        description="Sent to the sender on a progress reply (the work promised, not yet done).",
    ),
    NotificationKind(
        key="casework.case_closed",
        link=Link("casework:case", ("tracking_number",)),
        category="service",
        subject={
            "zh-hans": "留言已办结：{{ tracking_number }}",
            "en": "Message closed: {{ tracking_number }}",
        },
        body={
            "zh-hans": "您的留言" + _CASE + "已办结。",
            "en": "Your message " + _CASE_EN + " is closed.",
        },
        default_channels=("inapp",),
        description="Sent to the sender when staff close a case.",
    ),
    NotificationKind(
        key="casework.case_merged",
        link=Link("casework:case", ("tracking_number",)),
        category="service",
        subject={
            "zh-hans": "留言已合并办理：{{ tracking_number }}",
            "en": "Message merged: {{ tracking_number }}",
        },
        body={
            "zh-hans": "您的留言" + _CASE + "与 {{ into }} 反映的是同一问题，将合并办理，"
            "请关注 {{ into }} 的进展。",
            "en": "Your message " + _CASE_EN + " is about the same matter as {{ into }} and is "
            "handled with it; follow {{ into }}.",
        },
        default_channels=("inapp",),
        description="Sent to the sender of a duplicate.",
    ),
    NotificationKind(
        key="casework.case_reopened",
        link=Link("casework:case", ("tracking_number",)),
        category="service",
        subject={
            "zh-hans": "留言不满意，重新办理：{{ tracking_number }}",
            "en": "Unsatisfied; case reopened: {{ tracking_number }}",
        },
        body={
            "zh-hans": "来信人对" + _CASE + "的答复不满意，已重新办理，新时限 {{ due_at }}。"
            "{% if comment %}\n意见：{{ comment }}{% endif %}",
            "en": "The sender of " + _CASE_EN + " was not satisfied; the case is reopened, "
            "due {{ due_at }}.{% if comment %}\nComment: {{ comment }}{% endif %}",
        },
        default_channels=("inapp",),
        description="Sent to the department when a sender is unsatisfied.",
    ),
    NotificationKind(
        key="casework.extension_requested",
        link=Link("casework:case", ("tracking_number",)),
        category="service",
        subject={
            "zh-hans": "延期申请待审批：{{ tracking_number }}",
            "en": "Extension requested: {{ tracking_number }}",
        },
        body={
            "zh-hans": _CASE + "申请延期 {{ days }} 个工作日，理由：{{ reason }}",
            "en": _CASE_EN + ": {{ days }} more working days requested. Reason: {{ reason }}",
        },
        default_channels=("inapp",),
        description="Sent to the department head.",
    ),
    NotificationKind(
        key="casework.case_overdue",
        link=Link("casework:case", ("tracking_number",)),
        category="service",
        subject={
            "zh-hans": "超期督办：{{ tracking_number }}",
            "en": "Overdue: {{ tracking_number }}",
        },
        body={
            "zh-hans": "留言" + _CASE + "已超过办理时限 {{ due_at }}（第 {{ step }} 次督办），"
            "请督促办理。",
            "en": "Case " + _CASE_EN + " is past its deadline {{ due_at }} (reminder {{ step }}). "
            "Please see that it is answered.",
        },
        default_channels=("inapp", "email"),
        description="Sent to the department head when a case becomes overdue, once per step.",
    ),
)
