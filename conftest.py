"""Shared test set-up: the audit guard around database flushes (and, on PostgreSQL, a flush that
empties only the tables holding rows: civichub.testing.flush), the tests CI's PostgreSQL run
leaves to the SQLite run, a small city built through the services, and users in every role."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.db.backends.base.operations import BaseDatabaseOperations
from django.utils import translation

from civichub.casework import reference
from civichub.core import dbguard, uncommitted
from civichub.testing import flush
from civichub.testing.city import SmallCity, build_city, staff_user
from civichub.testing.contract import ContractClient
from civichub.testing.pooled import ledger
from tests.browser.support import CHROMIUM, CHROMIUM_ARGS

if TYPE_CHECKING:
    from playwright.sync_api import Browser

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs a loop


def pytest_configure(config: pytest.Config) -> None:
    original = BaseDatabaseOperations.execute_sql_flush

    def execute_sql_flush(self: Any, sql_list: list[str]) -> None:
        # The append-only triggers would refuse the flush between transactional tests.
        with dbguard.lifted(self.connection):
            original(self, sql_list)

    BaseDatabaseOperations.execute_sql_flush = execute_sql_flush  # type: ignore[assignment,method-assign]
    flush.install()  # after a transactional test, only the tables holding rows are emptied
    ledger.install()


# The fixtures through which a test reaches the run's database.
DATABASE_FIXTURES = frozenset(
    {"db", "transactional_db", "django_db_setup", "live_server", "django_db_reset_sequences"}
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With CIVICHUB_TEST_ONCE_LEFT_OUT=1 (CI's run on PostgreSQL and Redis) two kinds of tests
    are left out, which the SQLite run has run:
    - the tests marked `once` that reach no database through a fixture: they test the same
      thing on any database (pure computation, static checks of the code, processes of their
      own on SQLite);
    - the tests marked `either_database`, which use the run's database but test what does not
      depend on it (pages in a real browser: layout, keyboard, axe; the queries behind those
      pages are tested without a browser in both runs);
    - the tests marked `sqlite`, which test SQLite's own machinery (the write queue)."""
    if os.environ.get("CIVICHUB_TEST_ONCE_LEFT_OUT") != "1":
        return
    kept: list[pytest.Item] = []
    left: list[pytest.Item] = []
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        once = item.get_closest_marker("once") is not None
        either = item.get_closest_marker("either_database") is not None
        either = either or item.get_closest_marker("sqlite") is not None
        database = item.get_closest_marker("django_db") is not None or bool(
            fixtures & DATABASE_FIXTURES
        )
        (left if (once and not database) or either else kept).append(item)
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept


def require_service(name: str, reason: str) -> None:
    """Skip on a laptop without the service; in CI (CI=true) nothing may skip."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is required in CI: {reason}")
    pytest.skip(f"{name} not available: {reason}")


@pytest.fixture(autouse=True)
def _no_pooled_connection_left_behind() -> Iterator[None]:
    """A thread of the test that took one of the pool's PostgreSQL connections and ended without
    closing it fails the test here, and its connection goes back to the pool: otherwise the slot
    stays lent and, a few such tests later, unrelated tests time out waiting for a connection."""
    yield
    if orphans := ledger.reclaim_orphans():
        pytest.fail(
            f"{len(orphans)} pooled database connection(s) kept by threads that ended "
            f"({', '.join(sorted(set(orphans)))}): a thread that queries must close its "
            "connection before it ends (django.db.connections.close_all())"
        )


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    """Each test starts in the default language: a request made in English through Django's test
    client leaves English active in the thread afterwards (LocaleMiddleware activates it and
    nothing deactivates it), which changed the messages later tests in the same run compared."""
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Counters in the cache (rate limits, budgets) belong to one test, or they would carry over
    from test to test. On Redis only the cache's own keys go: the task queue lives there too."""
    _cache_forget()
    reference.forget()  # casework's copies of categories, calendar and receiving area
    uncommitted.forget()  # what an earlier test's rolled-back transaction changed
    yield
    _cache_forget()
    reference.forget()
    uncommitted.forget()


def _cache_forget() -> None:
    if isinstance(caches["default"], LocMemCache):
        cache.clear()
    elif hasattr(cache, "delete_pattern"):  # django-redis: keys under the cache's prefix only
        cache.delete_pattern("*")


@pytest.fixture
def city(db: Any) -> SmallCity:
    return build_city()


@pytest.fixture
def make_user(db: Any) -> Callable[..., Any]:
    return staff_user


@pytest.fixture
def api_as(db: Any) -> Callable[..., Any]:
    """api_as(user) or api_as(token="...") or api_as(None): a client whose every response is
    checked against the committed OpenAPI document."""

    def make(user: Any = None, *, token: str | None = None) -> ContractClient:
        return ContractClient(user=user, token=token)

    return make


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """One Chromium for the whole session, shared by every browser test wherever it lives (two
    Playwright instances cannot run in one thread)."""
    if not CHROMIUM.exists():
        require_service("chromium", f"{CHROMIUM} is missing; install the distribution's package")
    # Loaded here rather than at the top: only the browser tests need Playwright.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
