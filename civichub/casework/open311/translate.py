"""Between GeoReport v2 and casework: categories as services, cases as requests, the case
history as mySociety request updates, and the parsing of Open311 arguments.

What a GET shows of a case is what the public board may show: the message, its category, the
responsible department, the dates, the status, replies marked for the board and (with the
profile's `publish_place`) the place. Never the sender: no name, phone, email, account or
device id, whatever the request carried.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.http import QueryDict

from civichub.casework.models import (
    LIST_DATATYPES,
    Case,
    CaseEvent,
    CaseStatus,
    Category,
    CategoryAttribute,
    EventKind,
)
from civichub.casework.open311.render import ErrorItem, Many, w3c_datetime
from civichub.core.bounds import EARLIEST_YEAR, LATEST_YEAR, in_calendar

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
STATUSES = ("open", "closed")


class Open311Error(Exception):
    """A refusal in the spec's terms: the HTTP status and one item per problem."""

    def __init__(self, status: int, *descriptions: str) -> None:
        super().__init__("; ".join(descriptions))
        self.status = status
        self.items = [ErrorItem(status, d) for d in descriptions]


# Arguments ------------------------------------------------------------------------------------

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ATTRIBUTE = re.compile(r"^attribute\[([^\[\]]+)\](\[\])?$")


class Params:
    """The arguments of one call: the form body first, then the query string. An argument
    given empty counts as absent (`jurisdiction_id=` is no jurisdiction), so a client that
    sends `api_key=` in the query and the key in the body is served."""

    def __init__(self, *sources: QueryDict) -> None:
        self.sources = sources

    def get(self, name: str) -> str:
        for source in self.sources:
            for value in source.getlist(name):
                if value.strip():
                    return value.strip()
        return ""

    def names(self) -> list[str]:
        seen: dict[str, None] = {}
        for source in self.sources:
            for name in source:
                seen.setdefault(name, None)
        return list(seen)

    def values(self, name: str) -> list[str]:
        """Every non-empty value of `name` in the first source that has one."""
        for source in self.sources:
            values = [v.strip() for v in source.getlist(name) if v.strip()]
            if values:
                return values
        return []

    def check_text(self) -> None:
        """Refuses control characters and bytes that were not UTF-8 (decoded as U+FFFD)."""
        problems = []
        for name in self.names():
            for source in self.sources:
                for value in source.getlist(name):
                    if "\ufffd" in value or "\ufffd" in name:
                        problems.append(f"{name}: not valid UTF-8 (send percent-encoded UTF-8)")
                    elif _CONTROL.search(value):
                        problems.append(f"{name}: contains control characters")
        if problems:
            raise Open311Error(400, *sorted(set(problems)))

    def attributes(self) -> dict[str, list[str]]:
        """`attribute[code]=v` and `attribute[code][]=v1&attribute[code][]=v2`, by code."""
        found: dict[str, list[str]] = {}
        for name in self.names():
            match = _ATTRIBUTE.match(name)
            if match:
                values = self.values(name)
                if values:
                    found.setdefault(match.group(1), []).extend(values)
        return found


def split_list(value: str) -> list[str]:
    """A comma list argument (`001,002`), blanks dropped."""
    return [item.strip() for item in value.split(",") if item.strip()]


_W3C = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[Tt ](?P<hour>\d{2}):(?P<minute>\d{2})"
    r"(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?"
    r"(?P<tz>[Zz]|[+-]\d{2}(?::?\d{2})?)?)?$"
)
# A `+` left unencoded in a query string arrives as a space: "…T08:00:00 08:00".
_PLUS_AS_SPACE = re.compile(r"(?<=\d) (?=\d{2}(?::?\d{2})?$)")


def parse_w3c(name: str, value: str) -> dt.datetime:
    """A W3C date and time, read leniently: `Z` or `±HH:MM` (also `±HHMM`, `±HH`), fractional
    seconds, a `+` that became a space. A bare date is that day's 00:00 UTC. A time without a
    timezone is refused (the spec makes the timezone mandatory): 400."""
    text = _PLUS_AS_SPACE.sub("+", value.strip(), count=1)
    match = _W3C.match(text)
    if match is None:
        raise Open311Error(
            400, f"{name}: not a W3C date and time (for example 2026-01-01T00:00:00Z)"
        )
    try:
        day = dt.date.fromisoformat(match["date"])
        if not in_calendar(day):
            # Still a date Python can hold, but a window around it would not be.
            raise Open311Error(
                400, f"{name}: a date from the year {EARLIEST_YEAR} to {LATEST_YEAR}"
            )
        if match["hour"] is None:
            return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        if match["tz"] is None:
            raise Open311Error(400, f"{name}: add the timezone (Z or ±HH:MM)")
        fraction = (match["fraction"] or "0")[:6].ljust(6, "0")
        clock = dt.time(
            int(match["hour"]), int(match["minute"]), int(match["second"] or 0), int(fraction)
        )
        return dt.datetime.combine(day, clock, tzinfo=_zone(match["tz"]))
    except ValueError:
        raise Open311Error(400, f"{name}: not a valid date and time") from None


def _zone(text: str) -> dt.tzinfo:
    if text in ("Z", "z"):
        return dt.UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError("offset out of range")
    return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))


# Services -------------------------------------------------------------------------------------


def service(category: Category, attributes: Sequence[CategoryAttribute]) -> dict[str, Any]:
    return {
        "service_code": category.key,
        "service_name": category.name,
        "description": category.description,
        "metadata": bool(attributes),
        "type": category.service_type,
        "keywords": ",".join(str(k) for k in category.keywords),
        "group": category.group,
    }


def attribute(definition: CategoryAttribute) -> dict[str, Any]:
    shape: dict[str, Any] = {
        "variable": definition.variable,
        "code": definition.code,
        "datatype": definition.datatype,
        "required": definition.required,
        "datatype_description": definition.datatype_description,
        "order": definition.order,
        "description": definition.description,
    }
    if definition.datatype in LIST_DATATYPES:
        shape["values"] = Many(
            "value",
            [
                {"key": str(v.get("key", "")), "name": str(v.get("name", ""))}
                for v in definition.values
                if isinstance(v, dict)
            ],
        )
    return shape


def service_definition(
    category: Category, attributes: Sequence[CategoryAttribute]
) -> dict[str, Any]:
    return {
        "service_code": category.key,
        "attributes": Many("attribute", [attribute(a) for a in attributes]),
    }


# Requests -------------------------------------------------------------------------------------


def open311_extra(case: Case) -> Mapping[str, Any]:
    extra = case.extra.get("open311") if isinstance(case.extra, dict) else None
    return extra if isinstance(extra, dict) else {}


def request_status(case: Case) -> str:
    return "closed" if case.status == CaseStatus.CLOSED else "open"


def _status_notes(case: Case, board_replies: Sequence[CaseEvent]) -> str:
    if case.merged_into_id is not None and case.merged_into is not None:
        return f"Duplicate of {case.merged_into.tracking_number}"
    return board_replies[-1].text if board_replies else ""


def request(
    case: Case,
    *,
    board_replies: Sequence[CaseEvent] = (),
    publish_place: bool = True,
    notes: Iterable[CaseEvent] | None = None,
    satisfaction: str | None = None,
) -> dict[str, Any]:
    """A case as a GeoReport request. `notes` (the extensions=true history) adds
    `extended_attributes` and `notes`."""
    extra = open311_extra(case)
    category = case.category
    place = publish_place and case.has_point
    shape: dict[str, Any] = {
        "service_request_id": case.tracking_number,
        "status": request_status(case),
        "status_notes": _status_notes(case, board_replies) or None,
        "service_name": category.name if category else "",
        "service_code": category.key if category else "",
        "description": case.text,
        "agency_responsible": case.department.name if case.department else None,
        "service_notice": None,
        "requested_datetime": w3c_datetime(case.created_at),
        "updated_datetime": w3c_datetime(
            case.closed_at
            if case.status == CaseStatus.CLOSED and case.closed_at
            else case.updated_at
        ),
        "expected_datetime": w3c_datetime(case.due_at),
        "address": (case.address or None) if publish_place else None,
        "address_id": (str(extra.get("address_id") or "") or None) if publish_place else None,
        "zipcode": None,
        "lat": round(case.wgs84_latitude, 7) if place and case.wgs84_latitude is not None else None,
        "long": (
            round(case.wgs84_longitude, 7) if place and case.wgs84_longitude is not None else None
        ),
        "media_url": str(extra.get("media_url") or "") or None,
    }
    if notes is not None:
        shape["extended_attributes"] = {
            "casework_status": case.status,
            "department": case.department.name if case.department else None,
            "expected_datetime": w3c_datetime(case.due_at),
            "satisfaction": satisfaction,
            "duplicate_of": case.merged_into.tracking_number if case.merged_into else None,
        }
        shape["notes"] = Many(
            "note",
            [
                {
                    "datetime": w3c_datetime(event.created_at),
                    "description": update_description(event),
                    "type": event.kind,
                }
                for event in notes
            ],
        )
    return shape


# The mySociety updates extension ----------------------------------------------------------------

# The history events a client may see as updates, and the mySociety status each one leaves the
# request in. Closing is "closed" except for duplicates; a reply is an answer on the way, not yet
# the end (the sender's rating closes the case).
UPDATE_STATUS: dict[str, str] = {
    EventKind.ROUTED: "open",
    EventKind.TRIAGED: "open",
    EventKind.TRANSFERRED: "internal_referral",
    EventKind.REPLY: "in_progress",
    EventKind.EXTENSION_APPROVED: "in_progress",
    EventKind.REOPENED: "reopen",
    EventKind.CLOSED: "closed",
}


def update_status(event: CaseEvent) -> str:
    if event.kind == EventKind.CLOSED and (event.data or {}).get("reason") == "duplicate":
        return "duplicate"
    return UPDATE_STATUS.get(event.kind, "open")


def update_description(event: CaseEvent) -> str:
    organisation = event.organisation.name if event.organisation else ""
    if event.kind in (EventKind.ROUTED, EventKind.TRIAGED) and organisation:
        return f"Sent to {organisation}" + (f": {event.text}" if event.text else "")
    if event.kind == EventKind.TRANSFERRED and organisation:
        return f"Transferred to {organisation}" + (f": {event.text}" if event.text else "")
    if event.kind == EventKind.CLOSED and (event.data or {}).get("reason") == "duplicate":
        into = event.case.merged_into
        return f"Duplicate of {into.tracking_number}" if into else "Duplicate"
    return event.text


def request_update(event: CaseEvent) -> dict[str, Any]:
    return {
        "update_id": str(event.pk),
        "service_request_id": event.case.tracking_number,
        "status": update_status(event),
        "updated_datetime": w3c_datetime(event.created_at),
        "description": update_description(event),
        "media_url": None,
        "external_status_code": event.kind,
    }
