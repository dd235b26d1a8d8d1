"""Compatibility, checked exhaustively: every patient group (unknown included) × RhD (unknown
included) × anti-D × recorded consent × donor ABO × donor RhD × component, against tables typed
out here again from the research notes, in another form than the module's."""

from __future__ import annotations

import inspect
import itertools

import pytest

from civichub.donors import compatibility as c

# The research notes' tables as printed: rows are patients, columns donors O A B AB; a number is
# the order of preference, "L" marks low-titre only, "x" and "-" are never, "?" is the unknown
# patient's row.
TABLES = {
    "red_cells": """
        O  1  x  x  x
        A  2  1  x  x
        B  2  x  1  x
        AB 3  2  2  1
        ?  1  x  x  x
    """,
    "plasma": """
        O  1  2  3  4
        A  x  1  3L 2
        B  x  3L 1  2
        AB x  2L 3L 1
        ?  x  2L x  1
    """,
    "platelets": """
        O  1  2  3  -
        A  2L 1  2L 3
        B  2L 2L 1  3
        AB 3L 2L 2L 1
        ?  3L 2L 2L 1
    """,
    # ABO-identical first; any other group next except group-O cryo to a non-O patient.
    "cryo": """
        O  1  2  2  2
        A  x  1  2  2
        B  x  2  1  2
        AB x  2  2  1
        ?  x  2  2  1
    """,
    # Type-specific once known; low-titre O whole blood while unknown.
    "whole_blood": """
        O  1  x  x  x
        A  x  1  x  x
        B  x  x  1  x
        AB x  x  x  1
        ?  1L x  x  x
    """,
}
DONOR_COLUMNS = ("O", "A", "B", "AB")


def _parse(text: str) -> dict[str, dict[str, tuple[int, bool] | None]]:
    table: dict[str, dict[str, tuple[int, bool] | None]] = {}
    for line in text.strip().splitlines():
        head, *cells = line.split()
        patient = c.UNKNOWN if head == "?" else head
        row: dict[str, tuple[int, bool] | None] = {}
        for donor, cell in zip(DONOR_COLUMNS, cells, strict=True):
            row[donor] = None if cell in ("x", "-") else (int(cell[0]), cell.endswith("L"))
        table[patient] = row
    return table


ABO_EXPECTED = {name: _parse(text) for name, text in TABLES.items()}

# The Chinese order of choice for RhD-negative patients' red cells, with consent recorded.
CHINESE_ORDER = {
    "O": ["O-", "O+"],
    "A": ["A-", "O-", "A+", "O+"],
    "B": ["B-", "O-", "B+", "O+"],
    "AB": ["AB-", "A-", "B-", "O-", "AB+", "A+", "B+", "O+"],
}


def _expected(
    component: str, abo: str, rhd: str, anti_d: bool, consent: bool, d_abo: str, d_rhd: str
) -> tuple[tuple[int, int], frozenset[str]] | None:
    """The verdict the notes give, written as plain rules."""
    cell = ABO_EXPECTED[component][abo][d_abo]
    if cell is None:
        return None
    abo_rank, low_titre = cell
    conditions = {"low_titre"} if low_titre else set()
    negative = rhd in ("neg", "unknown")
    rhd_rank = 0
    if component in ("plasma", "cryo"):
        pass  # RhD is not an issue for plasma and cryo (MMC).
    elif not negative:
        rhd_rank = 0 if d_rhd == "pos" else 1
    elif d_rhd == "pos":
        if anti_d:
            return None  # with anti-D, RhD-negative is mandatory
        if component == "platelets":
            rhd_rank = 1
            conditions.add("rh_immune_globulin")  # preferably negative; RhIG within 72 h
        elif consent:
            rhd_rank = 1
            conditions.add("rhd_emergency_exception")
        else:
            return None
    return (rhd_rank, abo_rank), frozenset(conditions)


CASES = list(
    itertools.product(
        [component.value for component in c.Component],
        ["O", "A", "B", "AB", c.UNKNOWN],
        ["pos", "neg", c.UNKNOWN],
        [False, True],
        [False, True],
        DONOR_COLUMNS,
        ["pos", "neg"],
    )
)


def test_every_case_matches_the_research_tables() -> None:
    assert len(CASES) == 5 * 5 * 3 * 2 * 2 * 4 * 2
    mismatches = []
    for case in CASES:
        component, abo, rhd, anti_d, consent, d_abo, d_rhd = case
        patient = c.Patient(abo=abo, rhd=rhd, anti_d=anti_d, rhd_exception_consent=consent)
        found = c.verdict(component, patient, d_abo, d_rhd)
        expected = _expected(*case)
        got = (found.rank, found.conditions) if found.allowed else None
        if got != expected:
            mismatches.append((case, got, expected))
    assert mismatches == []


@pytest.mark.parametrize("abo", ["O", "A", "B", "AB"])
def test_rhd_negative_red_cells_follow_the_chinese_order_with_consent(abo: str) -> None:
    patient = c.Patient(abo=abo, rhd="neg", rhd_exception_consent=True)
    groups = c.donor_groups("red_cells", patient)
    order = [f"{g.value}{'+' if r == c.RhD.POS else '-'}" for g, r, _v in groups]
    assert order == CHINESE_ORDER[abo]


@pytest.mark.parametrize("abo", ["O", "A", "B", "AB", c.UNKNOWN])
@pytest.mark.parametrize("component", ["red_cells", "whole_blood"])
def test_rhd_negative_patient_without_consent_never_gets_rhd_positive(
    abo: str, component: str
) -> None:
    patient = c.Patient(abo=abo, rhd="neg")
    groups = c.donor_groups(component, patient)
    assert groups, "an RhD-negative donor of some group is always possible"
    assert all(rhd == c.RhD.NEG for _g, rhd, _v in groups)


@pytest.mark.parametrize("component", [component.value for component in c.Component])
@pytest.mark.parametrize("rhd", ["neg", c.UNKNOWN])
def test_anti_d_refuses_rhd_positive_whatever_the_consent(component: str, rhd: str) -> None:
    patient = c.Patient(abo="AB", rhd=rhd, anti_d=True, rhd_exception_consent=True)
    positives = [g for g, r, _v in c.donor_groups(component, patient) if r == c.RhD.POS]
    if component in ("plasma", "cryo"):
        assert positives  # RhD plays no part in plasma and cryo
    else:
        assert positives == []


def test_rhd_positive_patient_gets_rhd_negative_donors_last() -> None:
    patient = c.Patient(abo="A", rhd="pos")
    order = [(g.value, r.value) for g, r, _v in c.donor_groups("red_cells", patient)]
    assert order == [("A", "pos"), ("O", "pos"), ("A", "neg"), ("O", "neg")]


def test_no_parameter_can_loosen_a_rule() -> None:
    """The verdict takes the component, the patient and the donor's group: nothing else, so
    no caller (a form, an API field, a staff member) can override a never."""
    assert list(inspect.signature(c.verdict).parameters) == [
        "component",
        "patient",
        "donor_abo",
        "donor_rhd",
    ]
    assert set(inspect.signature(c.Patient).parameters) == {
        "abo",
        "rhd",
        "anti_d",
        "rhd_exception_consent",
    }


@pytest.mark.parametrize(
    ("abo", "rhd"), [("C", "pos"), ("o", "pos"), ("A", "+"), ("", "neg"), ("AB", "weak")]
)
def test_impossible_patient_groups_are_refused(abo: str, rhd: str) -> None:
    with pytest.raises(ValueError, match="impossible"):
        c.Patient(abo=abo, rhd=rhd)


@pytest.mark.parametrize(("abo", "rhd"), [("unknown", "pos"), ("A", "unknown"), ("Q", "neg")])
def test_donor_groups_must_be_known(abo: str, rhd: str) -> None:
    with pytest.raises(ValueError, match="is not a valid"):
        c.verdict("red_cells", c.Patient(abo="AB", rhd="pos"), abo, rhd)
