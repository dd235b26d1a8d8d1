"""One document, two formats: the XML the GeoReport v2 spec defines and its JSON mapping.

A document is built from plain values: a `dict` is an element with children in order, `Many`
is a repeated child (`Many("service", [...])` under `services`), scalars are text. The JSON
follows the spec's "Spark convention" (`JSON_and_XML_Conversion.md`): the root element is
dropped, so a list document is a bare top-level array, and a repeated child is always an array,
even with one item or none. Booleans are `true`/`false` in both; a missing value is an empty
element in XML and `null` in JSON; numbers stay numbers in JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree as ET

from django.http import HttpResponse

from civichub.casework.open311.conf import open311_settings

XML = "xml"
JSON = "json"
FORMATS = (XML, JSON)
MEDIA_TYPES = {XML: "text/xml", JSON: "application/json"}
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'

# Characters XML 1.0 cannot carry at all, even escaped; text from other channels may hold them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True)
class Many:
    """A repeated child element: `item` is the name of each repetition."""

    item: str
    items: Sequence[Any]


def w3c_datetime(value: dt.datetime | None) -> str | None:
    """W3C (ISO 8601) in UTC with `Z`, to the second: the form every client parses (some reject
    fractional seconds, and the timezone is mandatory)."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def content_type(fmt: str) -> str:
    media_type = MEDIA_TYPES[fmt]
    if open311_settings().charset_in_content_type:
        return f"{media_type}; charset=utf-8"
    return media_type


def _to_json(value: Any) -> Any:
    if isinstance(value, Many):
        return [_to_json(item) for item in value.items]
    if isinstance(value, Mapping):
        return {key: _to_json(child) for key, child in value.items()}
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, Many):
        for item in value.items:
            _fill(ET.SubElement(element, value.item), item)
    elif isinstance(value, Mapping):
        for key, child in value.items():
            _fill(ET.SubElement(element, key), child)
    else:
        element.text = _text(value)


def to_xml(root: str, body: Any) -> bytes:
    element = ET.Element(root)
    _fill(element, body)
    return (XML_DECLARATION + ET.tostring(element, encoding="unicode")).encode("utf-8")


def to_json(body: Any) -> bytes:
    return json.dumps(_to_json(body), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def document(fmt: str, root: str, body: Any, *, status: int = 200) -> HttpResponse:
    """The response for `body` under the XML root `root` (dropped in JSON)."""
    content = to_xml(root, body) if fmt == XML else to_json(body)
    return HttpResponse(content, status=status, content_type=content_type(fmt))


@dataclass(frozen=True)
class ErrorItem:
    code: int | str
    description: str


def errors_document(fmt: str, status: int, items: Sequence[ErrorItem]) -> HttpResponse:
    """The spec's error document: XML `errors/error{code,description}`, JSON an array of
    `{code, description}`; one item per problem."""
    body = Many("error", [{"code": i.code, "description": i.description} for i in items])
    return document(fmt if fmt in FORMATS else XML, "errors", body, status=status)


def error_for_status(request: Any, status: int, message: str) -> HttpResponse:
    """Errors raised before an Open311 view runs (unknown URL, bad Host, crash), as the spec's
    error document in the format the URL's suffix asks for."""
    fmt = JSON if request.path.endswith(".json") else XML
    return errors_document(fmt, status, [ErrorItem(code=status, description=message)])
