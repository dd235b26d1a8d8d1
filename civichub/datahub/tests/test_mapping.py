"""The mapping files shipped with the module, and a mapping that is wrong."""

from __future__ import annotations

import pytest

from civichub.datahub.mapping import (
    MappingError,
    RowProblem,
    mapping_files,
    mapping_from_dict,
    mapping_load,
    row_clean,
)
from civichub.datahub.services.imports import SOURCES_DIR


def test_every_shipped_mapping_loads() -> None:
    keys = {mapping_load(path).key for path in mapping_files(SOURCES_DIR)}
    assert keys == {"public_security", "health", "civil_affairs", "education", "tourism"}


def test_health_marks_its_sensitive_attributes() -> None:
    health = mapping_load(SOURCES_DIR / "health.toml")
    assert health.sensitive_names() == {
        "chronic_condition",
        "blood_group",
        "rh_factor",
        "last_vaccination",
    }


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"format": "fax"}, "format"),
        ({"person": {"phone": "p"}}, "name"),
        ({"attributes": {"x": {"column": "x", "type": "colour"}}}, "type"),
        ({"attributes": {"x": {}}}, "column"),
        ({"format": "rest"}, "url"),
    ],
)
def test_a_wrong_mapping_says_which_key(change: dict[str, object], words: str) -> None:
    base: dict[str, object] = {
        "key": "k",
        "name": "n",
        "department": "health",
        "format": "csv",
        "record_id": "id",
        "person": {"name": "xm"},
    }
    with pytest.raises(MappingError, match=words):
        mapping_from_dict({**base, **change})


def test_a_row_is_cleaned_into_canonical_values() -> None:
    mapping = mapping_load(SOURCES_DIR / "civil_affairs.toml")
    clean = row_clean(
        mapping,
        {
            "record_id": 7,
            "name": " 李 娜 ",
            "birth_date": "1992年03月15日",
            "gender": "female",
            "dibao": "是",
            "disability_grade": "2",
            "elderly_subsidy": "200.50",
        },
    )
    assert not isinstance(clean, RowProblem)
    assert clean.record_id == "7"
    assert clean.person == {"name": "李 娜", "birth_date": "1992-03-15", "gender": "F"}
    assert clean.values == {
        "minimum_living_allowance": "true",
        "disability_grade": "2",
        "elderly_subsidy": "200.50",
    }
    bad = row_clean(mapping, {"record_id": 8, "name": "x", "disability_grade": "二级"})
    assert bad == RowProblem("integer_invalid", "disability_grade")
