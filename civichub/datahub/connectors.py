"""Connectors: a delivery's bytes (CSV, Excel, JSON) turned into numbered rows of column ->
value, and the pull of one page from a department's REST endpoint through core's guarded
outbound session (an address inside the platform's own network is refused). Row 1 is the first
data row, as departments count them in their spreadsheets below the header."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from openpyxl import load_workbook

from civichub.core.outbound import guarded_session, url_check

Row = tuple[int, dict[str, Any]]


class DeliveryUnreadable(ValueError):
    """The delivery as a whole cannot be read (not UTF-8, not JSON, not a workbook)."""


def _csv_rows(content: bytes) -> Iterator[Row]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DeliveryUnreadable("CSV must be UTF-8") from exc
    reader = csv.DictReader(io.StringIO(text))
    for number, row in enumerate(reader, start=1):
        yield number, {k: v for k, v in row.items() if k is not None}


def _xlsx_rows(content: bytes) -> Iterator[Row]:
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several types for a file that is no workbook
        raise DeliveryUnreadable("not an Excel workbook (.xlsx)") from exc
    try:
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
        number = 0
        for values in rows:
            if all(v is None for v in values):
                continue
            number += 1
            yield number, dict(zip(header, values, strict=False))
    finally:
        book.close()


def json_items(content: bytes | str) -> tuple[list[dict[str, Any]], str]:
    """The items of a JSON delivery (a list, or an object with `items`) and its `cursor`."""
    try:
        data = json.loads(content)
    except ValueError as exc:
        raise DeliveryUnreadable("not JSON") from exc
    cursor = ""
    if isinstance(data, dict):
        cursor = str(data.get("cursor") or "")
        data = data.get("items", [])
    if not isinstance(data, list):
        raise DeliveryUnreadable("JSON must be a list of records or an object with 'items'")
    return [item if isinstance(item, dict) else {} for item in data], cursor


def delivery_rows(fmt: str, content: bytes) -> Iterator[Row]:
    if fmt == "csv":
        return _csv_rows(content)
    if fmt == "xlsx":
        return _xlsx_rows(content)
    items, _cursor = json_items(content)
    return iter(enumerate(items, start=1))


@dataclass(frozen=True)
class PulledPage:
    body: bytes
    items: list[dict[str, Any]]
    next_cursor: str


def rest_page(url: str, *, cursor: str, timeout: float) -> PulledPage:
    """One page of a department's endpoint: GET url?cursor=<cursor>, answered with
    {"items": [...], "cursor": "<next>"}; an empty cursor or no items means caught up.
    `core.outbound.OutboundRefused` is raised for an address inside the network."""
    url_check(url, allow_http=True)
    response = guarded_session().get(url, params={"cursor": cursor}, timeout=timeout)
    response.raise_for_status()
    items, next_cursor = json_items(response.content)
    return PulledPage(body=response.content, items=items, next_cursor=next_cursor)
