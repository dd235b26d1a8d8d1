"""The portal's home page shows broadcast's notices and alerts for the visitor's area: across
two modules, which import each other nowhere (the portal reads the registry's capability)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from civichub.broadcast import services as broadcast
from civichub.core import services as core_services
from civichub.testing.city import SmallCity, staff_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def portal(city: SmallCity) -> Any:
    resident = core_services.resident_create(actor=None, name="王小梅", community=city.community_a1)

    class World:
        pass

    world = World()
    world.city = city  # type: ignore[attr-defined]
    world.applicant = staff_user(None, None, resident=resident)  # type: ignore[attr-defined]
    return world


def _signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_home_page_shows_notices_for_the_residents_area_only(portal: Any) -> None:
    account = broadcast.account_create(
        actor=None, organisation=portal.city.city, handle="qingshan", name="青山发布"
    )
    city = portal.city
    broadcast.post_publish(
        actor=None,
        account=account,
        text="桃源社区周六停水",
        category="notice",
        target_area_ids=[city.community_a1.pk],
    )
    broadcast.post_publish(
        actor=None,
        account=account,
        text="松风社区道路施工",
        category="notice",
        target_area_ids=[city.community_b1.pk],
    )
    broadcast.post_publish(actor=None, account=account, text="全市献血活动", category="notice")
    mine = _signed_in(portal.applicant).get("/").content.decode()
    assert "桃源社区周六停水" in mine and "全市献血活动" in mine
    assert "松风社区道路施工" not in mine
    visitor = Client().get("/").content.decode()
    assert "全市献血活动" in visitor and "桃源社区周六停水" not in visitor
