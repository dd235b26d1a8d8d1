"""The signed link a family contact receives with an alert: it lets them answer that one alert
without an account. It names the alert and the contact and nothing else, and expires."""

from __future__ import annotations

from datetime import timedelta

from django.core import signing
from django.urls import reverse
from django.utils.translation import gettext as _

from civichub.core.conf import core_settings
from civichub.core.config import module_config
from civichub.core.errors import PermissionDenied
from civichub.wellbeing.conf import WellbeingSettings
from civichub.wellbeing.models import Alert, FamilyContact

ACK_SALT = "civichub.wellbeing.alert-acknowledge"


def ack_token(*, alert: Alert, contact: FamilyContact) -> str:
    """A signed, expiring token for one family contact to answer one alert without an account
    (the link in the SMS). It names the alert and the contact and nothing else."""
    return signing.dumps({"a": alert.pk, "c": contact.pk}, salt=ACK_SALT, compress=True)


def ack_link(*, alert: Alert, contact: FamilyContact) -> str:
    """The acknowledgement page's absolute address: the module's `site_url` if the deployment
    gave one, else the platform's (core's `site_url`, CIVICHUB_SITE_URL)."""
    site = str(module_config(WellbeingSettings).site_url or core_settings().site_url).rstrip("/")
    return site + reverse("wellbeing:acknowledge", args=[ack_token(alert=alert, contact=contact)])


def ack_token_read(token: str) -> tuple[Alert, FamilyContact]:
    """The alert and the contact a signed link was made for; refused when the signature is wrong,
    the link has expired or the contact is no longer one of the household's."""
    hours = module_config(WellbeingSettings).ack_link_hours
    try:
        data = signing.loads(token, salt=ACK_SALT, max_age=timedelta(hours=hours))
    except signing.SignatureExpired as exc:
        raise PermissionDenied(_("这个确认链接已过期，请直接联系社区。")) from exc
    except signing.BadSignature as exc:
        raise PermissionDenied(_("这个确认链接无效。")) from exc
    alert = (
        Alert.objects.filter(pk=data.get("a"))
        .select_related("household__resident", "household__community")
        .first()
    )
    contact = FamilyContact.objects.filter(pk=data.get("c")).first()
    if alert is None or contact is None or contact.household_id != alert.household_id:
        raise PermissionDenied(_("这个确认链接无效。"))
    return alert, contact
