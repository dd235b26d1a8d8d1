"""The guarded outbound HTTP client: every URL the platform posts to is refused when it names, or
resolves to, an address inside the deployment (loopback, private, link-local, multicast, reserved,
unspecified), when it is accepted and again when the connection is made. No test here touches the
network: resolution is replaced and the decision is asserted, not a connection."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest
import requests
from django.test import override_settings

from civichub.core import outbound
from civichub.core.outbound import OutboundRefused


def resolver(*answers: list[str]) -> Callable[..., list[Any]]:
    """A stand-in for socket.getaddrinfo giving each call the next answer (the last repeats)."""
    calls: list[str] = []

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        answer = answers[min(len(calls), len(answers) - 1)]
        calls.append(host)
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (address, port or 443),
            )
            for address in answer
        ]

    return getaddrinfo


@pytest.fixture
def no_connections(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Records where a connection would go and refuses it, so no test reaches the network."""
    attempts: list[Any] = []

    def refuse(address: Any, *args: Any, **kwargs: Any) -> Any:
        attempts.append(address)
        raise ConnectionRefusedError(f"no network in tests: {address}")

    monkeypatch.setattr(outbound.connection, "create_connection", refuse)
    return attempts


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.9", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link_local"),
        ("fe80::1", "link_local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "reserved"),
        ("0.0.0.0", "unspecified"),  # noqa: S104  (an address refused, not bound)
        ("::", "unspecified"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link_local"),
        ("::ffff:10.0.0.1", "private"),
    ],
)
def test_each_internal_address_class_is_refused(address: str, reason: str) -> None:
    assert outbound.address_refusal(address) == reason
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(OutboundRefused) as refused:
        outbound.url_check(f"https://{host}/push/abc")
    assert refused.value.reason == reason


@pytest.mark.parametrize("address", ["203.0.113.1", "2001:db8::1"])
def test_documentation_ranges_are_refused_too(address: str) -> None:
    assert outbound.address_refusal(address) is not None


def test_a_public_address_is_accepted(
    monkeypatch: pytest.MonkeyPatch, no_connections: list[Any]
) -> None:
    monkeypatch.setattr(outbound.socket, "getaddrinfo", resolver(["93.184.215.14"]))
    assert outbound.address_refusal("93.184.215.14") is None
    assert outbound.address_refusal("2a00:1450:4001:82b::200e") is None
    assert outbound.url_check("https://updates.push.example/wpush/v2/abc") == ["93.184.215.14"]
    assert not no_connections


def test_a_hostname_resolving_to_loopback_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbound.socket, "getaddrinfo", resolver(["93.184.215.14", "127.0.0.1"]))
    with pytest.raises(OutboundRefused) as refused:
        outbound.url_check("https://push.attacker.example/abc")
    assert (refused.value.reason, refused.value.address) == ("loopback", "127.0.0.1")


def test_localhost_is_refused() -> None:
    with pytest.raises(OutboundRefused) as refused:
        outbound.url_check("https://localhost:8443/abc")
    assert refused.value.reason == "loopback"


def test_an_unresolvable_host_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(outbound.socket, "getaddrinfo", fail)
    with pytest.raises(OutboundRefused) as refused:
        outbound.url_check("https://nowhere.invalid/abc")
    assert refused.value.reason == "unresolvable"


@pytest.mark.parametrize(
    "url", ["http://push.example/abc", "ftp://push.example/abc", "https:///abc", "push.example"]
)
def test_only_https_urls_with_a_host_are_accepted(url: str) -> None:
    with pytest.raises(OutboundRefused) as refused:
        outbound.url_check(url)
    assert refused.value.reason == "scheme"


def test_plain_http_only_where_the_caller_allows_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbound.socket, "getaddrinfo", resolver(["93.184.215.14"]))
    assert outbound.url_check("http://push.example/abc", allow_http=True) == ["93.184.215.14"]


def test_loopback_only_where_the_operator_allows_it() -> None:
    with override_settings(OUTBOUND_ALLOW_LOOPBACK=True):
        assert outbound.url_check("https://127.0.0.1:8443/abc") == ["127.0.0.1"]
        # The allowance is for loopback alone: the rest of the inside stays closed.
        with pytest.raises(OutboundRefused):
            outbound.url_check("https://169.254.169.254/latest")
        with pytest.raises(OutboundRefused):
            outbound.url_check("https://10.0.0.1/abc")


def test_the_connection_refuses_a_rebinding_resolver(
    monkeypatch: pytest.MonkeyPatch, no_connections: list[Any]
) -> None:
    """The name resolves to a public address when the URL is checked and to the metadata service
    when the worker connects: the connection is refused before a socket is opened."""
    monkeypatch.setattr(
        outbound.socket, "getaddrinfo", resolver(["93.184.215.14"], ["169.254.169.254"])
    )
    url = "https://rebind.attacker.example/latest/meta-data"
    assert outbound.url_check(url) == ["93.184.215.14"]
    with outbound.guarded_session() as session, pytest.raises(OutboundRefused) as refused:
        session.post(url, data=b"x", timeout=5)
    assert (refused.value.reason, refused.value.address) == ("link_local", "169.254.169.254")
    assert not no_connections


def test_the_connection_goes_to_the_checked_address(
    monkeypatch: pytest.MonkeyPatch, no_connections: list[Any]
) -> None:
    """A public answer is connected to by address, so a second lookup cannot change it."""
    monkeypatch.setattr(outbound.socket, "getaddrinfo", resolver(["93.184.215.14"]))
    with outbound.guarded_session() as session, pytest.raises(requests.ConnectionError):
        session.post("https://push.example/abc", data=b"x", timeout=5)
    assert [address for address, _port in no_connections] == ["93.184.215.14"]


def test_the_session_ignores_proxies_from_the_environment() -> None:
    with outbound.guarded_session() as session:
        assert session.trust_env is False
