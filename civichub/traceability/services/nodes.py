"""The staff forms of the small markets without a system of their own: receiving, slaughter
with its quarantine certificate, inspection with results, shipping, selling. Each builds the
same EPCIS 2.0 event an outside system would send and captures it through `events_capture`."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from civichub.core.errors import ValidationFailed
from civichub.core.models import User
from civichub.traceability.gs1.epcis import DEFAULT_CONTEXT
from civichub.traceability.gs1.identifiers import IdentifierError, serial_instance
from civichub.traceability.models import Lot, Participant
from civichub.traceability.services.capture import CaptureResult, events_capture

NODE_STEPS = ("commissioning", "receiving", "killing", "inspecting", "shipping", "retail_selling")


def _offset(when: datetime) -> str:
    minutes = int((when.utcoffset() or timedelta()).total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def node_event_document(
    *,
    step: str,
    lot: Lot,
    participant: Participant,
    when: datetime,
    quantity: float | None = None,
    uom: str = "KGM",
    certificate: str = "",
    results: dict[str, float] | None = None,
    animals: list[str] | None = None,
    destination: Participant | None = None,
) -> dict[str, Any]:
    """The EPCIS document of one staff-form entry."""
    local = timezone.localtime(when)
    quantity_element: dict[str, Any] = {"epcClass": lot.epc_class}
    if quantity is not None:
        quantity_element |= {"quantity": quantity, "uom": uom}
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": local.isoformat(),
        "eventTimeZoneOffset": _offset(local),
        "action": "ADD" if step == "commissioning" else "OBSERVE",
        "bizStep": step,
        "readPoint": {"id": participant.location_uri},
        "bizLocation": {"id": participant.location_uri},
        "quantityList": [quantity_element],
    }
    if animals:
        try:
            inputs = [serial_instance(lot.product.gtin, serial) for serial in animals]
        except IdentifierError as exc:
            raise ValidationFailed.on("animals", str(exc)) from exc
        event = {k: v for k, v in event.items() if k not in ("action", "quantityList")}
        event |= {"type": "TransformationEvent", "inputEPCList": inputs}
        event["outputQuantityList"] = [quantity_element]
    if certificate:
        # certificationInfo is a URI; a paper certificate's number gets civichub's URN.
        event["certificationInfo"] = (
            certificate if ":" in certificate else f"urn:civichub:certificate:{quote(certificate)}"
        )
    if results:
        event["sensorElementList"] = [
            {
                "sensorReport": [
                    {
                        "type": "gs1:MassFraction",
                        "chemicalSubstance": f"urn:civichub:substance:{quote(name)}",
                        "value": value,
                        "uom": "59",  # UN/CEFACT: parts per million (mg/kg)
                    }
                    for name, value in results.items()
                ]
            }
        ]
    if destination is not None:
        event["destinationList"] = [{"type": "location", "destination": destination.location_uri}]
    return {
        "@context": [DEFAULT_CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": timezone.now().isoformat(),
        "epcisBody": {"eventList": [event]},
    }


def node_event_record(
    *,
    actor: User | None,
    step: str,
    lot: Lot,
    participant: Participant,
    when: datetime | None = None,
    **details: Any,
) -> CaptureResult:
    if step not in NODE_STEPS:
        raise ValidationFailed.on("step", _("不支持的环节：%(step)s") % {"step": step})
    document = node_event_document(
        step=step, lot=lot, participant=participant, when=when or timezone.now(), **details
    )
    return events_capture(actor=actor, document=document)


CSV_COLUMNS = (
    "step",
    "trace_code",
    "quantity",
    "certificate",
    "residue_name",
    "residue_value",
    "when",
)
# The stable codes of a refused row (the message beside each is for people and translated).
CSV_ROW_ERRORS = (
    "missing_trace_code",
    "unknown_trace_code",
    "unknown_step",
    "bad_quantity",
    "bad_residue_value",
    "bad_time",
)


class _RowError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _csv_row_event(
    row: dict[str, str | None], participant: Participant, lots: dict[str, Lot]
) -> dict[str, Any]:
    """The event the staff form makes of the same entry; _RowError with a stable code."""
    cell = {key: (value or "").strip() for key, value in row.items() if isinstance(key, str)}
    code = cell.get("trace_code", "")
    if not code:
        raise _RowError("missing_trace_code", _("缺少追溯码。"))
    lot = lots.get(code)
    if lot is None:
        raise _RowError("unknown_trace_code", _("未知的追溯码：%(code)s") % {"code": code})
    step = cell.get("step", "")
    if step not in NODE_STEPS:
        raise _RowError("unknown_step", _("不支持的环节：%(step)s") % {"step": step})
    when = timezone.now()
    if cell.get("when"):
        try:
            parsed = parse_datetime(cell["when"])
        except ValueError:
            parsed = None
        if parsed is None:
            raise _RowError("bad_time", _("时间格式须为 2026-12-01T08:00:00+08:00。"))
        when = timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed
    try:
        amount = float(cell["quantity"]) if cell.get("quantity") else None
    except ValueError:
        raise _RowError("bad_quantity", _("数量须为数字。")) from None
    results = None
    if cell.get("residue_name"):
        try:
            results = {cell["residue_name"]: float(cell.get("residue_value") or 0)}
        except ValueError:
            raise _RowError("bad_residue_value", _("检测值须为数字。")) from None
    document = node_event_document(
        step=step,
        lot=lot,
        participant=participant,
        when=when,
        quantity=amount,
        certificate=cell.get("certificate", ""),
        results=results,
    )
    return dict(document["epcisBody"]["eventList"][0])


def node_events_from_csv(
    *, actor: User | None, text: str, participant: Participant
) -> CaptureResult:
    """A batch of staff entries as CSV (the columns of CSV_COLUMNS; step and trace_code
    required): the same events as the staff form, in one capture, all or nothing. A refused
    file raises ValidationFailed whose `errors` are keyed `row N` (row 1 is the header) and
    whose `extra["rows"]` lists each refused row as {"row", "code", "message"}, the code one of
    CSV_ROW_ERRORS."""
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        raise ValidationFailed.on("file", _("文件中没有记录。"))
    missing = {"step", "trace_code"} - set(rows[0])
    if missing:
        raise ValidationFailed.on(
            "file", _("缺少列：%(columns)s") % {"columns": ", ".join(sorted(missing))}
        )
    codes = {(r.get("trace_code") or "").strip() for r in rows}
    lots = {
        lot.trace_code: lot
        for lot in Lot.objects.select_related("product").filter(trace_code__in=codes)
    }
    refused: list[dict[str, Any]] = []
    events = []
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        try:
            events.append(_csv_row_event(row, participant, lots))
        except _RowError as exc:
            refused.append({"row": number, "code": exc.code, "message": exc.message})
    if refused:
        raise ValidationFailed(
            _("文件有错误，未保存任何记录。"),
            errors={f"row {r['row']}": [r["message"]] for r in refused},
            rows=refused,
        )
    document = node_event_document_for(events)
    return events_capture(actor=actor, document=document)


def node_event_document_for(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@context": [DEFAULT_CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": timezone.now().isoformat(),
        "epcisBody": {"eventList": events},
    }
