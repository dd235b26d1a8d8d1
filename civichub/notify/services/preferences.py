"""A person's own notification preferences: channels per category, hard opt-outs, quiet hours."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.core.audit import audit_record
from civichub.core.errors import ValidationFailed
from civichub.core.models import User
from civichub.notify import kinds
from civichub.notify.models import OUTSIDE_CHANNELS, NotificationPreference


@transaction.atomic
def preference_update(
    *,
    actor: User,
    channels: dict[str, dict[str, bool]],
    blocked_channels: list[str],
    quiet_hours_enabled: bool,
    quiet_start: dt.time | None,
    quiet_end: dt.time | None,
    time_zone: str = "",
) -> NotificationPreference:
    """The actor's own preferences. In-app notifications cannot be switched off: the inbox is
    the record of what the city told a person."""
    errors: dict[str, list[str]] = {}
    known_categories = {c.key for c in kinds.categories()}
    for category, switches in channels.items():
        if category not in known_categories:
            errors.setdefault("channels", []).append(
                _("未知的通知类别：%(category)s。") % {"category": category}
            )
        elif set(switches) - set(OUTSIDE_CHANNELS):
            errors.setdefault("channels", []).append(
                _("通知类别 %(category)s 下有未知的渠道：%(channels)s。")
                % {
                    "category": category,
                    "channels": ", ".join(sorted(set(switches) - set(OUTSIDE_CHANNELS))),
                }
            )
    if set(blocked_channels) - set(OUTSIDE_CHANNELS):
        errors["blocked_channels"] = [
            _("未知的通知渠道：%(channels)s。")
            % {"channels": ", ".join(sorted(set(blocked_channels) - set(OUTSIDE_CHANNELS)))}
        ]
    if (quiet_start is None) != (quiet_end is None):
        errors["quiet_hours"] = [_("请同时填写免打扰的开始和结束时间，或都不填写。")]
    if time_zone:
        try:
            zoneinfo.ZoneInfo(time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            errors["time_zone"] = [_("未知的时区：%(zone)s。") % {"zone": time_zone}]
    if errors:
        raise ValidationFailed(_("通知偏好设置有误。"), errors=errors)
    preference, _created = NotificationPreference.objects.get_or_create(user=actor)
    before = {
        "channels": preference.channels,
        "blocked_channels": preference.blocked_channels,
        "quiet_hours_enabled": preference.quiet_hours_enabled,
        "quiet_start": str(preference.quiet_start or ""),
        "quiet_end": str(preference.quiet_end or ""),
        "time_zone": preference.time_zone,
    }
    preference.channels = {c: {ch: bool(on) for ch, on in s.items()} for c, s in channels.items()}
    preference.blocked_channels = sorted(set(blocked_channels))
    preference.quiet_hours_enabled = quiet_hours_enabled
    preference.quiet_start = quiet_start
    preference.quiet_end = quiet_end
    preference.time_zone = time_zone
    preference.updated_at = timezone.now()
    preference.save()
    after = {
        "channels": preference.channels,
        "blocked_channels": preference.blocked_channels,
        "quiet_hours_enabled": quiet_hours_enabled,
        "quiet_start": str(quiet_start or ""),
        "quiet_end": str(quiet_end or ""),
        "time_zone": time_zone,
    }
    audit_record(
        actor=actor,
        action="notification.preference_update",
        obj=actor,
        changes={k: [before[k], after[k]] for k in after if before[k] != after[k]},
    )
    return preference
