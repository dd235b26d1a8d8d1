"""Parsing the pages' forms: the POST fields of enrolment, family contacts, a meter and time away
turned into what the services take. The pages work without JavaScript, so the fields are plain
inputs named by row (`contact_0_name`, `meter_water`, ...)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.http import QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from civichub.wellbeing import selectors
from civichub.wellbeing.models import INTERVAL_MINUTES, UTILITY_UNITS, MeterUnit, Utility
from civichub.wellbeing.services import ContactSpec, MeterSpec

CONTACT_ROWS = 3  # blank contact rows on the enrolment form
CONTACT_ROWS_MAX = 20  # rows the household page's contact form may send
DEFAULT_INTERVAL = 30  # minutes between readings, shown chosen on the forms
# How often a meter may send, as the forms offer it.
REPORT_CHOICES = (
    ("0", gettext_lazy("随每次读数上报")),
    ("60", gettext_lazy("每小时上报一次")),
    ("240", gettext_lazy("每 4 小时上报一次")),
    ("1440", gettext_lazy("每天上报一次（如 NB-IoT 水表）")),
)


def local_datetime(raw: str) -> datetime | None:
    """A `datetime-local` field's value in the deployment's time zone."""
    moment = parse_datetime(raw.strip()) if raw.strip() else None
    if moment is not None and timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def form_date(raw: str) -> date | None:
    """A `date` field's value; none when empty or not a date."""
    try:
        return parse_date(raw.strip()) if raw.strip() else None
    except ValueError:
        return None


def _contact_row(post: QueryDict, i: int) -> dict[str, str]:
    return {
        "name": post.get(f"contact_{i}_name", ""),
        "phone": post.get(f"contact_{i}_phone", ""),
        "email": post.get(f"contact_{i}_email", ""),
        "username": post.get(f"contact_{i}_username", ""),
    }


def enrol_values(post: QueryDict) -> dict[str, Any]:
    """The enrolment form's fields, as given (the form is shown again with them on an error)."""
    return {
        "resident": post.get("resident", ""),
        "worker": post.get("worker", ""),
        "consent_by": post.get("consent_by", ""),
        "consent_method": post.get("consent_method", ""),
        "consent_at": post.get("consent_at", ""),
        "consent_document": post.get("consent_document", ""),
        "guardian_name": post.get("guardian_name", ""),
        "consent_note": post.get("consent_note", ""),
        "meters": {
            utility: {
                "meter_id": post.get(f"meter_{utility}", ""),
                "cumulative": post.get(f"meter_{utility}_kind", "register") != "interval",
                "unit": post.get(f"meter_{utility}_unit", ""),
                "interval": post.get(f"meter_{utility}_interval", str(DEFAULT_INTERVAL)),
                "report": post.get(f"meter_{utility}_report", "0"),
            }
            for utility in Utility.values
        },
        "contacts": [_contact_row(post, i) for i in range(CONTACT_ROWS)],
    }


def enrol_meters(values: dict[str, Any]) -> list[MeterSpec]:
    """The meters of the enrolment form: one per utility whose meter number was filled in."""
    return [
        MeterSpec(
            utility,
            row["meter_id"].strip(),
            row["cumulative"],
            unit=row["unit"],
            interval_minutes=_minutes(row["interval"]),
            report_every_minutes=_minutes(row["report"]),
        )
        for utility, row in values["meters"].items()
        if row["meter_id"].strip()
    ]


def _minutes(raw: str) -> int:
    """A number of minutes from a form; what is not one becomes -1, which the service refuses."""
    raw = raw.strip()
    return int(raw) if raw.isdigit() else -1


def meter_rows(values: dict[str, Any]) -> list[dict[str, Any]]:
    """The enrolment form's meter rows: per utility its units (the canonical one first, chosen
    unless another was), and what was entered."""
    entered = values.get("meters") or {}
    rows = []
    for utility, label in Utility.choices:
        row = entered.get(utility) or {}
        rows.append(
            {
                "utility": utility,
                "label": label,
                "units": [(unit, MeterUnit(unit).label) for unit in UTILITY_UNITS[utility]],
                "meter_id": row.get("meter_id", ""),
                "kind": "register" if row.get("cumulative", True) else "interval",
                "unit": row.get("unit") or UTILITY_UNITS[utility][0],
                "interval": row.get("interval") or str(DEFAULT_INTERVAL),
                "report": row.get("report") or "0",
            }
        )
    return rows


def reading_choices() -> dict[str, Any]:
    """The intervals and reporting the meter forms offer, with the default chosen."""
    return {
        "intervals": [(str(m), _("%d 分钟") % m) for m in INTERVAL_MINUTES],
        "reports": REPORT_CHOICES,
        "units": MeterUnit.choices,
    }


def contact_rows(post: QueryDict) -> list[dict[str, str]]:
    """The household page's contact rows in the calling order the form gives them."""
    rows = [
        {**_contact_row(post, i), "order": post.get(f"contact_{i}_order", str(i))}
        for i in range(CONTACT_ROWS_MAX)
    ]
    rows.sort(key=lambda r: int(r["order"]) if r["order"].lstrip("-").isdigit() else 99)
    return rows


def contact_specs(rows: list[dict[str, str]]) -> tuple[list[ContactSpec], list[str]]:
    """The filled-in contact rows (blank ones skipped), with an error for each account name that
    does not exist."""
    specs, errors = [], []
    for row in rows:
        name, phone, username = row["name"].strip(), row["phone"].strip(), row["username"].strip()
        email = row.get("email", "").strip()
        if not (name or phone or email or username):
            continue
        account = None
        if username:
            account = selectors.account_by_username(username)
            if account is None:
                errors.append(_("没有这个账号：%s") % username)
        specs.append(ContactSpec(name=name, phone=phone, user=account, email=email))
    return specs, errors


def meter_spec(post: QueryDict) -> MeterSpec:
    """The household page's form for a new meter."""
    return MeterSpec(
        post.get("utility", ""),
        post.get("meter_id", "").strip(),
        post.get("kind", "register") != "interval",
        unit=post.get("unit", ""),
        interval_minutes=_minutes(post.get("interval_minutes", str(DEFAULT_INTERVAL))),
        report_every_minutes=_minutes(post.get("report_every_minutes", "0")),
    )
