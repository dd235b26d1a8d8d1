"""Reference data kept in the process (categories, calendar, receiving area): what an Open311
POST costs in queries, and that every kind of change reaches the copies."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.utils import timezone

from civichub.casework import reference, services, workdays
from civichub.casework.conf import casework_settings
from civichub.casework.models import Case, Category, Open311ApiKey
from civichub.casework.open311.keys import open311_key_revoke
from civichub.casework.selectors import active_category, jurisdiction
from civichub.casework.services.intake import _next_tracking_number
from civichub.core.context import acting
from civichub.testing.open311 import Open311World, build_open311_world

# A warm Open311 POST: one transaction (two statements around it in a test, where it is a
# savepoint) with the tracking number (one upsert), the case, its event and the audit row. No
# key, category, attribute, calendar or organisation read.
OPEN311_POST_QUERIES = 6


@pytest.fixture
def world(db: Any, django_capture_on_commit_callbacks: Any) -> Open311World:
    # The world's changes commit (their callbacks run), as they would before a live request.
    with django_capture_on_commit_callbacks(execute=True):
        return build_open311_world()


def pothole(world: Open311World, **extra: str) -> dict[str, str]:
    form = {
        "api_key": world.key,
        "service_code": "pothole",
        "lat": "30.0001",
        "long": "120.0001",
        "description": "井盖旁边的路面塌了一块。",
        "attribute[size]": "small",
    }
    form.update(extra)
    return form


def post(client: Client, form: dict[str, str]) -> Any:
    return client.post("/open311/v2/requests.json", form)


def another_process_published() -> None:
    """What another process's commit of a reference change leaves behind: a new token."""
    if reference._token_shared():
        cache.set(reference.VERSION_KEY, uuid.uuid4().hex, None)
        return
    path = Path(settings.DATA_DIR) / "run" / reference.STAMP_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".test")
    temporary.write_text(uuid.uuid4().hex)
    temporary.replace(path)


def test_open311_post_takes_six_queries_once_reference_data_is_kept(
    world: Open311World, django_assert_num_queries: Callable[..., Any]
) -> None:
    client = Client()
    assert post(client, pothole(world)).status_code == 200  # the first loads the copies
    with django_assert_num_queries(OPEN311_POST_QUERIES):
        response = post(client, pothole(world))
    assert response.status_code == 200
    case = Case.objects.get(tracking_number=response.json()[0]["service_request_id"])
    assert case.category == world.pothole
    assert case.attributes == {"size": "small"}
    assert case.jurisdiction == jurisdiction()
    days = int(casework_settings().deadline_working_days[case.kind])
    assert case.due_at == workdays.deadline(case.created_at, days, workdays._read_calendar())


def test_tracking_numbers_count_up_per_year_in_one_statement(
    db: Any, django_assert_num_queries: Callable[..., Any]
) -> None:
    now = timezone.now()
    year = timezone.localtime(now).year
    with django_assert_num_queries(1):
        first = _next_tracking_number(now)
    second = _next_tracking_number(now)
    next_year = _next_tracking_number(now.replace(year=now.year + 1))
    assert (first, second) == (f"{year}-000001", f"{year}-000002")
    assert next_year == f"{year + 1}-000001"


def test_a_deactivated_service_is_refused_at_once(world: Open311World) -> None:
    client = Client()
    assert post(client, pothole(world)).status_code == 200
    with transaction.atomic():
        services.category_update(actor=None, category=world.pothole, changes={"active": False})
    assert post(client, pothole(world)).status_code == 404


def test_a_new_attribute_is_asked_at_once(world: Open311World) -> None:
    client = Client()
    assert post(client, pothole(world)).status_code == 200
    with transaction.atomic():
        services.category_attribute_create(
            actor=None,
            category=world.pothole,
            code="depth",
            datatype="number",
            description="深度（厘米）",
            required=True,
        )
    assert post(client, pothole(world)).status_code == 400
    assert post(client, pothole(world, **{"attribute[depth]": "12"})).status_code == 200


def test_a_new_holiday_moves_the_next_deadline(db: Any) -> None:
    received = dt.datetime(2031, 3, 3, 10, tzinfo=dt.UTC)  # a Monday
    before = workdays.deadline(received, 1)
    with transaction.atomic():
        services.calendar_day_set(actor=None, date=before.date(), working=False, name="test")
    assert workdays.deadline(received, 1).date() == before.date() + dt.timedelta(days=1)


def test_another_process_change_is_seen_once_it_publishes(world: Open311World) -> None:
    assert active_category("pothole") is not None
    # A change this process does not see (no signal), as if another process made it.
    Category.objects.filter(key="pothole").update(active=False)
    assert active_category("pothole") is not None  # still the kept copy: nothing read
    another_process_published()
    assert active_category("pothole") is None


def test_a_rolled_back_category_is_never_kept(world: Open311World) -> None:
    seen_inside: list[bool] = []

    def create_then_fail() -> None:
        with transaction.atomic():
            services.category_create(
                actor=None, key="graffiti", name="涂鸦", department=world.pothole.department
            )
            seen_inside.append(active_category("graffiti") is not None)
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        create_then_fail()
    assert seen_inside == [True]  # its own transaction sees it
    assert active_category("graffiti") is None


def test_each_caller_gets_its_own_copy(world: Open311World) -> None:
    first = active_category("pothole")
    assert first is not None
    first.name = "changed by a caller"
    again = active_category("pothole")
    assert again is not None
    assert again.name == world.pothole.name


class _CountingCache:
    """A shared cache that counts its reads of the token."""

    def __init__(self) -> None:
        self.reads = 0
        self.value = uuid.uuid4().hex

    def get(self, key: str) -> str:
        assert key == reference.VERSION_KEY
        self.reads += 1
        return self.value


def test_the_shared_token_is_read_once_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    shared = _CountingCache()
    monkeypatch.setattr(reference, "_token_shared", lambda: True)
    monkeypatch.setattr(reference, "cache", shared)

    with acting(channel="web", request_id="first"):
        tokens = {reference.token() for _ in range(4)}
        with acting(channel="open311", request_id="first"):  # the Open311 layer's own context
            tokens.add(reference.token())
    assert tokens == {shared.value} and shared.reads == 1

    shared.value = uuid.uuid4().hex  # another process published a change
    with acting(channel="web", request_id="second"):
        assert reference.token() == shared.value
    assert shared.reads == 2

    reference.token(), reference.token()  # outside any request or task: read every time
    assert shared.reads == 4


def test_a_revoked_key_is_refused_at_once(world: Open311World) -> None:
    client = Client()
    assert post(client, pothole(world)).status_code == 200  # the key is kept now
    with transaction.atomic():
        open311_key_revoke(actor=None, name=world.key_name)
    assert post(client, pothole(world)).status_code == 403


def test_a_key_revoked_by_another_process_is_refused_once_it_publishes(
    world: Open311World,
) -> None:
    client = Client()
    assert post(client, pothole(world)).status_code == 200
    # Another process's revocation: the row changes here without this process hearing of it.
    Open311ApiKey.objects.filter(name=world.key_name).update(revoked_at=timezone.now())
    another_process_published()
    assert post(client, pothole(world)).status_code == 403
