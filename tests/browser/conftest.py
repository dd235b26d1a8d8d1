"""Browser fixtures: one Chromium for the whole session, a fresh context per test, and a small
city with a community worker (and residents in their care) and an auditor.

Chromium is the distribution's build at /usr/bin/chromium; no browser is ever downloaded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.support import (
    A1,
    A2,
    BROWSER_LOCALE,
    DESKTOP,
    PASSWORD,
    RESIDENTS,
    Offline,
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
    # The first page of a session also waits for the server's first answer on a busy machine.
    context.set_default_navigation_timeout(60_000)
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


@pytest.fixture
def mapped_city(city: Any, community_worker: User, settings: Any) -> Any:
    """Two communities with areas (A1 also by its road's name), tasks run at once, and the
    resident who writes."""
    from civichub.testing.areas import community_areas_set
    from civichub.testing.city import staff_user

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    community_areas_set(
        {city.community_a1: A1, city.community_a2: A2},
        radius_m=800,
        address_terms={city.community_a1: ["桃园路"]},
    )
    staff_user(
        None,
        None,
        username="lixiuying",
        password=PASSWORD,
        last_name="李",
        first_name="秀英",
        phone="13800000001",
    )
    return city


@pytest.fixture
def offline(chromium: Browser, live_server: Any) -> Iterator[tuple[BrowserContext, Offline]]:
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 800}, locale="zh-CN"
    )
    context.set_default_timeout(10_000)
    # The first page of a session also waits for the server's first answer on a busy machine.
    context.set_default_navigation_timeout(30_000)
    yield context, Offline(context, live_server.url)
    context.close()
