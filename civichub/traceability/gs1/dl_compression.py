"""Compressed GS1 Digital Link URIs (GS1 Digital Link: Compression), for the application
identifiers food traceability uses.

A compressed link holds its element strings as one path segment in URI-safe base64
(`A-Z a-z 0-9 - _`, six bits a character, zero bits padding the last one). Each element is its
AI, one hexadecimal nibble a digit, then its value: a fixed-length numeric value as a binary
number of ceil(n·log2 10) bits; a variable-length value as a 3-bit encoding (0 numeric, 1 lower-
and 2 upper-case hexadecimal, 3 URI-safe base64, 4 seven-bit ASCII), its length in
ceil(log2 max) bits, then its characters (a numeric one as a binary number). Codes whose first
two nibbles are not both digits are the standard's optimised sequences (`0B` = 01 then 10, …);
a first nibble `F` starts a non-GS1 key=value pair. Compression writes the elements in
ascending AI order without optimised sequences (what GS1's reference toolkits write by
default); decompression reads all three forms.
"""

from __future__ import annotations

import math
import re
from urllib.parse import quote, unquote, urlsplit

from civichub.traceability.gs1.identifiers import IdentifierError

SAFE_BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_HEX = "0123456789ABCDEF"

# AI → (numeric fixed length, 0) or (0, maximum length of an alphanumeric value).
_FORMATS: dict[str, tuple[int, int]] = {
    "00": (18, 0),  # SSCC
    "01": (14, 0),  # GTIN
    "10": (0, 20),  # batch or lot
    "11": (6, 0),  # production date
    "13": (6, 0),  # packaging date
    "15": (6, 0),  # best before
    "16": (6, 0),  # sell by
    "17": (6, 0),  # expiry
    "21": (0, 20),  # serial
    "22": (0, 20),  # consumer product variant
    "254": (0, 20),  # GLN extension
    "414": (13, 0),  # GLN of a physical location
    "417": (13, 0),  # party GLN
}
# How many digits an AI has, by its first two (GS1 General Specifications' table).
_AI_DIGITS = {"00": 2, "01": 2, "10": 2, "11": 2, "13": 2, "15": 2, "16": 2, "17": 2}
_AI_DIGITS |= {"21": 2, "22": 2, "23": 3, "24": 3, "25": 3, "41": 3}
_OPTIMISED = {
    "0A": ("01", "22"),
    "0B": ("01", "10"),
    "0C": ("01", "21"),
    "0D": ("01", "17"),
    "1A": ("01", "10", "21", "17"),
    "9D": ("414", "254"),
}
PRIMARY_KEYS = ("01", "00", "414", "417")
_QUALIFIERS = {"01": ("22", "10", "21"), "414": ("254",)}
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


def _value_bits(digits: int) -> int:
    return math.ceil(digits * math.log(10) / math.log(2) + 0.01)


def _length_bits(maximum: int) -> int:
    return math.ceil(math.log(maximum) / math.log(2) + 0.01)


class _Reader:
    def __init__(self, bits: str) -> None:
        self.bits, self.cursor = bits, 0

    def take(self, count: int) -> str:
        if self.cursor + count > len(self.bits):
            raise IdentifierError("compressed Digital Link: the data ends in mid-element")
        part = self.bits[self.cursor : self.cursor + count]
        self.cursor += count
        return part

    def number(self, count: int) -> int:
        return int(self.take(count), 2) if count else 0

    def characters(self, encoding: int, count: int) -> str:
        if encoding == 0:
            return str(self.number(_value_bits(count))).zfill(count) if count else ""
        if encoding in (1, 2):
            text = "".join(_HEX[self.number(4)] for _ in range(count))
            return text.lower() if encoding == 1 else text
        if encoding == 3:
            return "".join(SAFE_BASE64[self.number(6)] for _ in range(count))
        if encoding == 4:
            return "".join(chr(self.number(7)) for _ in range(count))
        raise IdentifierError(f"compressed Digital Link: unknown value encoding {encoding}")


def _read_value(reader: _Reader, ai: str) -> str:
    if ai not in _FORMATS:
        raise IdentifierError(f"compressed Digital Link: AI ({ai}) is not supported")
    fixed, maximum = _FORMATS[ai]
    if fixed:
        return str(reader.number(_value_bits(fixed))).zfill(fixed)
    encoding = reader.number(3)
    return reader.characters(encoding, reader.number(_length_bits(maximum)))


def decompress_elements(segment: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The (AI, value) pairs and the non-GS1 (key, value) pairs of a compressed segment."""
    if not _SEGMENT.fullmatch(segment):
        raise IdentifierError(f"{segment!r}: not a compressed Digital Link segment")
    reader = _Reader("".join(f"{SAFE_BASE64.index(c):06b}" for c in segment))
    elements: list[tuple[str, str]] = []
    others: list[tuple[str, str]] = []
    while len(reader.bits) - reader.cursor > 8:
        first, second = _HEX[reader.number(4)], _HEX[reader.number(4)]
        pair = first + second
        if pair.isdigit():
            digits = _AI_DIGITS.get(pair)
            if digits is None:
                raise IdentifierError(f"compressed Digital Link: AI {pair}… is not supported")
            ai = pair + "".join(_HEX[reader.number(4)] for _ in range(digits - 2))
            if not ai.isdigit():
                raise IdentifierError(f"compressed Digital Link: AI {ai} is not all digits")
            elements.append((ai, _read_value(reader, ai)))
        elif pair in _OPTIMISED:
            for ai in _OPTIMISED[pair]:
                elements.append((ai, _read_value(reader, ai)))
        elif first == "F":
            # A non-GS1 pair: the key's length in the second nibble and three more bits.
            reader.cursor -= 4
            key_length = reader.number(7)
            key = "".join(SAFE_BASE64[reader.number(6)] for _ in range(key_length))
            encoding = reader.number(3)
            others.append((key, reader.characters(encoding, reader.number(7))))
        else:
            raise IdentifierError(f"compressed Digital Link: unknown code {pair}")
    if not elements:
        raise IdentifierError(f"{segment!r}: no GS1 element in the compressed Digital Link")
    return elements, others


def _encoding(value: str) -> int:
    if value.isdigit() and value.isascii():
        return 0
    if re.fullmatch(r"[0-9A-F]+", value):
        return 2
    if re.fullmatch(r"[0-9a-f]+", value):
        return 1
    if _SEGMENT.fullmatch(value):
        return 3
    if all(ord(c) < 128 for c in value):
        return 4
    raise IdentifierError(f"{value!r}: only ASCII values can be compressed")


def _element_bits(ai: str, value: str) -> str:
    if ai not in _FORMATS:
        raise IdentifierError(f"AI ({ai}) cannot be compressed here")
    bits = "".join(f"{int(d):04b}" for d in ai)
    fixed, maximum = _FORMATS[ai]
    if fixed:
        if not value.isdigit() or len(value) != fixed:
            raise IdentifierError(f"AI ({ai}): {fixed} digits expected, got {value!r}")
        return bits + format(int(value), f"0{_value_bits(fixed)}b")
    if not 0 < len(value) <= maximum:
        raise IdentifierError(f"AI ({ai}): 1 to {maximum} characters expected")
    encoding = _encoding(value)
    bits += format(encoding, "03b") + format(len(value), f"0{_length_bits(maximum)}b")
    if encoding == 0:
        return bits + format(int(value), f"0{_value_bits(len(value))}b")
    if encoding in (1, 2):
        return bits + "".join(format(_HEX.index(c.upper()), "04b") for c in value)
    if encoding == 3:
        return bits + "".join(format(SAFE_BASE64.index(c), "06b") for c in value)
    return bits + "".join(format(ord(c), "07b") for c in value)


def compress_elements(elements: list[tuple[str, str]]) -> str:
    """The compressed segment of (AI, value) pairs, in ascending AI order."""
    bits = "".join(_element_bits(ai, value) for ai, value in sorted(elements))
    bits += "0" * (-len(bits) % 6)
    return "".join(SAFE_BASE64[int(bits[i : i + 6], 2)] for i in range(0, len(bits), 6))


def is_compressed(uri: str) -> bool:
    """Whether the URI's path ends in a compressed segment instead of a primary key's path."""
    path = urlsplit(uri.strip()).path
    if re.search(r"/(01|00|414|417)/[^/]+", path):
        return False
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return bool(_SEGMENT.fullmatch(last)) and len(last) >= 8


def digital_link_decompress(uri: str) -> str:
    """The uncompressed Digital Link of a compressed one: the primary key and its qualifiers as
    path segments in the standard's order, the other AIs and non-GS1 pairs as the query."""
    parts = urlsplit(uri.strip())
    prefix, _slash, segment = parts.path.rstrip("/").rpartition("/")
    elements, others = decompress_elements(segment)
    values = dict(elements)
    primary = next((ai for ai in PRIMARY_KEYS if ai in values), None)
    if primary is None:
        raise IdentifierError(f"{uri!r}: the compressed Digital Link has no primary key")
    path = f"/{primary}/{values.pop(primary)}"
    for ai in _QUALIFIERS.get(primary, ()):
        if ai in values:
            path += f"/{ai}/{quote(values.pop(ai), safe='')}"
    query = [f"{ai}={quote(v, safe='')}" for ai, v in values.items()]
    query += [f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in others]
    if parts.query:
        query.append(parts.query)
    base = f"{parts.scheme}://{parts.netloc}{prefix}"
    return base + path + (f"?{'&'.join(query)}" if query else "")


def digital_link_compress(uri: str) -> str:
    """The compressed form of an uncompressed Digital Link (its GS1 path and query AIs; other
    query parameters are kept as they are)."""
    parts = urlsplit(uri.strip())
    match = re.search(r"/(01|00|414|417)/", parts.path)
    if match is None:
        raise IdentifierError(f"{uri!r}: no primary key in the path")
    prefix, rest = parts.path[: match.start()], parts.path[match.start() :].strip("/")
    pieces = rest.split("/")
    if len(pieces) % 2:
        raise IdentifierError(f"{uri!r}: an AI without a value in the path")
    elements = [(pieces[i], unquote(pieces[i + 1])) for i in range(0, len(pieces), 2)]
    kept = []
    for item in filter(None, parts.query.split("&")):
        key, _eq, value = item.partition("=")
        if key in _FORMATS:
            elements.append((key, unquote(value)))
        else:
            kept.append(item)
    base = f"{parts.scheme}://{parts.netloc}{prefix}/{compress_elements(elements)}"
    return base + (f"?{'&'.join(kept)}" if kept else "")
