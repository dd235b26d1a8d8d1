"""Compressed GS1 Digital Links: the published examples of GS1's compression toolkits (the
reference prototype's README and the conformance examples of its .NET port), both ways, round
trips of the AIs food traceability uses, and parsing and resolving a compressed link."""

from __future__ import annotations

import pytest

from civichub.traceability.gs1.digital_link import digital_link_parse
from civichub.traceability.gs1.dl_compression import (
    SAFE_BASE64,
    compress_elements,
    decompress_elements,
    digital_link_compress,
    digital_link_decompress,
    is_compressed,
)
from civichub.traceability.gs1.identifiers import IdentifierError

PUBLISHED = [
    ("https://id.gs1.org/00/998440410914660971", "https://id.gs1.org/AN2yxDhfaiaw"),
    ("https://id.gs1.org/01/05412345000013", "https://id.gs1.org/AQnYUc1gmg"),
    ("https://id.gs1.org/01/05412345000013/10/ABC123", "https://id.gs1.org/AQnYUc1gmiCNV4JG"),
    (
        "https://id.gs1.org/01/05412345000013/10/ABC123/21/72292641703",
        "https://id.gs1.org/AQnYUc1gmiCNV4JGQhcNT6K6c",
    ),
    (
        "https://id.gs1.org/01/05412345000013/22/AJY3095721P49/10/ABC123/21/72292641703",
        "https://id.gs1.org/AQnYUc1gmiCNV4JGQhcNT6K6cibQCWN9Pee9tT-PQ",
    ),
    (
        "https://id.gs1.org/01/05412345000013/22/AJY3095721P49/10/ABC123",
        "https://id.gs1.org/AQnYUc1gmiCNV4JGRNoBLG-nvPe2p_Ho",
    ),
    (
        "https://id.gs1.org/01/05412345000013/21/72292641703",
        "https://id.gs1.org/AQnYUc1gmkIXDU-iun",
    ),
    (
        "https://id.gs1.org/01/05412345000013/22/AJY3095721P49/21/72292641703",
        "https://id.gs1.org/AQnYUc1gmkIXDU-iunIm0AljfT3nvbU_j0",
    ),
    ("https://id.gs1.org/414/5060917510004", "https://id.gs1.org/QUSaVjC_dA"),
    (
        "https://id.gs1.org/414/5060917510004/254/RP56J920471",
        "https://id.gs1.org/JUa0T-eifdtOO9UFEmlYwv3Q",
    ),
    ("https://id.gs1.org/417/5060917510004", "https://id.gs1.org/QXSaVjC_dA"),
    ("https://id.gs1.org/01/09780345418913", "https://id.gs1.org/ARHKVAdpQg"),
    (
        "https://id.gs1.org/01/09421902960055/10/2010005828/21/xyz1234",
        "https://id.gs1.org/AREjalurbiAUO-cgohCz45Z67b8A",
    ),
]


@pytest.mark.parametrize(("uncompressed", "compressed"), PUBLISHED)
def test_published_examples_compress_and_decompress(uncompressed: str, compressed: str) -> None:
    assert digital_link_compress(uncompressed) == compressed
    assert digital_link_decompress(compressed) == uncompressed
    assert is_compressed(compressed) and not is_compressed(uncompressed)


@pytest.mark.parametrize(
    "elements",
    [
        [("01", "06901234000016"), ("10", "K1-2"), ("17", "261231")],
        [("01", "06901234000016"), ("10", "lot 7/A&B")],  # 7-bit ASCII
        [("01", "06901234000016"), ("10", "0042")],  # digits with leading zeros
        [("01", "06901234000016"), ("10", "abc123"), ("21", "P7.a_b")],
        [("414", "6901234000016"), ("254", "stall-12")],
        [("00", "069012340000000017")],
    ],
)
def test_elements_round_trip(elements: list[tuple[str, str]]) -> None:
    assert decompress_elements(compress_elements(elements))[0] == sorted(elements)


def test_optimised_sequences_are_read() -> None:
    # 0B = 01 then 10: the same bits as "01" + GTIN + "10" + lot without the second AI.
    plain = compress_elements([("01", "05412345000013"), ("10", "ABC123")])
    bits = "".join(f"{SAFE_BASE64.index(c):06b}" for c in plain)
    optimised = "00001011" + bits[8 : 8 + 47] + bits[8 + 47 + 8 :]
    optimised += "0" * (-len(optimised) % 6)
    segment = "".join(
        SAFE_BASE64[int(optimised[i : i + 6], 2)] for i in range(0, len(optimised), 6)
    )
    assert decompress_elements(segment)[0] == [("01", "05412345000013"), ("10", "ABC123")]


def test_a_compressed_link_parses_as_its_uncompressed_form() -> None:
    compressed = digital_link_compress("https://trace.example/01/06901234000016/10/K1-2?17=261231")
    assert compressed.startswith("https://trace.example/AQ") and "?" not in compressed
    link = digital_link_parse(compressed)
    assert (link.gtin, link.lot, link.attributes) == ("06901234000016", "K1-2", (("17", "261231"),))


def test_a_compressed_link_with_a_wrong_check_digit_is_refused() -> None:
    compressed = digital_link_compress("https://id.gs1.org/01/06901234000019/10/K1")
    with pytest.raises(IdentifierError, match="check digit"):
        digital_link_parse(compressed)


@pytest.mark.parametrize("segment", ["AQnYUc1gm", "_____________", "AQnYUc1gmiCNV4J$"])
def test_broken_compressed_segments_are_refused(segment: str) -> None:
    with pytest.raises(IdentifierError):
        decompress_elements(segment)
