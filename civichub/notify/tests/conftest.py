"""Fixtures for the outbox tests: recipients, task backends, a real SMTP server and a real
(local) push service."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.db import OperationalError
from django.test import override_settings

from civichub.core.models import User

DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
IMMEDIATE_TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def resident(make_user: Callable[..., User]) -> User:
    return make_user(
        None, None, email="wang@example.org", phone="13800000001", last_name="王", first_name="芳"
    )


@pytest.fixture
def english_resident(make_user: Callable[..., User]) -> User:
    return make_user(
        None,
        None,
        email="amy@example.org",
        phone="13800000002",
        first_name="Amy",
        language="en",
    )


@pytest.fixture
def operator(city: Any, make_user: Callable[..., User]) -> User:
    return make_user("operator", city.city)


@pytest.fixture
def db_tasks() -> Iterator[None]:
    """The database task backend, whatever the environment configures, so enqueued tasks can be
    counted as rows."""
    with override_settings(TASKS=DB_TASKS):
        yield


@pytest.fixture
def immediate_tasks() -> Iterator[None]:
    with override_settings(TASKS=IMMEDIATE_TASKS):
        yield


def profile(**changes: Any) -> override_settings:
    """The deployment profile with some values changed."""
    from django.conf import settings

    return override_settings(CIVICHUB_PROFILE={**settings.CIVICHUB_PROFILE, **changes})


def no_quiet_hours(user: User) -> None:
    """Most tests must not depend on the clock: switch the user's quiet hours off."""
    from civichub.notify.models import NotificationPreference

    NotificationPreference.objects.update_or_create(
        user=user, defaults={"quiet_hours_enabled": False}
    )


def wait_while_locked(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
) -> Any:
    """The test database is SQLite in memory with a shared cache, where a connection that finds
    a table locked by another fails at once instead of waiting as a file database with a busy
    timeout (the deployed configuration) does. Wait the same way here; PostgreSQL never fails
    like this, its rows wait for each other."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return execute(sql, params, many, context)
        except OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.001)


# A real SMTP server ------------------------------------------------------------------------


@dataclass
class Mailbox:
    host: str
    port: int
    messages: list[Any] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    connections: set[int] = field(default_factory=set)  # one entry per SMTP session


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    """aiosmtpd on a free localhost port; received messages are parsed into `messages`.
    Addresses in `refuse` are rejected with 550 at RCPT."""
    from email import message_from_bytes, policy

    from aiosmtpd.controller import Controller

    box = Mailbox(host="127.0.0.1", port=free_port())

    class Handler:
        async def handle_RCPT(  # noqa: N802  (aiosmtpd's hook name)
            self, server: Any, session: Any, envelope: Any, address: str, options: Any
        ) -> str:
            if address in box.refuse:
                return "550 5.1.1 no such mailbox"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            box.messages.append(message_from_bytes(envelope.content, policy=policy.default))
            box.connections.add(id(session))
            return "250 Message accepted"

    controller = Controller(Handler(), hostname=box.host, port=box.port)
    controller.start()
    try:
        with override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST=box.host,
            EMAIL_PORT=box.port,
            EMAIL_HOST_USER="",
            EMAIL_HOST_PASSWORD="",
            EMAIL_USE_TLS=False,
            EMAIL_USE_SSL=False,
            EMAIL_TIMEOUT=5,
        ):
            yield box
    finally:
        controller.stop()


# A real push service on localhost -------------------------------------------------------------


@dataclass
class PushRequest:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class PushService:
    base_url: str
    requests: list[PushRequest] = field(default_factory=list)
    status: int = 201


@pytest.fixture
def push_service() -> Iterator[PushService]:
    """A local HTTP server standing in for a browser vendor's push service (RFC 8030): it records
    each POST and answers with `status`. http endpoints and loopback addresses are allowed for
    the test only."""
    port = free_port()
    service = PushService(base_url=f"http://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802  (http.server's hook name)
            length = int(self.headers.get("Content-Length", "0"))
            service.requests.append(
                PushRequest(
                    path=self.path, headers=dict(self.headers.items()), body=self.rfile.read(length)
                )
            )
            self.send_response(service.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads the recorded requests instead."""

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with override_settings(WEBPUSH_ALLOW_HTTP_ENDPOINTS=True, OUTBOUND_ALLOW_LOOPBACK=True):
            yield service
    finally:
        server.shutdown()
        server.server_close()


# The browsers' push services, resolved without DNS ----------------------------------------------

PUSH_SERVICE_ADDRESSES = {
    "updates.push.services.mozilla.com": "34.107.221.82",
    "fcm.googleapis.com": "142.250.185.74",
}


@pytest.fixture
def push_service_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """A push endpoint's host is resolved and checked when it is accepted, and tests have no
    DNS: the real push services' names resolve to public addresses here, other names as usual."""
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in PUSH_SERVICE_ADDRESSES:
            address = PUSH_SERVICE_ADDRESSES[host]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@dataclass
class BrowserKeys:
    """What a browser generates when it subscribes: a P-256 key pair and a 16-byte secret."""

    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes

    @classmethod
    def generate(cls) -> BrowserKeys:
        return cls(private_key=ec.generate_private_key(ec.SECP256R1()), auth_secret=os.urandom(16))

    @property
    def p256dh(self) -> str:
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @property
    def auth(self) -> str:
        return base64.urlsafe_b64encode(self.auth_secret).decode().rstrip("=")

    def decrypt(self, body: bytes) -> dict[str, Any]:
        import http_ece

        plain = http_ece.decrypt(
            body, private_key=self.private_key, auth_secret=self.auth_secret, version="aes128gcm"
        )
        return dict(json.loads(plain))


@pytest.fixture
def browser_keys() -> BrowserKeys:
    return BrowserKeys(
        private_key=ec.generate_private_key(ec.SECP256R1()), auth_secret=os.urandom(16)
    )


def local_now(tz_name: str = "Asia/Shanghai") -> dt.datetime:
    import zoneinfo

    from django.utils import timezone

    return timezone.now().astimezone(zoneinfo.ZoneInfo(tz_name))
