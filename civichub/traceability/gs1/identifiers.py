"""GS1 keys (GTIN, GLN, SSCC), their EPC URNs, and the trace codes printed on receipts.

Check digits are verified with biip (a maintained GS1 library). Every identifier an event names
is brought to one canonical form so that the same thing written as an EPC URN, as a Digital
Link on id.gs1.org or on another domain, is one node of the trace graph: a GS1 key becomes its
Digital Link on id.gs1.org (the form EPCIS 2.0 prefers); anything else stays as written."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, unquote

from biip import ParseError
from biip.checksums import gs1_standard_check_digit
from biip.gln import Gln
from biip.gtin import Gtin

CANONICAL_DOMAIN = "https://id.gs1.org"


class IdentifierError(ValueError):
    """An identifier that is malformed or whose check digit is wrong; the message says which."""


def gtin_verified(value: str) -> str:
    """The GTIN as 14 digits, or IdentifierError when malformed or its check digit is wrong."""
    digits = value.strip()
    if not digits.isdigit() or len(digits) not in (8, 12, 13, 14):
        raise IdentifierError(f"GTIN {value!r}: 8, 12, 13 or 14 digits expected")
    try:
        gtin = Gtin.parse(digits)
    except ParseError as exc:
        raise IdentifierError(f"GTIN {value!r}: {exc}") from exc
    return gtin.as_gtin_14()


def gln_verified(value: str) -> str:
    digits = value.strip()
    if not digits.isdigit() or len(digits) != 13:
        raise IdentifierError(f"GLN {value!r}: 13 digits expected")
    try:
        return Gln.parse(digits).value
    except ParseError as exc:
        raise IdentifierError(f"GLN {value!r}: {exc}") from exc


@lru_cache(maxsize=20_000)
def _check_digit(payload: str) -> int:
    """GS1's mod-10 check digit (remembered: a capture names the same few keys again and again)."""
    return gs1_standard_check_digit(payload)


def _with_check_digit(payload: str) -> str:
    return payload + str(_check_digit(payload))


def _key_digits(kind: str, digits: str, length: int) -> str:
    if not digits.isdigit() or len(digits) != length:
        raise IdentifierError(f"{kind} {digits!r}: {length} digits expected")
    if _check_digit(digits[:-1]) != int(digits[-1]):
        expected = _check_digit(digits[:-1])
        raise IdentifierError(
            f"{kind} {digits}: check digit {digits[-1]} is wrong, expected {expected}"
        )
    return digits


# EPC URNs (EPC Tag Data Standard): company prefix and reference, the indicator digit first.
_URN = re.compile(
    r"^urn:epc:(?P<scheme>id|class|idpat):(?P<kind>sgtin|lgtin|sscc|sgln|pgln)"
    r":(?P<cp>\d+)\.(?P<ref>\d*)(?:\.(?P<rest>.+))?$"
)
# A GS1 Digital Link on any domain (with any path before the primary key).
_DL = re.compile(
    r"^https?://[^/?#]+(?:/[^?#]*?)?/(?P<ai>01|00|414|417|8003|8004)/(?P<key>[^/?#]+)"
    r"(?P<qualifiers>(?:/(?:22|10|21|235|254|7040)/[^/?#]+)*)/?(?:\?.*)?$"
)
_QUALIFIER = re.compile(r"/(22|10|21|235|254|7040)/([^/?#]+)")
# The order DL URI Syntax 1.2 fixes for GTIN's key qualifiers.
_GTIN_ORDER = ("22", "10", "21", "235")


def _gtin_from_urn(cp: str, ref: str) -> str:
    return _with_check_digit(ref[:1] + cp + ref[1:])


def _urn_canonical(match: re.Match[str]) -> tuple[str, bool]:
    kind, cp, ref, rest = match["kind"], match["cp"], match["ref"], match["rest"]
    scheme = match["scheme"]
    if kind in ("sgtin", "lgtin"):
        gtin = _gtin_from_urn(cp, ref)
        if scheme == "idpat" or rest in (None, "*"):
            return f"{CANONICAL_DOMAIN}/01/{gtin}", True
        ai = "10" if kind == "lgtin" else "21"
        return f"{CANONICAL_DOMAIN}/01/{gtin}/{ai}/{quote(unquote(rest), safe='')}", kind == "lgtin"
    if kind == "sscc":
        return f"{CANONICAL_DOMAIN}/00/{_with_check_digit(ref[:1] + cp + ref[1:])}", False
    gln = _with_check_digit(cp + ref)
    if kind == "sgln" and rest not in (None, "0"):
        return f"{CANONICAL_DOMAIN}/414/{gln}/254/{quote(unquote(rest or ''), safe='')}", False
    return f"{CANONICAL_DOMAIN}/{'417' if kind == 'pgln' else '414'}/{gln}", False


def epc_canonical(value: str, *, verify: bool = True) -> tuple[str, bool]:
    """(canonical form, whether it names a class rather than one instance). With `verify`, a
    GS1 key with a wrong check digit raises IdentifierError."""
    text = value.strip()
    match = _URN.match(text)
    if match:
        return _urn_canonical(match)
    match = _DL.match(text)
    if not match:
        return text, False
    ai, key = match["ai"], match["key"]
    if verify and ai in ("01", "00", "414", "417"):
        length = {"01": 14, "00": 18, "414": 13, "417": 13}[ai]
        _key_digits({"01": "GTIN", "00": "SSCC"}.get(ai, "GLN"), key.zfill(length), length)
    if ai == "01":
        key = key.zfill(14)
    qualifiers = dict(_QUALIFIER.findall(match["qualifiers"] or ""))
    order = _GTIN_ORDER if ai == "01" else tuple(qualifiers)
    path = "".join(f"/{q}/{qualifiers[q]}" for q in order if q in qualifiers)
    is_class = ai == "01" and "21" not in qualifiers
    return f"{CANONICAL_DOMAIN}/{ai}/{key}{path}", is_class


def location_canonical(value: str) -> str:
    """A location URI (bizLocation, readPoint) in canonical form; never raises."""
    try:
        return epc_canonical(value, verify=False)[0]
    except IdentifierError:
        return value.strip()


def sgln_location(gln: str, extension: str = "0") -> str:
    """The canonical location URI of a verified GLN (with an optional extension, AI 254)."""
    verified = gln_verified(gln)
    if extension in ("", "0"):
        return f"{CANONICAL_DOMAIN}/414/{verified}"
    return f"{CANONICAL_DOMAIN}/414/{verified}/254/{quote(extension, safe='')}"


# GS1 AI encodable character set 82, the one AI 10 (lot) and AI 21 (serial) allow.
_CSET82 = re.compile(r'^[!%-?A-Z_a-z"]{1,20}$')


def lot_verified(value: str, kind: str = "lot") -> str:
    """A lot or serial of 1 to 20 characters of GS1's set 82 (no spaces, no Chinese)."""
    if not _CSET82.match(value):
        raise IdentifierError(
            f"{kind} {value!r}: 1 to 20 characters of GS1 set 82 "
            "(letters, digits, !\"%&'()*+,-./:;<=>?_)"
        )
    return value


def lot_class(gtin: str, lot: str) -> str:
    """The canonical class of a lot: GTIN + AI 10."""
    return f"{CANONICAL_DOMAIN}/01/{gtin_verified(gtin)}/10/{quote(lot_verified(lot), safe='')}"


def serial_instance(gtin: str, serial: str) -> str:
    """An animal or carcass: GTIN + serial (AI 21), the SGTIN."""
    serial = lot_verified(serial, "serial")
    return f"{CANONICAL_DOMAIN}/01/{gtin_verified(gtin)}/21/{quote(serial, safe='')}"


# China's receipt trace codes: 20 digits. civichub's layout (SB/T 10680 leaves the layout of
# a deployment's codes to the city platform): the 6-digit GB/T 2260 area code, the
# YYMMDD the lot entered the chain, a 7-digit serial, and a GS1 mod-10 check digit so that a
# mistyped code is refused instead of naming another lot.
TRACE_CODE_LENGTH = 20


@dataclass(frozen=True)
class TraceCode:
    area: str
    day: str
    serial: int

    @property
    def code(self) -> str:
        return _with_check_digit(f"{self.area}{self.day}{self.serial:07d}")


def trace_code_verified(value: str) -> str:
    code = re.sub(r"[\s-]", "", value)
    if not code.isdigit() or len(code) != TRACE_CODE_LENGTH:
        raise IdentifierError(f"追溯码 {value!r}: {TRACE_CODE_LENGTH} digits expected")
    return _key_digits("追溯码", code, TRACE_CODE_LENGTH)
