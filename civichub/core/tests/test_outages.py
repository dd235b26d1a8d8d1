"""An outage of the database or Redis is answered with 503 and Retry-After in the client's own
format (a problem under /api/, Open311's error document under /open311/, a plain page
elsewhere); any other crash stays a 500. The fault tests (tests/test_faults.py) cut the real
services; these pin the mapping."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import pytest
import redis.exceptions
from django.db import IntegrityError, OperationalError
from django.test import RequestFactory

from civichub.core.outages import is_outage
from civichub.core.views import server_error


def _answer(path: str, exc: Exception) -> Any:
    request = RequestFactory().get(path)
    try:
        raise exc
    except Exception:
        return server_error(request)


def test_a_dropped_database_connection_is_a_503_problem_under_the_api() -> None:
    response = _answer("/api/me", OperationalError("terminating connection"))
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert response["Retry-After"] == "5"
    assert json.loads(response.content)["status"] == 503


def test_redis_down_is_a_503_in_open311s_own_format() -> None:
    response = _answer("/open311/v2/requests.json", redis.exceptions.ConnectionError("refused"))
    assert response.status_code == 503
    assert json.loads(response.content)[0]["code"] == 503


def test_a_page_during_an_outage_is_a_plain_503_page() -> None:
    response = _answer("/messages/board/", OperationalError("server closed the connection"))
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")


def test_a_fault_that_is_not_an_outage_stays_a_500(db: Any) -> None:
    response = _answer("/api/me", IntegrityError("duplicate key"))
    assert response.status_code == 500


def test_an_outage_wrapped_by_another_error_is_found() -> None:
    outer = RuntimeError("enqueue failed")
    outer.__cause__ = redis.exceptions.TimeoutError("timed out")
    assert is_outage(outer)
    assert not is_outage(ValueError("no"))


@pytest.mark.django_db
def test_the_api_answers_503_when_the_database_drops_during_a_call(
    api_as: Any, make_user: Any, city: Any
) -> None:
    client = api_as(make_user("community_worker", city.community_a1))
    with mock.patch("civichub.core.api.request_user", side_effect=OperationalError("gone")):
        response = client.get("/api/me")
    assert response.status_code == 503
    assert response.json()["title"] == "Service unavailable"
    assert response["Retry-After"] == "5"
