"""EPCIS 2.0 JSON-LD documents: validation against the JSON Schema with format checking, the
CBV 2.0 event hash, and the identifiers each event names (the edges of the trace graph).

The hash follows `epcis-event-hash-generator`, the reference implementation of the CBV 2.0
canonical pre-hash, offline for the two GS1 contexts it bundles: `event_hash.py` computes the same
string at capture speed, and the reference itself is asked only about events that reading gives
up on. Where neither can hash an event (a context it does not hold, an example it trips over),
the hash is the SHA-256 of the event's canonical JSON without the fields the CBV hash leaves
out, marked `ver=civichub-json1` so that it never poses as a CBV hash."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema_rs
from epcis_event_hash_generator import hash_generator, json_to_py
from jsonschema import Draft7Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from civichub.traceability.gs1.event_hash import HashUnavailable, cbv_event_hash
from civichub.traceability.gs1.identifiers import IdentifierError, epc_canonical


def _not_the_hash_generators_chatter(record: logging.LogRecord) -> bool:
    """The reference generator logs every event's pre-hash on the root logger at INFO: on a
    busy capture that is most of the time spent. Its warnings and errors still pass."""
    return record.levelno > logging.INFO or "epcis_event_hash_generator" not in record.pathname


logging.getLogger().addFilter(_not_the_hash_generators_chatter)

EVENT_TYPES = (
    "ObjectEvent",
    "AggregationEvent",
    "TransformationEvent",
    "TransactionEvent",
    "AssociationEvent",
)
DOCUMENT_TYPES = ("EPCISDocument", "EPCISQueryDocument")
DEFAULT_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"

_OFFSET = r"^([+-]((0[0-9]|1[0-3]):([0-5][0-9])|14:00))$"
_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "eventTime", "eventTimeZoneOffset"],
    "properties": {
        "type": {"enum": list(EVENT_TYPES)},
        "eventTime": {"type": "string", "format": "date-time"},
        "eventTimeZoneOffset": {"type": "string", "pattern": _OFFSET},
        "eventID": {"type": "string", "format": "uri"},
        "action": {"enum": ["OBSERVE", "ADD", "DELETE"]},
        "epcList": {"type": "array", "items": {"type": "string", "format": "uri"}},
        "bizStep": {"type": "string", "not": {"pattern": "^urn:epcglobal:cbv"}},
    },
    "allOf": [
        {
            "if": {
                "properties": {
                    "type": {"enum": [t for t in EVENT_TYPES if t != "TransformationEvent"]}
                }
            },
            "then": {"required": ["action"]},
        }
    ],
}
# civichub's own structural schema, used when the deployment has not installed GS1's: the
# required fields, the event types and their actions, time formats. GS1's schema checks more.
BUILTIN_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["type"],
    "if": {"properties": {"type": {"enum": list(DOCUMENT_TYPES)}}},
    "then": {
        "required": ["@context", "type", "schemaVersion", "creationDate", "epcisBody"],
        "properties": {
            "schemaVersion": {"type": "string", "pattern": r"^\d+(\.\d+)*$"},
            "creationDate": {"type": "string", "format": "date-time"},
            "epcisBody": {
                "type": "object",
                "properties": {"eventList": {"type": "array", "items": _EVENT_SCHEMA}},
            },
        },
    },
    "else": {"allOf": [{"required": ["@context"]}, _EVENT_SCHEMA]},
}


class DocumentInvalid(ValueError):
    """The document breaks the schema; `problems` gives each error as (JSON path, message)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{path}: {message}" for path, message in problems))
        self.problems = problems


def json_path(parts: Any) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _schema(schema_path: str) -> dict[str, Any]:
    return json.loads(Path(schema_path).read_text()) if schema_path else BUILTIN_SCHEMA


@lru_cache(maxsize=4)
def _fast_validator(schema_path: str) -> Any:
    """The same schema compiled by jsonschema-rs (Rust, with format checking): about ten times
    faster than jsonschema, so a good document is accepted at its speed; a refused one is
    checked again by jsonschema for the errors' paths."""
    return jsonschema_rs.Draft7Validator(_schema(schema_path), validate_formats=True)


@lru_cache(maxsize=4)
def _validator(schema_path: str) -> Draft7Validator:
    schema = _schema(schema_path)
    # Without the format checker the schema lets `eventTime: "yesterday"`, an `epcList` of
    # non-URIs and bare extension keys through (jsonschema checks formats only when asked).
    return Draft7Validator(schema, format_checker=FormatChecker())


def _deepest(error: ValidationError) -> ValidationError:
    """The schema routes on `type` with if/then and anyOf: the innermost error names the field."""
    while error.context:
        error = max(error.context, key=lambda e: len(e.absolute_path))
    return error


def validate(document: dict[str, Any], *, schema_path: str = "") -> None:
    """Raises DocumentInvalid with every error's JSON path, the deepest first."""
    fast = _fast_validator(schema_path)
    if fast.is_valid(document):
        return
    errors = list(_validator(schema_path).iter_errors(document))
    if not errors:  # the two validators disagree: the stricter answer stands
        first = next(iter(fast.iter_errors(document)))
        raise DocumentInvalid([(json_path(first.instance_path), first.message)])
    found = sorted((_deepest(e) for e in errors), key=lambda e: -len(e.absolute_path))
    problems = list(dict.fromkeys((json_path(e.absolute_path), e.message) for e in found))
    raise DocumentInvalid(problems[:20])


def events_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The events of an EPCISDocument or EPCISQueryDocument, or the document itself when it is
    one event; each keeps the document's `@context` for hashing and export."""
    kind = document.get("type")
    if kind == "EPCISDocument":
        events = document.get("epcisBody", {}).get("eventList", [])
    elif kind == "EPCISQueryDocument":
        results = document.get("epcisBody", {}).get("queryResults", {})
        events = results.get("resultsBody", {}).get("eventList", [])
    else:
        events = [document]
    return [e for e in events if isinstance(e, dict)]


def _canonical_json_hash(event: dict[str, Any]) -> str:
    kept = {
        k: v
        for k, v in event.items()
        if k not in ("eventID", "recordTime", "errorDeclaration", "@context")
    }
    digest = hashlib.sha256(json.dumps(kept, sort_keys=True, ensure_ascii=False).encode())
    return f"ni:///sha-256;{digest.hexdigest()}?ver=civichub-json1"


def _reference_event_hash(event: dict[str, Any], context: Any = None) -> str:
    """The hash by the reference generator itself, for the events civichub's own reading of its
    rules gives up on (it then mostly gives up too, and the JSON hash stands in)."""
    # A deep copy: the reference code expands bare values in place, which would change the
    # event we store.
    single = copy.deepcopy(
        {
            "@context": event.get("@context", context or DEFAULT_CONTEXT),
            "type": "EPCISDocument",
            "epcisBody": {"eventList": [{k: v for k, v in event.items() if k != "@context"}]},
        }
    )
    try:
        events = json_to_py.event_list_from_epcis_document_json(single)
        hashes = hash_generator.epcis_hashes_from_events(events, "sha256")
    except Exception:  # noqa: BLE001 - the reference code's own bugs: fall back, never fail
        return _canonical_json_hash(event)
    return str(hashes[0]) if hashes else _canonical_json_hash(event)


def event_hash(event: dict[str, Any], context: Any = None) -> str:
    """The CBV 2.0 event hash (`ni:///sha-256;…?ver=CBV2.0`) of one event; it depends on the
    event alone (and the context it is read in), never on the other events of its document."""
    try:
        return cbv_event_hash(event, event.get("@context", context or DEFAULT_CONTEXT))
    except HashUnavailable:
        return _reference_event_hash(event, context)


def event_hashes(events: list[dict[str, Any]], context: Any = None) -> list[str]:
    """The hashes of a document's events, each computed on its own."""
    return [event_hash(e, context) for e in events]


@dataclass(frozen=True)
class Edge:
    epc: str
    role: str  # epc, parent, child, input, output
    is_class: bool
    quantity: float | None = None
    uom: str = ""


_LISTS: tuple[tuple[str, str], ...] = (
    ("epcList", "epc"),
    ("childEPCs", "child"),
    ("inputEPCList", "input"),
    ("outputEPCList", "output"),
)
_QUANTITIES: tuple[tuple[str, str], ...] = (
    ("quantityList", "epc"),
    ("childQuantityList", "child"),
    ("inputQuantityList", "input"),
    ("outputQuantityList", "output"),
)


def event_edges(event: dict[str, Any]) -> list[Edge]:
    """Every identifier the event names, canonical. A GS1 key with a wrong check digit raises
    IdentifierError with the field that holds it."""
    edges: list[Edge] = []

    def add(field: str, value: Any, role: str, **extra: Any) -> None:
        if not isinstance(value, str):
            return
        try:
            epc, is_class = epc_canonical(value)
        except IdentifierError as exc:
            raise IdentifierError(f"{field}: {exc}") from exc
        edges.append(Edge(epc, role, extra.pop("is_class", is_class), **extra))

    if event.get("parentID"):
        add("parentID", event["parentID"], "parent")
    for field, role in _LISTS:
        for value in event.get(field) or []:
            add(field, value, role)
    for field, role in _QUANTITIES:
        for element in event.get(field) or []:
            if isinstance(element, dict):
                quantity = element.get("quantity")
                add(
                    field,
                    element.get("epcClass"),
                    role,
                    is_class=True,
                    quantity=float(quantity) if isinstance(quantity, int | float) else None,
                    uom=str(element.get("uom", ""))[:8],
                )
    return edges


def field_uri(value: Any) -> str:
    """`bizLocation`/`readPoint` hold `{"id": …}`; anything else as text."""
    if isinstance(value, dict):
        return str(value.get("id", ""))
    return str(value or "")
