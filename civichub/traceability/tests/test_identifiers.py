"""GS1 keys, EPC URNs, receipt trace codes and Digital Link URIs: check digits verified (biip),
the examples of the DL URI Syntax and the bwipp wiki, and the two gaps biip leaves."""

from __future__ import annotations

import pytest

from civichub.traceability.gs1.digital_link import digital_link_compose, digital_link_parse
from civichub.traceability.gs1.identifiers import (
    IdentifierError,
    TraceCode,
    epc_canonical,
    gln_verified,
    gtin_verified,
    lot_class,
    trace_code_verified,
)


def test_gtin_check_digit_is_verified_and_padded_to_14_digits() -> None:
    assert gtin_verified("9521234543213") == "09521234543213"
    with pytest.raises(IdentifierError, match="Expected 8, got 9"):
        gtin_verified("09520123456789")


def test_gln_check_digit_is_verified() -> None:
    assert gln_verified("0614141000005") == "0614141000005"
    with pytest.raises(IdentifierError):
        gln_verified("0614141000006")


@pytest.mark.parametrize(
    ("written", "canonical", "is_class"),
    [
        # The indicator digit moves to the front: SGTIN 0614141.107346 is GTIN 10614141073464.
        (
            "urn:epc:id:sgtin:0614141.107346.2017",
            "https://id.gs1.org/01/10614141073464/21/2017",
            False,
        ),
        (
            "https://example.org/01/10614141073464/21/2017",
            "https://id.gs1.org/01/10614141073464/21/2017",
            False,
        ),
        (
            "urn:epc:class:lgtin:4012345.012345.998877",
            "https://id.gs1.org/01/04012345123456/10/998877",
            True,
        ),
        ("urn:epc:idpat:sgtin:4012345.098765.*", "https://id.gs1.org/01/04012345987652", True),
        ("urn:epc:id:sscc:0614141.1234567890", "https://id.gs1.org/00/106141412345678908", False),
        ("urn:epc:id:sgln:0614141.07346.0", "https://id.gs1.org/414/0614141073467", False),
        ("urn:civichub:location:market-7", "urn:civichub:location:market-7", False),
    ],
)
def test_one_thing_written_two_ways_is_one_node(
    written: str, canonical: str, is_class: bool
) -> None:
    assert epc_canonical(written) == (canonical, is_class)


def test_a_digital_link_with_a_wrong_check_digit_is_refused() -> None:
    with pytest.raises(IdentifierError, match="check digit"):
        epc_canonical("https://id.gs1.org/01/09520123456789/10/A")


def test_trace_code_carries_a_check_digit_and_twenty_digits() -> None:
    code = TraceCode("610100", "261206", 12).code
    assert len(code) == 20 and trace_code_verified(code) == code
    assert trace_code_verified(f"{code[:10]} {code[10:]}") == code  # spaces as printed
    wrong = code[:-1] + str((int(code[-1]) + 1) % 10)
    with pytest.raises(IdentifierError, match="check digit"):
        trace_code_verified(wrong)
    with pytest.raises(IdentifierError, match="20 digits"):
        trace_code_verified("12345")


def test_digital_link_examples_parse() -> None:
    # bwipp wiki, "GS1 Digital Link URIs"
    link = digital_link_parse("https://id.gs1.org/01/09521234543213/10/ABC123/21/12345")
    assert (link.gtin, link.lot, link.serial) == ("09521234543213", "ABC123", "12345")
    dated = digital_link_parse("https://id.gs1.org/01/09521234543213/10/ABC123?17=261231")
    assert dated.attributes == (("17", "261231"),)
    # a GTIN-13 in the path is padded to 14 digits; a reserved character in the lot is encoded
    assert digital_link_parse("https://x.example/01/9521234543213/10/A%2FB").lot == "A/B"


def test_digital_link_compose_round_trips() -> None:
    uri = digital_link_compose(gtin="9521234543213", lot="A/B-1", base="https://trace.example")
    assert uri == "https://trace.example/01/09521234543213/10/A%2FB-1"
    assert digital_link_parse(uri).lot == "A/B-1"
    assert lot_class("9521234543213", "A/B-1").endswith("/01/09521234543213/10/A%2FB-1")
    with pytest.raises(IdentifierError, match="set 82"):
        digital_link_compose(gtin="9521234543213", lot="批次 1", base="https://trace.example")


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("https://id.gs1.org/01/09520123456789/10/A", "check digit"),
        # biip would silently drop the lot of these two
        ("https://id.gs1.org/10/ABC/01/09521234543213", "out of order"),
        ("https://id.gs1.org/01/09521234543213/21/1/10/A", "order 22, 10, 21, 235"),
        ("https://id.gs1.org/01/09521234543213/99/A", "unknown or misplaced"),
        ("ftp://id.gs1.org/01/09521234543213", "http"),
        ("https://id.gs1.org/AQnYUc1gm", "ends in mid-element"),  # a compressed link cut short
    ],
)
def test_bad_digital_links_are_refused_with_the_reason(uri: str, message: str) -> None:
    with pytest.raises(IdentifierError, match=message):
        digital_link_parse(uri)
