"""CAP's category, urgency, severity and certainty in people's words (CAP 1.2 §3.2.2): what the
publisher chooses from and what residents read. The CAP document keeps CAP's own values."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

CATEGORY: dict[str, Promise] = {
    "Geo": _("地质灾害（地震、滑坡、泥石流）"),
    "Met": _("气象灾害（暴雨、台风、高温、寒潮、大风）"),
    "Safety": _("公共安全"),
    "Security": _("治安与反恐"),
    "Rescue": _("搜救"),
    "Fire": _("火灾"),
    "Health": _("卫生与疫情"),
    "Env": _("环境污染"),
    "Transport": _("交通"),
    "Infra": _("基础设施（停水、停电、通信中断）"),
    "CBRNE": _("化学、生物、放射性、核或爆炸危险"),
    "Other": _("其他"),
}
URGENCY: dict[str, Promise] = {
    "Immediate": _("立即行动"),
    "Expected": _("一小时内行动"),
    "Future": _("近期做好准备"),
    "Past": _("已过去，无需行动"),
    "Unknown": _("未知"),
}
SEVERITY: dict[str, Promise] = {
    "Extreme": _("特别严重：严重威胁生命或财产"),
    "Severe": _("严重：明显威胁生命或财产"),
    "Moderate": _("较重：可能威胁生命或财产"),
    "Minor": _("一般：威胁很小或没有"),
    "Unknown": _("未知"),
}
CERTAINTY: dict[str, Promise] = {
    "Observed": _("已经发生或正在发生"),
    "Likely": _("很可能发生（可能性过半）"),
    "Possible": _("可能发生（可能性不过半）"),
    "Unlikely": _("预计不会发生"),
    "Unknown": _("未知"),
}
# Short forms for residents' feeds: a word, not a definition.
SEVERITY_SHORT: dict[str, Promise] = {
    "Extreme": _("特别严重"),
    "Severe": _("严重"),
    "Moderate": _("较重"),
    "Minor": _("一般"),
    "Unknown": _("严重程度未知"),
}
URGENCY_SHORT = URGENCY
CERTAINTY_SHORT: dict[str, Promise] = {
    "Observed": _("已发生"),
    "Likely": _("很可能发生"),
    "Possible": _("可能发生"),
    "Unlikely": _("预计不会发生"),
    "Unknown": _("是否发生未知"),
}
# The fields as the publisher reads them, for the form and for errors.
FIELD_LABELS: dict[str, Promise] = {
    "category": _("预警类别"),
    "urgency": _("紧急程度（居民应何时行动）"),
    "severity": _("严重程度"),
    "certainty": _("确定程度（是否已经发生）"),
}


def word(table: dict[str, Promise], value: str) -> str:
    """The value in the reader's language; an unknown value as it is."""
    label = table.get(value)
    return str(label) if label is not None else value
