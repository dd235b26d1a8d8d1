"""Alerts in the reader's language: the detector writes its explanation once, in English, with
its evidence as numbers; pages and notifications say the same in plain words in the language of
the request from that evidence. Anything the wording here does not know (a new kind, a changed
piece of evidence) falls back to the detector's own sentence, never to an error."""

from __future__ import annotations

from typing import Any

from django.template.defaultfilters import floatformat
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

KINDS = {
    "no_use": gettext_lazy("长时间没有用水"),
    "unusual_inactivity": gettext_lazy("异常安静"),
    "high_water_use": gettext_lazy("用水量过大"),
    "continuous_flow": gettext_lazy("持续用水（可能漏水）"),
    "gas_long_flow": gettext_lazy("燃气长时间未关"),
    "night_activity": gettext_lazy("夜间异常活动"),
    "no_first_use": gettext_lazy("今天还没有开始用水用电"),
    "level_change": gettext_lazy("用量明显变化"),
    "data_gap": gettext_lazy("表计数据中断"),
    "meter_fault": gettext_lazy("表计故障"),
}

SEVERITIES = {
    "urgent": gettext_lazy("紧急"),
    "warning": gettext_lazy("注意"),
    "info": gettext_lazy("提示"),
}

UTILITIES = {
    "water": gettext_lazy("水"),
    "electricity": gettext_lazy("电"),
    "gas": gettext_lazy("燃气"),
}

EVIDENCE = {
    "hours": gettext_lazy("持续时间（小时）"),
    "water_12h_l": gettext_lazy("期间用水（升）"),
    "limit_l": gettext_lazy("规则下限（升）"),
    "since_use_h": gettext_lazy("距上次用水（小时）"),
    "water_24h_m3": gettext_lazy("24 小时用水（立方米）"),
    "limit_m3": gettext_lazy("规则上限（立方米）"),
    "usual_m3": gettext_lazy("平时每天用水（立方米）"),
    "limit_h": gettext_lazy("规则上限（小时）"),
    "quiet_h": gettext_lazy("安静时长（小时）"),
    "odds": gettext_lazy("罕见程度（几次中才有一次）"),
    "usual_pct": gettext_lazy("平时此时有活动的夜晚（%）"),
    "usual_first": gettext_lazy("平时最晚开始用的时间"),
    "now": gettext_lazy("现在"),
    "utility": gettext_lazy("表计"),
    "ratio": gettext_lazy("是平时的几倍"),
    "days": gettext_lazy("连续天数"),
    "recent": gettext_lazy("近期每天用量"),
    "unit": gettext_lazy("单位"),
    "usual": gettext_lazy("平时每天用量"),
    "reason": gettext_lazy("原因"),
}


def _sentences() -> dict[str, str]:
    return {
        "no_use": _(
            "过去 %(hours).0f 小时只用了 %(water_12h_l).0f 升水（规则：少于 %(limit_l).0f 升）。"
            "上次用水在 %(since_use_h).1f 小时前。"
        ),
        "unusual_inactivity": _(
            "已有 %(quiet_h).1f 小时没有高于待机水平的用水用电，而该户平时这个时段有活动"
            "（这么长的安静在一周的这些时段大约 %(odds).0f 次才有一次）。"
        ),
        "high_water_use": _(
            "过去 24 小时用水 %(water_24h_m3).2f 立方米（规则：超过 %(limit_m3).1f 立方米；"
            "平时每天 %(usual_m3).2f 立方米）。"
        ),
        "continuous_flow": _("已连续 %(hours).0f 小时每半小时都在用水：可能是水龙头没关或漏水。"),
        "gas_long_flow": _(
            "燃气已连续使用 %(hours).1f 小时（规则：%(limit_h).1f 小时）：可能忘了关火。"
        ),
        "night_activity": _(
            "夜间有活动已 %(hours).1f 小时，而该户在这个时间有活动的夜晚不到 %(usual_pct).0f%%。"
        ),
        "no_first_use": _("今天还没有用水用电；平时最晚 %(usual_first)s 开始，现在已是 %(now)s。"),
        "level_change": _(
            "%(utility)s的日用量已连续 %(days)d 天是平时的 %(ratio).1f 倍"
            "（每天 %(recent).2f %(unit)s，平时 %(usual).2f）。"
        ),
        "data_gap": _(
            "已有 %(hours).1f 小时收不到%(utility)s表读数：可能是表计或线路故障。这不等于没有使用。"
        ),
        "meter_fault": _("%(utility)s表报告故障（%(reason)s），其读数不作为用或没用的依据。"),
    }


def explain(kind: str, evidence: dict[str, Any], fallback: str) -> str:
    """The alert in plain words in the current language, from its evidence."""
    sentence = _sentences().get(kind)
    if sentence is None:
        return fallback
    values = dict(evidence)
    if isinstance(values.get("utility"), str):
        values["utility"] = str(UTILITIES.get(values["utility"], values["utility"]))
    try:
        return sentence % values
    except (KeyError, TypeError, ValueError):
        return fallback


def evidence_rows(evidence: dict[str, Any]) -> list[tuple[str, str]]:
    """The evidence as (label, value) rows, labels in the current language."""
    rows = []
    for key, value in sorted(evidence.items()):
        if isinstance(value, bool) or not isinstance(value, int | float):
            shown = str(UTILITIES.get(str(value), value)) if key == "utility" else str(value)
        else:
            shown = floatformat(value, -2)
        rows.append((str(EVIDENCE.get(key, key)), shown))
    return rows


def detection_delay(minutes: int | None) -> str:
    """A household's detection delay in words: minutes under an hour, whole hours (rounded up)
    from there."""
    if minutes is None:
        return _("检测延迟：没有在用的表计，不做检测")
    if minutes < 60:
        return ngettext("检测延迟：最长约 %(n)d 分钟", "检测延迟：最长约 %(n)d 分钟", minutes) % {
            "n": minutes
        }
    hours = -(-minutes // 60)
    return ngettext("检测延迟：最长约 %(n)d 小时", "检测延迟：最长约 %(n)d 小时", hours) % {
        "n": hours
    }
