"""A stand-in for another server in the federation tests: it serves its actors' documents
(with its own RSA key), records what is posted to its inboxes (answering with the statuses a
test queues), and signs requests to civichub in either form (draft-cavage with civichub's
signer, RFC 9421 with `http-message-signatures`)."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_message_signatures as hms
from django.utils import timezone
from http_message_signatures import algorithms

from civichub.core.httpsig import key_pair_new, sign_request


def free_port() -> int:
    """A free port, from CIVICHUB_TEST_PORTS ("low-high") where set, else any."""
    low, _sep, high = os.environ.get("CIVICHUB_TEST_PORTS", "").partition("-")
    candidates = range(int(low), int(high) + 1) if low and high else [0]
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise RuntimeError("no free port")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def activity(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class RemoteServer:
    port: int = 0
    private_pem: str = ""
    public_pem: str = ""
    received: list[Received] = field(default_factory=list)
    # The GETs of its actors (their headers: civichub signs its fetches).
    fetched: list[Received] = field(default_factory=list)
    statuses: deque[int] = field(default_factory=deque)
    _server: ThreadingHTTPServer | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def actor(self, name: str) -> str:
        return f"{self.origin}/users/{name}"

    def key_id(self, name: str) -> str:
        return self.actor(name) + "#main-key"

    def actor_document(self, name: str, *, shared: bool = True) -> dict[str, Any]:
        document: dict[str, Any] = {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": self.actor(name),
            "type": "Person",
            "preferredUsername": name,
            "inbox": f"{self.actor(name)}/inbox",
            "publicKey": {
                "id": self.key_id(name),
                "owner": self.actor(name),
                "publicKeyPem": self.public_pem,
            },
        }
        if shared:
            document["endpoints"] = {"sharedInbox": f"{self.origin}/inbox"}
        return document

    def start(self) -> RemoteServer:
        self.private_pem, self.public_pem = key_pair_new()
        remote = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                remote.fetched.append(Received(self.path, dict(self.headers), b""))
                name = self.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
                if not self.path.startswith("/users/"):
                    self.send_response(404)
                    self.end_headers()
                    return
                body = json.dumps(remote.actor_document(name, shared=name != "solo")).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/activity+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = remote.statuses.popleft() if remote.statuses else 202
                if status < 300:
                    remote.received.append(Received(self.path, dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def signed_headers(
        self,
        *,
        name: str,
        url: str,
        body: bytes,
        form: str = "cavage",
        now: dt.datetime | None = None,
    ) -> dict[str, str]:
        """Headers signing a POST of `body` to `url` by the actor `name`."""
        now = now or timezone.now()
        if form == "cavage":
            headers = sign_request(
                method="POST",
                url=url,
                body=body,
                key_id=self.key_id(name),
                private_key_pem=self.private_pem,
                now=now,
            )
            headers.pop("Host")
            return headers
        message = _Message("POST", url, hms.structures.CaseInsensitiveDict())
        signer = hms.HTTPMessageSigner(
            signature_algorithm=algorithms.RSA_V1_5_SHA256,
            key_resolver=hms.MappingKeyResolver(
                public_keys={}, private_keys={self.key_id(name): self.private_pem.encode()}
            ),
        )
        signer.sign(
            message,
            key_id=self.key_id(name),
            created=now,
            label="sig1",
            covered_component_ids=("@method", "@target-uri", "content-digest"),
            body=body,
        )
        return dict(message.headers)


@dataclass
class _Message:
    method: str
    url: str
    headers: Any
