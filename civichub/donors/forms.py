"""Form parsing for the donors pages: plain values in, typed values or field errors out."""

from __future__ import annotations

from typing import Any

from django.http import QueryDict
from django.utils.translation import gettext as _

from civichub.core.errors import ValidationFailed


def _float(data: QueryDict, field: str, errors: dict[str, list[str]]) -> float:
    try:
        return float(data.get(field, ""))
    except ValueError:
        errors.setdefault(field, []).append(_("请填写数字。"))
        return 0.0


def request_form(data: QueryDict) -> dict[str, Any]:
    """The request board's form as the service's keywords; raises ValidationFailed with every
    field that is not a value at all (the service checks the rest)."""
    errors: dict[str, list[str]] = {}
    try:
        units = int(data.get("units", ""))
    except ValueError:
        errors["units"] = [_("请填写人数。")]
        units = 0
    values = {
        "component": data.get("component", ""),
        "units": units,
        "patient_abo": data.get("patient_abo", ""),
        "patient_rhd": data.get("patient_rhd", ""),
        "anti_d": data.get("anti_d") == "on",
        "urgency": data.get("urgency", "urgent"),
        "address": data.get("address", ""),
        "latitude": _float(data, "latitude", errors),
        "longitude": _float(data, "longitude", errors),
        "crs": data.get("crs", "gcj02"),
        "rhd_exception_consent": data.get("rhd_exception_consent") == "on",
        "consent_note": data.get("consent_note", ""),
    }
    if errors:
        raise ValidationFailed(_("用血需求有误。"), errors=errors)
    return values
