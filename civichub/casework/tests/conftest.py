"""Casework test set-up: the small city with a taxonomy, community areas, staff in every
casework role, and tasks that run as soon as the transaction commits."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from civichub.casework import services
from civichub.casework.models import Case, Category
from civichub.testing.areas import community_areas_set

# Pins (WGS-84) inside the test communities' areas.
PIN_A1 = (30.0000, 120.0000)
PIN_A2 = (30.0300, 120.0000)
PIN_B1 = (30.2000, 120.3000)


@dataclass
class Casework:
    city: Any
    health: Category
    police: Category
    worker_a1: Any
    worker_b1: Any
    handler: Any
    head: Any
    police_handler: Any
    police_head: Any
    dispatcher: Any
    resident: Any
    outsider: Any


@pytest.fixture(autouse=True)
def _immediate_tasks(settings: Any, tmp_path: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def after_commit(django_capture_on_commit_callbacks: Any) -> Callable[[], Any]:
    """`with after_commit(): ...` runs what the block scheduled with on_commit (the tasks)."""

    def run() -> Any:
        return django_capture_on_commit_callbacks(execute=True)

    return run


@pytest.fixture
def cw(city: Any, make_user: Callable[..., Any]) -> Casework:
    health = services.category_create(
        actor=None,
        key="health",
        name="医疗卫生",
        name_en="Health",
        department=city.health_a,
        keywords=["医院", "看病", "挂号", "hospital"],
        default_kind="consultation",
    )
    police = services.category_create(
        actor=None,
        key="security",
        name="治安",
        name_en="Public security",
        department=city.police_city,
        keywords=["盗窃", "治安", "小偷", "theft"],
        default_kind="complaint",
    )
    community_areas_set(
        {city.community_a1: PIN_A1, city.community_a2: PIN_A2, city.community_b1: PIN_B1},
        radius_m=500,
        address_terms={city.community_a1: ["桃源路"]},
    )
    return Casework(
        city=city,
        health=health,
        police=police,
        worker_a1=make_user("community_worker", city.community_a1, last_name="王", first_name="芳"),
        worker_b1=make_user("community_worker", city.community_b1),
        handler=make_user("department_handler", city.health_a, last_name="李", first_name="明"),
        head=make_user("department_head", city.health_a, email="head@example.org"),
        police_handler=make_user("department_handler", city.police_city),
        police_head=make_user("department_head", city.police_city),
        dispatcher=make_user("case_dispatcher", city.city),
        resident=make_user(None, None, phone="13800000001", email="res@example.org"),
        outsider=make_user(None, None),
    )


@pytest.fixture
def submit(cw: Casework, after_commit: Callable[[], Any]) -> Callable[..., Case]:
    """Sends a message as the resident (by default) and runs routing after commit."""

    def send(**kwargs: Any) -> Case:
        values: dict[str, Any] = {
            "actor": cw.resident,
            "kind": "complaint",
            "title": "医院挂号难",
            "text": "社区医院每天挂号排队很久，看病很难。",
            "latitude": PIN_A1[0],
            "longitude": PIN_A1[1],
            "crs": "wgs84",
        }
        values.update(kwargs)
        with after_commit():
            result = services.case_submit(**values)
        return Case.objects.get(pk=result.case.pk)

    return send


def jpeg_with_gps(size: tuple[int, int] = (64, 48), colour: str = "red") -> bytes:
    """A real JPEG carrying an EXIF GPS block (30°15'N 120°10'E) and a camera make."""
    from PIL import Image

    image = Image.new("RGB", size, colour)
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x8825] = {
        1: "N",
        2: (30.0, 15.0, 0.0),
        3: "E",
        4: (120.0, 10.0, 0.0),
    }
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def png_bytes(size: tuple[int, int] = (32, 32)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, "blue").save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def frozen_now() -> Callable[[dt.datetime], Any]:
    """Patches django.utils.timezone.now for the block: `with frozen_now(moment): ...`."""
    from contextlib import contextmanager
    from unittest import mock

    @contextmanager
    def freeze(moment: dt.datetime) -> Iterator[None]:
        with mock.patch("django.utils.timezone.now", return_value=moment):
            yield

    return freeze
