"""Shared public reads (`core.publiccache`): one reader builds a missing value while the others
keep serving the value built before, so a stream of changes does not send every reader to the
database at once; a reader inside a transaction always reads for itself."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache

from civichub.core import publiccache
from civichub.core.publiccache import cached, invalidate


def changed_elsewhere(subject: str) -> None:
    """What another process's committed change does to the subject."""
    publiccache._bump(subject)


@pytest.fixture(autouse=True)
def _public_cache(settings: Any) -> None:
    settings.PUBLIC_CACHE = True
    cache.clear()


def test_a_reader_arriving_while_another_builds_gets_the_value_built_before() -> None:
    builds: list[str] = []

    def build(value: str, *, meanwhile: Any = None) -> Any:
        def run() -> str:
            builds.append(value)
            # Another reader arrives while this one reads the database.
            return f"{value} (meanwhile: {meanwhile()})" if meanwhile else value

        return run

    assert cached("subject", (1,), build("first"), 60) == "first"
    changed_elsewhere("subject")
    other = build("second, by the other reader")
    value = cached(
        "subject", (1,), build("second", meanwhile=lambda: cached("subject", (1,), other, 60)), 60
    )
    assert value == "second (meanwhile: first)"
    assert builds == ["first", "second"]
    # Once built, every reader has the new value.
    assert cached("subject", (1,), build("third"), 60) == value


def test_a_reader_with_no_value_built_before_builds_it_itself() -> None:
    value = cached(
        "subject",
        (1,),
        lambda: "outer, inner: " + cached("subject", (1,), lambda: "inner", 60),
        60,
    )
    assert value == "outer, inner: inner"


def test_the_next_reader_after_a_change_reads_the_change() -> None:
    assert cached("subject", (1,), lambda: "before", 60) == "before"
    changed_elsewhere("subject")
    assert cached("subject", (1,), lambda: "after", 60) == "after"


@pytest.mark.django_db
def test_inside_a_transaction_a_reader_never_gets_the_value_built_before() -> None:
    # The test runs in a transaction: its reader may have made the change itself.
    assert cached("subject", (1,), lambda: "first", 60) == "first"
    invalidate("subject")
    value = cached(
        "subject",
        (1,),
        lambda: "second, inner: " + cached("subject", (1,), lambda: "its own", 60),
        60,
    )
    assert value == "second, inner: its own"
