"""SMS pumping: one-time codes are limited per client, per network and per number, and by the
deployment's hourly SMS budget, past which operators are told once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from civichub.casework import services
from civichub.casework.models import ContactVerification
from civichub.casework.services import sending_limits
from civichub.casework.services.sending_limits import client_network
from civichub.casework.tests.conftest import Casework
from civichub.core.errors import RateLimited
from civichub.notify.models import Notification


@pytest.fixture(autouse=True)
def _one_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every count of a test in one hour's window: the limits count in fixed windows of the
    clock's hours, and a test running across the top of an hour would count its second half
    afresh."""
    window = sending_limits._window()
    monkeypatch.setattr(sending_limits, "_window", lambda: window)


def _start(number: int, client: str | None, channel: str = "sms") -> Any:
    address = f"139{number:08d}" if channel == "sms" else f"r{number}@example.org"
    return services.contact_verification_start(channel=channel, address=address, client=client)


def test_one_client_cannot_send_codes_to_many_numbers(
    cw: Casework, api_as: Callable[..., Any]
) -> None:
    client = api_as(None)
    answers = [
        client.post("/api/casework/verifications", {"channel": "sms", "address": f"1390000{n:04d}"})
        for n in range(30)
    ]

    assert [a.status_code for a in answers] == [201] * 10 + [429] * 20
    refused = answers[-1]
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["status"] == 429
    assert ContactVerification.objects.count() == 10


def test_a_network_shares_one_limit_and_other_networks_are_not_affected(cw: Casework) -> None:
    for n in range(40):  # four codes from each of ten addresses of one /24
        _start(n, f"203.0.113.{n // 4 + 1}")
    with pytest.raises(RateLimited) as caught:
        _start(40, "203.0.113.200")

    assert caught.value.extra["limit"] == "network"
    _start(41, "203.0.114.1")  # the next /24 is another network
    assert ContactVerification.objects.count() == 41


def test_ipv6_clients_are_grouped_by_their_48() -> None:
    assert client_network("2001:db8:1:2::7") == client_network("2001:db8:1:ffff::1")
    assert client_network("2001:db8:1:2::7") != client_network("2001:db8:2::1")
    assert client_network("198.51.100.77") == "198.51.100.0/24"


def test_one_number_still_gets_at_most_five_codes_an_hour(cw: Casework) -> None:
    for n in range(5):
        _start(7, f"198.51.100.{n + 1}")
    with pytest.raises(RateLimited) as caught:
        _start(7, "198.51.100.99")
    assert caught.value.extra["limit"] == "address"


def test_past_the_hourly_sms_budget_codes_by_sms_are_refused_and_operators_told_once(
    cw: Casework, make_user: Callable[..., Any], settings: Any
) -> None:
    settings.CIVICHUB_CASEWORK = {"sms_cost": 0.05, "sms_budget_per_hour": 0.15}
    operator = make_user("operator", cw.city.city)
    for n in range(3):
        _start(n, f"192.0.2.{n + 1}")

    for n in range(3, 6):  # three refusals from three networks: one alert
        with pytest.raises(RateLimited) as caught:
            _start(n, f"10.{n}.0.1")
        assert caught.value.extra["limit"] == "sms_budget"

    assert ContactVerification.objects.filter(channel="sms").count() == 3
    alerts = Notification.objects.filter(dispatch__kind="casework.sms_budget_spent")
    assert [a.recipient for a in alerts] == [operator]
    _start(9, "192.0.2.50", channel="email")  # email costs nothing: still sent
    assert ContactVerification.objects.filter(channel="email").count() == 1
