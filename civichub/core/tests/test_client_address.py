"""The client's address, which the lock-out and the audit log both rest on: `X-Forwarded-For`
counts only when a configured proxy sent it, and then only the hops those proxies appended.
The attacks run against uvicorn configured exactly as `civichub serve` configures it, because
that is where a loopback client's forged header used to become the client's address."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.core.asgi import get_asgi_application
from django.core.management import call_command
from django.test import Client, RequestFactory, override_settings

from civichub.core import services
from civichub.core.http import client_address
from civichub.core.management.commands import serve
from civichub.core.models import AuditEvent
from civichub.testing.city import staff_user
from civichub.testing.servers import uvicorn_in_thread

PASSWORD = "the right one 123"
FORGED = "203.0.113.7"


@pytest.fixture
def served(transactional_db: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """civichub under uvicorn in a thread, with the server options `civichub serve` passes."""
    passed: dict[str, Any] = {}
    monkeypatch.setattr(serve.uvicorn, "run", lambda app, **options: passed.update(options))
    call_command("serve", "--workers", "1", "--no-collectstatic")
    options = {
        key: passed[key] for key in ("proxy_headers", "forwarded_allow_ips") if key in passed
    }
    with uvicorn_in_thread(get_asgi_application(), **options) as base:
        yield base


def log_in(base: str, password: str, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    with httpx.Client(base_url=base, timeout=30, headers=headers) as browser:
        page = browser.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token is not None, page.text
        answer = browser.post(
            "/accounts/login/",
            data={
                "csrfmiddlewaretoken": token.group(1),
                "username": "target",
                "password": password,
            },
        )
        return answer.status_code


def test_a_forged_forwarded_address_does_not_lift_the_lock_out(served: str) -> None:
    staff_user(None, None, username="target", password=PASSWORD)
    for guess in range(4):
        assert log_in(served, f"wrong {guess}") == 200
    # The fifth failure locks the user name out from this address, the right password too.
    assert log_in(served, "wrong 4") == 429
    assert log_in(served, PASSWORD, forwarded_for=FORGED) == 429
    assert log_in(served, PASSWORD) == 429


def test_wrong_passwords_behind_changing_forwarded_addresses_are_locked_out(
    served: str,
) -> None:
    staff_user(None, None, username="target", password=PASSWORD)
    answers = [log_in(served, f"wrong {n}", forwarded_for=f"198.51.100.{n}") for n in range(12)]
    assert answers == [200] * 4 + [429] * 8
    assert log_in(served, PASSWORD, forwarded_for="198.51.100.99") == 429


def test_the_audit_records_the_connecting_address_not_a_forged_one(served: str) -> None:
    user = staff_user(None, None)
    token, secret = services.api_token_create(actor=user, name="script")
    revoked = httpx.delete(
        f"{served}/api/tokens/{token.pk}",
        headers={"Authorization": f"Bearer {secret}", "X-Forwarded-For": FORGED},
        timeout=30,
    )
    assert revoked.status_code == 204
    event = AuditEvent.objects.get(action="api_token.revoke")
    assert event.ip_address == "127.0.0.1"


# Behind configured proxies -------------------------------------------------------------------


def address(remote: str, forwarded_for: str | None = None) -> str | None:
    request = RequestFactory().get("/", REMOTE_ADDR=remote)
    if forwarded_for is not None:
        request.META["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return client_address(request)


def test_without_configured_proxies_the_peer_is_the_client() -> None:
    assert address("127.0.0.1", FORGED) == "127.0.0.1"
    assert address("198.51.100.1") == "198.51.100.1"
    assert address("not an address") is None


@override_settings(CIVICHUB_TRUSTED_PROXIES=["127.0.0.1", "10.0.0.0/8"])
def test_behind_trusted_proxies_the_last_untrusted_hop_is_the_client() -> None:
    # What the client wrote itself comes first; each proxy appends the address it saw.
    assert address("127.0.0.1", f"{FORGED}, 198.51.100.4") == "198.51.100.4"
    assert address("127.0.0.1", f"{FORGED}, 198.51.100.4, 10.1.2.3") == "198.51.100.4"
    assert address("10.9.9.9", "2001:db8::5") == "2001:db8::5"
    # A proxy that forwards no header, or only hops of its own, is itself the client.
    assert address("127.0.0.1") == "127.0.0.1"
    assert address("127.0.0.1", "10.1.2.3") == "10.1.2.3"
    # A hop that is not an address ends the chain of trust at the last proxy.
    assert address("127.0.0.1", f"{FORGED}, unknown") == "127.0.0.1"
    # A peer that is not a trusted proxy is never believed.
    assert address("198.51.100.4", FORGED) == "198.51.100.4"


@override_settings(CIVICHUB_TRUSTED_PROXIES=["127.0.0.1"])
def test_behind_a_trusted_proxy_lock_out_and_audit_use_the_real_client(
    city: Any, make_user: Any
) -> None:
    make_user(None, None, username="target", password=PASSWORD)
    attacker = Client(HTTP_X_FORWARDED_FOR="198.51.100.4")
    for guess in range(5):
        attacker.post("/accounts/login/", {"username": "target", "password": f"wrong {guess}"})
    locked = attacker.post("/accounts/login/", {"username": "target", "password": PASSWORD})
    assert locked.status_code == 429
    # The lock-out is per user name and client address: the owner, elsewhere, still signs in.
    owner = Client(HTTP_X_FORWARDED_FOR=f"{FORGED}, 198.51.100.9")
    signed_in = owner.post("/accounts/login/", {"username": "target", "password": PASSWORD})
    assert signed_in.status_code == 302
    created = owner.post("/api/tokens", {"name": "script"}, content_type="application/json")
    assert created.status_code == 201
    assert AuditEvent.objects.get(action="api_token.create").ip_address == "198.51.100.9"
