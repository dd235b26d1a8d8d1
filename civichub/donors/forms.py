"""Form parsing for the donors pages: plain values in, typed values or field errors out."""

from __future__ import annotations

from datetime import date, time
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
        "antigen_negative": tuple(data.getlist("antigen_negative")),
    }
    if errors:
        raise ValidationFailed(_("用血需求有误。"), errors=errors)
    return values


WEEKDAYS = range(7)


def _date(data: QueryDict, field: str, errors: dict[str, list[str]]) -> date:
    try:
        return date.fromisoformat(data.get(field, "").strip())
    except ValueError:
        errors.setdefault(field, []).append(_("请按 年-月-日 填写日期。"))
        return date.min


def _time(data: QueryDict, field: str, errors: dict[str, list[str]]) -> time | None:
    raw = data.get(field, "").strip()
    if not raw:
        return None
    try:
        return time.fromisoformat(raw)
    except ValueError:
        errors.setdefault("windows", []).append(_("请按 时:分 填写时间。"))
        return None


def registration_form(data: QueryDict) -> dict[str, Any]:
    """The self-registration page's fields as typed values (the community is resolved by the
    view); raises ValidationFailed with every field that is not a value at all."""
    errors: dict[str, list[str]] = {}
    location = data.get("location_consent") == "on"
    latitude = longitude = None
    if location and (data.get("latitude", "").strip() or data.get("longitude", "").strip()):
        latitude = _float(data, "latitude", errors)
        longitude = _float(data, "longitude", errors)
    try:
        weight = float(data.get("weight_kg", ""))
    except ValueError:
        errors["weight_kg"] = [_("请用数字填写体重（公斤）。")]
        weight = 0.0
    birth_date = _date(data, "birth_date", errors)
    windows: list[tuple[int, time, time]] = []
    days = [int(d) for d in data.getlist("weekday") if d.isdigit() and int(d) in WEEKDAYS]
    starts, ends = _time(data, "starts", errors), _time(data, "ends", errors)
    if days and (starts is None or ends is None):
        errors.setdefault("windows", []).append(_("选了星期时请填写开始和结束时间。"))
    elif days and starts is not None and ends is not None:
        windows = [(day, starts, ends) for day in days]
    values = {
        "name": data.get("name", ""),
        "phone": data.get("phone", ""),
        "identity_number": data.get("identity_number", ""),
        "sex": data.get("sex", ""),
        "birth_date": birth_date,
        "weight_kg": weight,
        "abo": data.get("abo", ""),
        "rhd": data.get("rhd", ""),
        "health_consent": data.get("health_consent") == "on",
        "location_consent": location,
        "latitude": latitude,
        "longitude": longitude,
        "crs": data.get("crs", "gcj02"),
        "windows": tuple(windows),
        "paused": data.get("paused") == "on",
        "call_channels": data.get("call_channels", "sms"),
    }
    if errors:
        raise ValidationFailed(_("登记信息有误，请按提示修改。"), errors=errors)
    return values


def phenotype_form(data: QueryDict, antigens: tuple[str, ...]) -> dict[str, str]:
    """The phenotype fields (`pheno_<antigen>`: "+", "-" or "" for unknown) of the antigens the
    form shows; the service refuses any other value."""
    return {a: data.get(f"pheno_{a}", "") for a in antigens if f"pheno_{a}" in data}
