"""Browser fixtures: one Chromium for the whole session, a fresh context per test, and a small
city with a community worker (and residents in their care) and an auditor.

Chromium is the distribution's build at /usr/bin/chromium; no browser is ever downloaded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.support import (
    BROWSER_LOCALE,
    DESKTOP,
    PASSWORD,
    RESIDENTS,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

    from civichub.core.models import User


@pytest.fixture
def browser_context(chromium: Browser, live_server: Any) -> Iterator[BrowserContext]:
    context = chromium.new_context(
        base_url=live_server.url, viewport=DESKTOP, locale=BROWSER_LOCALE
    )
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page(browser_context: BrowserContext) -> Page:
    return browser_context.new_page()


@pytest.fixture
def community_worker(city: Any) -> User:
    from civichub.core import services
    from civichub.testing.city import staff_user

    worker = staff_user(
        "community_worker",
        city.community_a1,
        username="wangfang",
        password=PASSWORD,
        last_name="王",
        first_name="芳",
    )
    for name, name_en, address in RESIDENTS:
        services.resident_create(
            actor=worker, name=name, name_en=name_en, address=address, community=city.community_a1
        )
    return worker


@pytest.fixture
def auditor(city: Any, community_worker: User) -> User:
    from civichub.testing.city import staff_user

    return staff_user(
        "auditor", city.city, username="zhaomin", password=PASSWORD, last_name="赵", first_name="敏"
    )
