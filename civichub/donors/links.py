"""The signed link in a call-up SMS: it lets the donor answer that one call-up without signing
in. It names the call-up and nothing else, and expires."""

from __future__ import annotations

from datetime import timedelta

from django.core import signing
from django.urls import reverse
from django.utils.translation import gettext as _

from civichub.core.conf import core_settings
from civichub.core.config import module_config
from civichub.core.errors import PermissionDenied
from civichub.donors.conf import DonorsSettings
from civichub.donors.models import CallUp

SALT = "civichub.donors.call-up"


def call_up_token(call_up: CallUp) -> str:
    return signing.dumps({"c": call_up.pk, "d": call_up.donor_id}, salt=SALT, compress=True)


def call_up_link(call_up: CallUp) -> str:
    # The module's own address if the deployment gave one, else the platform's (CIVICHUB_SITE_URL).
    site = str(module_config(DonorsSettings).site_url or core_settings().site_url).rstrip("/")
    return site + reverse("donors:respond", args=[call_up_token(call_up)])


def call_up_from_token(token: str) -> CallUp:
    hours = module_config(DonorsSettings).call_up_link_hours
    try:
        data = signing.loads(token, salt=SALT, max_age=timedelta(hours=hours))
    except signing.SignatureExpired as exc:
        raise PermissionDenied(_("这个链接已过期，感谢您的关心。")) from exc
    except signing.BadSignature as exc:
        raise PermissionDenied(_("这个链接无效。")) from exc
    found = (
        CallUp.objects.select_related("request__hospital", "donor")
        .filter(pk=data.get("c"), donor_id=data.get("d"))
        .first()
    )
    if found is None:
        raise PermissionDenied(_("这个链接无效。"))
    return found
