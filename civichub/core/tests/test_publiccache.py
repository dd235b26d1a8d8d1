"""Shared public reads (`core.publiccache`): one reader builds a missing value while the others
keep serving the value built before, so a stream of changes does not send every reader to the
database at once; a transaction that changed a subject reads it for itself and shares nothing
it read before it commits (nor ever, if it rolls back)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from django.core.cache import cache
from django.db import connections, transaction

from civichub.core import publiccache
from civichub.core import services as core_services
from civichub.core.models import Organisation
from civichub.core.publiccache import cached, invalidate

T = TypeVar("T")


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


# A change inside a transaction -------------------------------------------------------------

NAMES = "organisation-names"


class Rollback(Exception):
    pass


def names() -> list[str]:
    cities = Organisation.objects.filter(code__startswith="PC-").order_by("pk")
    return list(cities.values_list("name", flat=True))


def names_cached() -> list[str]:
    return cached(NAMES, (), names, 60)


def city_create(name: str, code: str) -> None:
    """A change of the subject, and what its model signal would do."""
    core_services.organisation_create(actor=None, kind="city", name=name, code=code)
    invalidate(NAMES)


def elsewhere(read: Callable[[], T]) -> T:
    """What a reader on another connection gets (another thread here; another process alike,
    through a shared cache)."""
    result: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(read())
        except BaseException as exc:  # noqa: BLE001  (raised below)
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    if errors:
        raise errors[0]
    return result[0]


@pytest.mark.django_db(transaction=True)
def test_what_the_changing_transaction_reads_is_served_to_no_one_else_before_it_commits() -> None:
    city_create("青山市", "PC-1")
    assert names_cached() == ["青山市"]
    with transaction.atomic():
        city_create("东湖市", "PC-2")
        assert names_cached() == ["青山市", "东湖市"]  # its own change
        assert elsewhere(names_cached) == ["青山市"]  # nothing uncommitted
    assert elsewhere(names_cached) == names_cached() == ["青山市", "东湖市"]


@pytest.mark.django_db(transaction=True)
def test_after_a_rollback_the_committed_value_is_served() -> None:
    city_create("青山市", "PC-1")
    assert names_cached() == ["青山市"]
    with contextlib.suppress(Rollback), transaction.atomic():
        city_create("东湖市", "PC-2")
        assert names_cached() == ["青山市", "东湖市"]
        raise Rollback
    assert elsewhere(names_cached) == ["青山市"]
    assert names_cached() == ["青山市"]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_leaves_the_next_transactions_reading_the_cache(
    django_assert_num_queries: Any,
) -> None:
    city_create("青山市", "PC-1")
    assert names_cached() == ["青山市"]
    with contextlib.suppress(Rollback), transaction.atomic():
        city_create("东湖市", "PC-2")
        raise Rollback
    with django_assert_num_queries(0):
        assert names_cached() == ["青山市"]
    with transaction.atomic(), django_assert_num_queries(0):  # BEGIN is not counted
        assert names_cached() == ["青山市"]


@pytest.mark.django_db
def test_a_transaction_that_changed_another_subject_reads_the_cache(
    django_assert_num_queries: Any,
) -> None:
    assert names_cached() == []
    invalidate("another-subject")
    with django_assert_num_queries(0):
        assert names_cached() == []
