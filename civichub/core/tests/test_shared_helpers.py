"""The helpers every module shares: the request's user, paging links, typed configuration,
field errors and the one point-in-polygon test."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.paginator import Paginator
from django.test import RequestFactory, override_settings

from civichub.core import geo
from civichub.core.config import ModuleConfig, module_config
from civichub.core.errors import NotAuthenticated, ValidationFailed
from civichub.core.http import bearer_token, request_user, request_user_or_none
from civichub.core.models import User
from civichub.core.paging import page_links, page_number


def test_a_visitor_has_no_user_and_is_refused_where_one_is_needed() -> None:
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    assert request_user_or_none(request) is None
    with pytest.raises(NotAuthenticated):
        request_user(request)


def test_the_signed_in_user_is_returned() -> None:
    request = RequestFactory().get("/")
    user = User(username="someone")
    request.user = user
    assert request_user(request) is user
    assert request_user_or_none(request) is user


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer chb_abc", "chb_abc"),
        ("bearer chb_abc ", "chb_abc"),
        ("Basic dXNlcjpwYXNz", None),
        ("Bearer ", None),
        ("", None),
    ],
)
def test_bearer_token_is_read_from_the_authorization_header(header: str, token: str | None) -> None:
    request = RequestFactory().get("/", headers={"Authorization": header} if header else {})
    assert bearer_token(request) == token


@pytest.mark.parametrize("total", [0, 1, 19, 20, 21, 95])
@pytest.mark.parametrize("number", [1, 2, 3, 5, 99])
def test_page_links_agree_with_djangos_paginator(total: int, number: int) -> None:
    expected = Paginator(range(total), 20).get_page(number)
    links = page_links(total=total, per_page=20, number=number)
    assert links.number == expected.number
    assert links.paginator.num_pages == expected.paginator.num_pages
    assert links.has_next == expected.has_next()
    assert links.has_previous == expected.has_previous()
    assert links.has_other_pages == expected.has_other_pages()
    if expected.has_next():
        assert links.next_page_number() == expected.next_page_number()
    if expected.has_previous():
        assert links.previous_page_number() == expected.previous_page_number()


@pytest.mark.parametrize(("value", "number"), [("3", 3), ("0", 1), ("-2", 1), ("x", 1), (None, 1)])
def test_page_number_from_a_query_parameter(value: object, number: int) -> None:
    assert page_number(value) == number


@dataclass(frozen=True)
class ExampleConfig(ModuleConfig):
    setting: ClassVar[str] = "CIVICHUB_EXAMPLE"
    limit: int = 5
    deadlines: dict[str, int] = field(default_factory=lambda: {"a": 1, "b": 2})


def test_module_config_defaults_then_overrides_merged_key_by_key() -> None:
    assert module_config(ExampleConfig) == ExampleConfig(limit=5, deadlines={"a": 1, "b": 2})
    with override_settings(CIVICHUB_EXAMPLE={"limit": 9, "deadlines": {"b": 7}, "other": 1}):
        assert module_config(ExampleConfig) == ExampleConfig(limit=9, deadlines={"a": 1, "b": 7})
    # The override is gone with the setting, not kept in a cache.
    assert module_config(ExampleConfig).limit == 5


def test_validation_failed_on_one_field() -> None:
    error = ValidationFailed.on("title", "标题不能为空。", hint=1)
    assert error.message == "标题不能为空。"
    assert error.errors == {"title": ["标题不能为空。"]}
    assert error.extra == {"hint": 1}


SQUARE_WITH_HOLE = {
    "type": "Polygon",
    "coordinates": [
        [[120.0, 30.0], [120.1, 30.0], [120.1, 30.1], [120.0, 30.1], [120.0, 30.0]],
        [[120.04, 30.04], [120.06, 30.04], [120.06, 30.06], [120.04, 30.06], [120.04, 30.04]],
    ],
}


@pytest.mark.parametrize(
    ("lat", "lng", "inside"),
    [
        (30.02, 120.02, True),
        (30.05, 120.05, False),  # in the hole
        (30.2, 120.05, False),
        (30.0, 120.05, True),  # on the edge
    ],
)
def test_geojson_contains(lat: float, lng: float, inside: bool) -> None:
    assert geo.geojson_contains(SQUARE_WITH_HOLE, lat, lng) is inside


@pytest.mark.parametrize(
    "geometry",
    [None, {}, {"type": "Polygon", "coordinates": []}, {"type": "Point", "coordinates": [1, 2]}],
)
def test_geojson_contains_nothing_for_unusable_geometry(geometry: object) -> None:
    assert geo.geojson_contains(geometry, 30.0, 120.0) is False
