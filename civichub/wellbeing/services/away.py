"""Time away: the resident is travelling, staying with their children or in hospital, and
the rules that look for absence of use are silenced for that time."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.core.audit import audit_record
from civichub.core.config import module_config
from civichub.core.errors import Conflict, ValidationFailed
from civichub.core.models import User
from civichub.core.permissions import require
from civichub.wellbeing.conf import WellbeingSettings
from civichub.wellbeing.models import AwayKind, AwayPeriod, Household


@transaction.atomic
def away_mark(
    *,
    actor: User | None,
    household: Household,
    starts_at: datetime,
    ends_at: datetime,
    reason: str = "",
    kind: str = AwayKind.OTHER,
    review_on: date | None = None,
) -> AwayPeriod:
    """The resident is away (travelling, staying with their children, in hospital): no-use
    alerts are silenced for that time. It lasts at most `away_max_days`; a longer absence than
    `away_review_days` needs a reason and a review date between today and its end."""
    conf = module_config(WellbeingSettings)
    reason = reason.strip()[:100]
    if actor is not None:
        require(actor, "wellbeing.household.manage", household)
    errors: dict[str, list[str]] = {}
    if kind not in AwayKind.values:
        errors["kind"] = [_("请选择外出类型。")]
    if ends_at <= starts_at:
        errors["ends_at"] = [_("结束时间须晚于开始时间。")]
    elif ends_at - starts_at > timedelta(days=conf.away_max_days):
        errors["ends_at"] = [_("外出时段最长 %(days)d 天。") % {"days": conf.away_max_days}]
    elif ends_at - starts_at > timedelta(days=conf.away_review_days):
        if not reason:
            errors["reason"] = [
                _("外出超过 %(days)d 天须填写说明。") % {"days": conf.away_review_days}
            ]
        if review_on is None:
            errors["review_on"] = [
                _("外出超过 %(days)d 天须填写复核日期。") % {"days": conf.away_review_days}
            ]
        elif not timezone.localdate() <= review_on <= timezone.localtime(ends_at).date():
            errors["review_on"] = [_("复核日期须在今天与结束日期之间。")]
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], errors=errors)
    if not household.consenting:
        raise Conflict(_("该户已撤回同意。"))
    period = AwayPeriod.objects.create(
        household=household,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason,
        kind=kind,
        review_on=review_on,
        marked_by=actor,
    )
    audit_record(
        actor=actor,
        action="wellbeing.away.mark",
        obj=household,
        purpose=reason,
        changes={
            "away": period.pk,
            "kind": kind,
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
            "review_on": review_on.isoformat() if review_on else None,
        },
    )
    return period


def _away_for_update(actor: User | None, period: AwayPeriod) -> AwayPeriod:
    if actor is not None:
        require(actor, "wellbeing.household.manage", period.household)
    period = AwayPeriod.objects.select_for_update().select_related("household").get(pk=period.pk)
    if period.cancelled_at is not None:
        raise Conflict(_("该外出时段已取消。"))
    return period


@transaction.atomic
def away_end(*, actor: User | None, period: AwayPeriod) -> AwayPeriod:
    """The resident is back early: the period ends now and no-use alerts apply again."""
    period = _away_for_update(actor, period)
    now = timezone.now()
    if period.ends_at <= now:
        raise Conflict(_("该外出时段已结束。"))
    if period.starts_at > now:
        raise Conflict(_("该外出时段尚未开始，请取消它。"))
    period.ends_at = now
    period.save(update_fields=["ends_at"])
    audit_record(
        actor=actor,
        action="wellbeing.away.end",
        obj=period.household,
        changes={"away": period.pk, "ends_at": now.isoformat()},
    )
    return period


@transaction.atomic
def away_cancel(*, actor: User | None, period: AwayPeriod) -> AwayPeriod:
    """The trip did not happen: the period no longer silences anything, and stays listed."""
    period = _away_for_update(actor, period)
    period.cancelled_at = timezone.now()
    period.save(update_fields=["cancelled_at"])
    audit_record(
        actor=actor,
        action="wellbeing.away.cancel",
        obj=period.household,
        changes={"away": period.pk},
    )
    return period
