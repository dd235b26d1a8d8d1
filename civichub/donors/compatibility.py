"""Which donors may give to which patient, component by component, and in which order of
preference. Pure: no database, no settings, nothing a caller can pass to loosen a rule.

The tables are docs/donors.md's (sources in the module's research notes): Lifeblood's ABO
tables for red cells, plasma and platelets with their order of preference; RhD per the
Chinese clinical transfusion guidance (临床输血技术规范 Art. 10) for red cells and whole blood:
an RhD-negative patient gets RhD-negative units, and only in an emergency, with the patient's
or family's signed consent recorded, and never when the patient has anti-D, RhD-positive units
after every RhD-negative one. A patient whose RhD is unknown is treated as RhD-negative.

A donor's offer is `Verdict(allowed=False)` for every cell a table marks never; there is no
parameter, flag or setting that turns it into allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Component(StrEnum):
    RED_CELLS = "red_cells"
    PLASMA = "plasma"
    PLATELETS = "platelets"
    CRYO = "cryo"
    WHOLE_BLOOD = "whole_blood"


class ABO(StrEnum):
    O = "O"  # noqa: E741 (the blood group's name)
    A = "A"
    B = "B"
    AB = "AB"


class RhD(StrEnum):
    POS = "pos"
    NEG = "neg"


# A patient's group may be unknown in an emergency; a donor's never is (no call without it).
UNKNOWN = "unknown"

# Conditions a unit must meet, printed on the request board next to the donor.
LOW_TITRE = "low_titre"  # the donor's plasma has low-titre anti-A/anti-B
RH_IMMUNE_GLOBULIN = "rh_immune_globulin"  # the patient needs anti-D immunoglobulin within 72 h
RHD_EXCEPTION = "rhd_emergency_exception"  # RhD-positive for an RhD-negative patient (consent)

NEVER = None

# Rows: patient ABO (or unknown); columns: donor ABO; a number is the order of preference (1 is
# best), NEVER is never; a second element lists the unit's conditions.
_Cell = tuple[int, frozenset[str]] | None
_LT = frozenset({LOW_TITRE})
_NONE: frozenset[str] = frozenset()


def _row(**cells: int | tuple[int, frozenset[str]] | None) -> dict[str, _Cell]:
    out: dict[str, _Cell] = {}
    for group in ABO:
        cell = cells.get(group.value)
        if cell is None:
            out[group.value] = NEVER
        elif isinstance(cell, tuple):
            out[group.value] = cell
        else:
            out[group.value] = (cell, _NONE)
    return out


# Red cells (Lifeblood; MMC). Unknown group: group O only (Lifeblood, emergency issue).
RED_CELLS: dict[str, dict[str, _Cell]] = {
    "O": _row(O=1),
    "A": _row(O=2, A=1),
    "B": _row(O=2, B=1),
    "AB": _row(O=3, A=2, B=2, AB=1),
    UNKNOWN: _row(O=1),
}

# Plasma (Lifeblood, with its low-titre exceptions; the unknown row: AB, or low-titre A as the
# UK issues it). RhD plays no part.
PLASMA: dict[str, dict[str, _Cell]] = {
    "O": _row(O=1, A=2, B=3, AB=4),
    "A": _row(A=1, B=(3, _LT), AB=2),
    "B": _row(A=(3, _LT), B=1, AB=2),
    "AB": _row(A=(2, _LT), B=(3, _LT), AB=1),
    UNKNOWN: _row(A=(2, _LT), AB=1),
}

# Platelets (Lifeblood; "–" for AB to O is never). Unknown group: the AB row, whose plasma
# needs are the strictest (every other group's plasma carries anti-A or anti-B).
PLATELETS: dict[str, dict[str, _Cell]] = {
    "O": _row(O=1, A=2, B=3),
    "A": _row(O=(2, _LT), A=1, B=(2, _LT), AB=3),
    "B": _row(O=(2, _LT), A=(2, _LT), B=1, AB=3),
    "AB": _row(O=(3, _LT), A=(2, _LT), B=(2, _LT), AB=1),
    UNKNOWN: _row(O=(3, _LT), A=(2, _LT), B=(2, _LT), AB=1),
}

# Cryoprecipitate: ABO-identical first; other groups allowed (Canadian standards), except that
# group-O cryo goes to group-O patients only. Unknown group: AB first, A or B next, never O.
CRYO: dict[str, dict[str, _Cell]] = {
    "O": _row(O=1, A=2, B=2, AB=2),
    "A": _row(A=1, B=2, AB=2),
    "B": _row(A=2, B=1, AB=2),
    "AB": _row(A=2, B=2, AB=1),
    UNKNOWN: _row(A=2, B=2, AB=1),
}

# Whole blood: ABO-identical once the group is known (AABB before 2018, and after it once the
# group is confirmed); low-titre group O whole blood while it is unknown.
WHOLE_BLOOD: dict[str, dict[str, _Cell]] = {
    "O": _row(O=1),
    "A": _row(A=1),
    "B": _row(B=1),
    "AB": _row(AB=1),
    UNKNOWN: _row(O=(1, _LT)),
}

ABO_TABLES: dict[Component, dict[str, dict[str, _Cell]]] = {
    Component.RED_CELLS: RED_CELLS,
    Component.PLASMA: PLASMA,
    Component.PLATELETS: PLATELETS,
    Component.CRYO: CRYO,
    Component.WHOLE_BLOOD: WHOLE_BLOOD,
}

# Components whose RhD matters: red cells in the unit can immunise an RhD-negative patient.
_RHD_STRICT = frozenset({Component.RED_CELLS, Component.WHOLE_BLOOD})
_RHD_PREFERRED = frozenset({Component.PLATELETS})


@dataclass(frozen=True)
class Patient:
    """What the request says about the patient: ABO and RhD each known or `UNKNOWN`, whether
    anti-D has been found, and whether the RhD emergency exception's consent is recorded."""

    abo: str
    rhd: str
    anti_d: bool = False
    rhd_exception_consent: bool = False

    def __post_init__(self) -> None:
        if self.abo not in {*ABO, UNKNOWN}:
            raise ValueError(f"impossible ABO group {self.abo!r}")
        if self.rhd not in {*RhD, UNKNOWN}:
            raise ValueError(f"impossible RhD {self.rhd!r}")


@dataclass(frozen=True)
class Verdict:
    """May this donor's unit go to this patient: `allowed`, and if so its place in the order
    of preference (`rank`: lower is better, comparable within one request) and the
    conditions the unit must meet."""

    allowed: bool
    rank: tuple[int, int] = (0, 0)
    conditions: frozenset[str] = field(default_factory=frozenset)
    reason: str = ""


def _rhd_step(component: Component, patient: Patient, donor_rhd: RhD) -> tuple[int, str] | None:
    """0 for an RhD-identical (or RhD-irrelevant) unit, 1 for the other RhD where it is
    allowed but less preferred; None where it is never allowed. The condition it adds, if any."""
    if component not in _RHD_STRICT and component not in _RHD_PREFERRED:
        return 0, ""
    negative_patient = patient.rhd in (RhD.NEG, UNKNOWN)
    if not negative_patient:
        # An RhD-positive patient may have either; RhD-negative donors come after the
        # positive ones, kept for the patients who can have nothing else.
        return (0, "") if donor_rhd == RhD.POS else (1, "")
    if donor_rhd == RhD.NEG:
        return 0, ""
    if patient.anti_d:
        return None
    if component in _RHD_PREFERRED:
        return 1, RH_IMMUNE_GLOBULIN
    if patient.rhd_exception_consent:
        return 1, RHD_EXCEPTION
    return None


def verdict(
    component: Component | str, patient: Patient, donor_abo: str, donor_rhd: str
) -> Verdict:
    """Whether a donor of `donor_abo`/`donor_rhd` may give `component` to `patient`."""
    component = Component(component)
    abo, rhd = ABO(donor_abo), RhD(donor_rhd)
    cell = ABO_TABLES[component][patient.abo][abo.value]
    if cell is NEVER:
        return Verdict(False, reason="abo")
    step = _rhd_step(component, patient, rhd)
    if step is None:
        return Verdict(False, reason="anti_d" if patient.anti_d else "rhd")
    abo_rank, conditions = cell
    rhd_rank, condition = step
    if condition:
        conditions = conditions | {condition}
    return Verdict(True, (rhd_rank, abo_rank), conditions)


def donor_groups(component: Component | str, patient: Patient) -> list[tuple[ABO, RhD, Verdict]]:
    """Every donor group allowed for the patient, best first (RhD step, then ABO preference,
    then the table's column order): the order in which call-up waves reach them."""
    allowed = []
    for rhd in RhD:
        for abo in ABO:
            found = verdict(component, patient, abo, rhd)
            if found.allowed:
                allowed.append((abo, rhd, found))
    # The stable sort keeps O, A, B, AB and POS before NEG for equal ranks.
    return sorted(allowed, key=lambda item: item[2].rank)
