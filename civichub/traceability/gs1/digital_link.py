"""GS1 Digital Link URIs (DL URI Syntax 1.2): `https://<domain>/01/{GTIN}/10/{lot}/21/{serial}`.

Parsing goes through biip, with the two checks biip leaves out: a wrong GTIN check digit (biip
keeps the element and drops its `.gtin`) and qualifiers out of the standard's order (biip
silently loses the lot). Only the uncompressed form is written; a compressed URI (GS1 Digital
Link compression, `gs1/dl_compression.py`) is read as the uncompressed one it stands for."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from biip import ParseError
from biip.gs1_digital_link_uris import GS1DigitalLinkURI

from civichub.traceability.gs1.dl_compression import digital_link_decompress, is_compressed
from civichub.traceability.gs1.identifiers import IdentifierError, gtin_verified, lot_verified

_GTIN_QUALIFIERS = ("22", "10", "21", "235")
_SEGMENT = re.compile(r"/(01|22|10|21|235)/([^/]+)")


@dataclass(frozen=True)
class DigitalLink:
    gtin: str  # GTIN-14, check digit verified
    lot: str = ""
    serial: str = ""
    attributes: tuple[tuple[str, str], ...] = ()  # data attributes of the query string, e.g. 17

    def path(self) -> str:
        parts = [f"/01/{self.gtin}"]
        if self.lot:
            parts.append(f"/10/{quote(self.lot, safe='')}")
        if self.serial:
            parts.append(f"/21/{quote(self.serial, safe='')}")
        return "".join(parts)

    def uri(self, base: str = "https://id.gs1.org") -> str:
        query = "&".join(f"{ai}={quote(value, safe='')}" for ai, value in self.attributes)
        return base.rstrip("/") + self.path() + (f"?{query}" if query else "")


def digital_link_compose(*, gtin: str, lot: str = "", serial: str = "", base: str) -> str:
    """The uncompressed Digital Link of a GTIN (+ lot, + serial) under `base`."""
    return DigitalLink(
        gtin=gtin_verified(gtin),
        lot=lot_verified(lot) if lot else "",
        serial=lot_verified(serial, "serial") if serial else "",
    ).uri(base)


def digital_link_parse(uri: str) -> DigitalLink:
    """A Digital Link URI with a GTIN primary key, or IdentifierError saying what is wrong."""
    parts = urlsplit(uri.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise IdentifierError(f"{uri!r}: a Digital Link is an http(s) URI")
    if is_compressed(uri):
        return digital_link_parse(digital_link_decompress(uri))
    start = parts.path.find("/01/")
    if start < 0:
        raise IdentifierError(f"{uri!r}: no GTIN (/01/) in the path")
    if re.search(r"/(22|10|21|235)/[^/]+$", parts.path[:start]):
        raise IdentifierError(f"{uri!r}: a key qualifier before the GTIN (/01/) is out of order")
    segments = _SEGMENT.findall(parts.path[start:])
    consumed = "".join(f"/{ai}/{value}" for ai, value in segments)
    if consumed.rstrip("/") != parts.path[start:].rstrip("/"):
        raise IdentifierError(f"{uri!r}: unknown or misplaced path segments after the GTIN")
    order = [ai for ai, _value in segments[1:]]
    if sorted(order, key=_GTIN_QUALIFIERS.index) != order or len(set(order)) != len(order):
        raise IdentifierError(
            f"{uri!r}: key qualifiers must come in the order 22, 10, 21, 235 (DL URI Syntax)"
        )
    gtin = gtin_verified(segments[0][1])
    try:
        parsed = GS1DigitalLinkURI.parse(uri.strip())
    except ParseError as exc:
        raise IdentifierError(f"{uri!r}: {exc}") from exc
    values = {e.ai.ai: e.value for e in parsed.element_strings}
    attributes = tuple(
        (e.ai.ai, e.value)
        for e in parsed.element_strings
        if e.ai.ai not in ("01", *_GTIN_QUALIFIERS)
    )
    return DigitalLink(
        gtin=gtin,
        lot=unquote(values.get("10", "")),
        serial=unquote(values.get("21", "")),
        attributes=attributes,
    )
