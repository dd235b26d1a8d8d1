"""Broadcast test set-up: the small city, a police account at city level and a health account
in district A, their publishers, and residents with accounts in districts A and B. Tasks run as
soon as the transaction commits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from civichub.broadcast import services
from civichub.broadcast.models import BroadcastAccount
from civichub.broadcast.permissions import PUBLISHER
from civichub.core import services as core_services


@dataclass
class Broadcast:
    city: Any
    police: BroadcastAccount
    health: BroadcastAccount
    police_publisher: Any
    health_publisher: Any
    resident_a: Any
    resident_a2: Any
    resident_b: Any


@pytest.fixture(autouse=True)
def _immediate_tasks(settings: Any, tmp_path: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def after_commit(django_capture_on_commit_callbacks: Any) -> Callable[[], Any]:
    def run() -> Any:
        return django_capture_on_commit_callbacks(execute=True)

    return run


def make_resident(make_user: Callable[..., Any], community: Any, name: str, phone: str) -> Any:
    resident = core_services.resident_create(
        actor=None, name=name, community=community, phone=phone
    )
    return make_user(None, None, resident=resident)


@pytest.fixture
def bc(city: Any, make_user: Callable[..., Any]) -> Broadcast:
    police = services.account_create(
        actor=None,
        organisation=city.police_city,
        handle="safe-qingshan",
        name="平安青山",
        name_en="Safe Qingshan",
        description="青山市公安局官方发布",
        verified=True,
    )
    health = services.account_create(
        actor=None,
        organisation=city.health_a,
        handle="donghu-health",
        name="东湖健康",
        name_en="Donghu Health",
    )
    return Broadcast(
        city=city,
        police=police,
        health=health,
        police_publisher=make_user(PUBLISHER, city.police_city),
        health_publisher=make_user(PUBLISHER, city.health_a),
        resident_a=make_resident(make_user, city.community_a1, "张三", "13800000001"),
        resident_a2=make_resident(make_user, city.community_a2, "李四", "13800000002"),
        resident_b=make_resident(make_user, city.community_b1, "王五", "13800000003"),
    )
