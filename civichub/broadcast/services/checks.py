"""Checks the broadcast services share: text limits, target areas, CAP fields, the
signed-in resident and the block rule."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.broadcast import capwords
from civichub.broadcast.models import (
    Block,
    CapCategory,
    Certainty,
    Post,
    PostState,
    Severity,
    Urgency,
)
from civichub.core.errors import (
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from civichub.core.models import Organisation, User


@dataclass(frozen=True)
class AlertFields:
    """The CAP 1.2 `info` fields an alert carries besides its text and areas."""

    category: str
    event: str
    urgency: str
    severity: str
    certainty: str
    expires: dt.datetime
    instruction: str = ""
    # The headline (empty: the start of the text) and the texts of the English (en-US) block.
    headline: str = ""
    event_en: str = ""
    headline_en: str = ""
    instruction_en: str = ""


def signed_in(actor: User | None) -> User:
    if actor is None or not actor.is_authenticated:
        raise NotAuthenticated(_("请先登录。"))
    return actor


def check_text(field: str, text: str, limit: int, *, required: bool = True) -> str:
    text = text.strip()
    if required and not text:
        raise ValidationFailed.on(field, _("内容不能为空。"))
    if len(text) > limit:
        raise ValidationFailed.on(
            field,
            _("内容最多 %(limit)d 个字，现有 %(count)d 个字。")
            % {"limit": limit, "count": len(text)},
        )
    return text


def target_areas(area_ids: Iterable[int]) -> list[Organisation]:
    ids = sorted({int(pk) for pk in area_ids})
    areas = list(Organisation.objects.filter(pk__in=ids))
    found = {a.pk for a in areas}
    unknown = [pk for pk in ids if pk not in found]
    if unknown or any(not a.is_area for a in areas):
        bad = unknown or [a.pk for a in areas if not a.is_area]
        raise ValidationFailed.on(
            "target_areas", _("未知的发布区域：%(ids)s。") % {"ids": ", ".join(map(str, bad))}
        )
    return areas


def alert_checked(alert: AlertFields, now: dt.datetime) -> AlertFields:
    choices = {
        "category": CapCategory.values,
        "urgency": Urgency.values,
        "severity": Severity.values,
        "certainty": Certainty.values,
    }
    for field, allowed in choices.items():
        value = getattr(alert, field)
        # The alert's category is not the post's: its errors say so.
        key = "alert.category" if field == "category" else field
        if not value:  # nothing is preselected: the publisher must choose
            raise ValidationFailed.on(
                key, _("请选择%(field)s。") % {"field": capwords.FIELD_LABELS[field]}
            )
        if value not in allowed:
            raise ValidationFailed.on(
                key, _("取值必须是：%(values)s。") % {"values": ", ".join(allowed)}
            )
    if not alert.event.strip() or len(alert.event) > 100:
        raise ValidationFailed.on("event", _("请填写事件名称（最多 100 个字）。"))
    if alert.expires <= now:
        raise ValidationFailed.on("expires", _("失效时间必须晚于现在。"))
    check_text("instruction", alert.instruction, 500, required=False)
    check_text("headline", alert.headline, 80, required=False)
    check_text("headline_en", alert.headline_en, 80, required=False)
    check_text("instruction_en", alert.instruction_en, 500, required=False)
    if len(alert.event_en) > 100:
        raise ValidationFailed.on("event_en", _("英文事件名称最多 100 个字。"))
    return alert


def alert_english_checked(
    *, text_en: str, event_en: str, instruction: str, instruction_en: str
) -> None:
    """An alert's en-US block is written when its English text and English event are both
    given, and then it must be whole: the English instruction is required when there is a
    Chinese one. English alert texts without the English text are refused. An alert with an
    English text but no English event has no en-US block (its English text still shows on the
    pages and in notifications); the Chinese texts are never repeated under an English label."""
    if not text_en and (event_en.strip() or instruction_en.strip()):
        raise ValidationFailed.on("text_en", _("填写了英文预警内容时，须同时填写英文正文。"))
    if text_en and event_en.strip() and instruction.strip() and not instruction_en.strip():
        raise ValidationFailed.on("instruction_en", _("有英文事件的预警须填写英文避险指引。"))


def blocked_error() -> PermissionDenied:
    message = _("此账号已禁止您评论和转发它的发布。")
    return PermissionDenied(message, errors={"post": [message]})


def refuse_blocked(user: User, account_id: int) -> None:
    if Block.objects.filter(account_id=account_id, user=user).exists():
        raise blocked_error()


def visible_post(post_id: int) -> Post:
    post = (
        Post.objects.select_related("account__organisation")
        .filter(pk=post_id, state=PostState.PUBLISHED, published_at__lte=timezone.now())
        .first()
    )
    if post is None:
        raise NotFound(_("没有这条发布。"))
    return post
