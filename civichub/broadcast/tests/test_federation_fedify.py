"""Federation with an independent implementation: a server built with Fedify (`@fedify/fedify`
from the npm registry; tests/fedify/peer.mjs) looks up a government account's actor, follows
it (civichub verifies Fedify's draft-cavage signature and answers with an Accept, which Fedify
verifies against the account's key), receives a post and an alert through its shared inbox,
receives a post again after refusing the first try, and undoes the follow. The test reads what
Fedify's inboxes accepted (Fedify refuses what it cannot verify). The same in Fedify's secure
mode, where its actor is served only to signed fetches (as Mastodon's AUTHORIZED_FETCH):
civichub's fetches are signed by the site's own actor, and an unsigned one is refused.

Needs Node.js 20 or later and `npm ci` in tests/fedify (.ci/run does both); outside CI a
missing node or missing packages skip the test with the reason."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from django.utils import timezone

from civichub.broadcast import services
from civichub.broadcast.models import Delivery, DeliveryState, RemoteFollow
from civichub.broadcast.tests.conftest import Broadcast
from civichub.broadcast.tests.remote import free_port
from civichub.broadcast.tests.test_alerts import fields

PEER = Path(__file__).resolve().parents[3] / "tests" / "fedify"

# A system test (it starts a Node.js server): CI runs it once, in the system run on PostgreSQL.
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.system,
    pytest.mark.django_db(transaction=True),
]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI runs every test: .ci/run installs Node.js and runs npm ci)")
    pytest.skip(reason)


class Peer:
    def __init__(self, process: subprocess.Popen[str], origin: str) -> None:
        self.process = process
        self.origin = origin

    def control(self, name: str, method: str = "POST", **params: str) -> Any:
        query = "&".join(f"{key}={quote(value, safe='')}" for key, value in params.items())
        response = requests.request(method, f"{self.origin}/control/{name}?{query}", timeout=60)
        assert response.status_code == 200, response.text
        return response.json()

    def received(self, kind: str) -> list[dict[str, Any]]:
        return [item for item in self.control("received", "GET") if item["type"] == kind]


def _peer(*options: str) -> Iterator[Peer]:
    node = shutil.which("node")
    if node is None:
        _unavailable("Node.js is not installed: the Fedify peer cannot run")
    assert node is not None
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    if int(version.stdout.strip().lstrip("v").split(".")[0]) < 20:
        _unavailable(f"Node.js {version.stdout.strip()} is older than Fedify 1.5 supports (20)")
    if not (PEER / "node_modules" / "@fedify" / "fedify").is_dir():
        _unavailable("Fedify is not installed: run `npm ci` in tests/fedify")
    port = free_port()
    process = subprocess.Popen(
        [node, "peer.mjs", str(port), *options],
        cwd=PEER,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("listening"):
        process.kill()
        pytest.fail(f"the Fedify peer did not start: {line}{process.stdout.read()}")
    yield Peer(process, line.split()[1])
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def peer() -> Iterator[Peer]:
    yield from _peer()


@pytest.fixture
def secure_peer() -> Iterator[Peer]:
    """The peer in secure mode: its actor is served only to fetches it can verify."""
    yield from _peer("--secure")


def wait_for(check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_a_fedify_server_follows_receives_a_post_and_an_alert_and_unfollows(
    live_server: Any, settings: Any, bc: Broadcast, peer: Peer
) -> None:
    settings.CIVICHUB_PROFILE = {**settings.CIVICHUB_PROFILE, "site_url": live_server.url}
    # Both servers are on this machine: only this setting lets loopback through.
    settings.OUTBOUND_ALLOW_LOOPBACK = True
    actor = f"{live_server.url}/broadcast/ap/accounts/safe-qingshan"
    peer_actor = f"{peer.origin}/users/peer"

    followed = peer.control("follow", actor=actor)
    assert followed == {"followed": actor, "name": "平安青山"}
    follow = RemoteFollow.objects.select_related("actor").get(account=bc.police)
    assert follow.actor.uri == peer_actor
    assert follow.actor.shared_inbox == f"{peer.origin}/inbox"
    (accept,) = wait_for(lambda: peer.received("Accept"))
    assert accept["actor"] == actor and accept["inbox"] == "peer"
    assert accept["json"]["object"]["id"] == follow.activity_id

    post = services.post_publish(
        actor=bc.police_publisher,
        account=bc.police,
        text="青山大道今晚封闭施工",
        category="traffic",
    )
    alert = services.post_publish(
        actor=bc.police_publisher,
        account=bc.police,
        text="东湖区今夜有特大暴雨。",
        text_en="Extreme rain in Donghu tonight.",
        category="weather",
        target_area_ids=[bc.city.district_a.pk],
        alert=fields(),
    )
    created = wait_for(lambda: len(peer.received("Create")) >= 2 and peer.received("Create"))
    assert created, peer.control("received", "GET")
    by_object = {item["json"]["object"]["id"]: item for item in created}
    note = by_object[f"{live_server.url}/broadcast/ap/posts/{post.pk}"]
    assert note["inbox"] == "shared" and note["actor"] == actor
    assert "青山大道今晚封闭施工" in note["json"]["object"]["content"]
    warning = by_object[f"{live_server.url}/broadcast/ap/posts/{alert.pk}"]
    assert "暴雨红色预警" in warning["json"]["object"]["content"]

    # The peer refuses the next delivery; it is tried again once due.
    peer.control("fail", count="1")
    later = services.post_publish(
        actor=bc.police_publisher, account=bc.police, text="明日恢复通行", category="traffic"
    )
    delivery = Delivery.objects.get(post=later)
    assert delivery.state == DeliveryState.PENDING and delivery.last_error == "HTTP 503"
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert services.deliveries_due() == 1
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.DELIVERED and delivery.attempts == 2
    assert len(peer.received("Create")) == 3
    # Fedify verified every delivery (it answers 401 to a signature it cannot verify).
    assert set(Delivery.objects.values_list("state", flat=True)) == {DeliveryState.DELIVERED}

    peer.control("undo")
    assert not RemoteFollow.objects.exists()


def test_a_fedify_server_in_secure_mode_refuses_unsigned_fetches_and_follows_all_the_same(
    live_server: Any, settings: Any, bc: Broadcast, secure_peer: Peer
) -> None:
    peer = secure_peer
    settings.CIVICHUB_PROFILE = {**settings.CIVICHUB_PROFILE, "site_url": live_server.url}
    settings.OUTBOUND_ALLOW_LOOPBACK = True
    actor = f"{live_server.url}/broadcast/ap/accounts/safe-qingshan"
    peer_actor = f"{peer.origin}/users/peer"
    # The peer refuses a fetch of its actor without a signature.
    unsigned = requests.get(peer_actor, headers={"Accept": "application/activity+json"}, timeout=30)
    assert unsigned.status_code == 401, unsigned.text
    assert peer.control("fetches", "GET") == [{"identifier": "peer", "signedBy": None}]

    # civichub fetches the follower's actor to verify the Follow: signed by the site's actor,
    # which Fedify fetches and verifies in turn.
    followed = peer.control("follow", actor=actor)
    assert followed == {"followed": actor, "name": "平安青山"}
    follow = RemoteFollow.objects.select_related("actor").get(account=bc.police)
    assert follow.actor.uri == peer_actor
    assert follow.actor.shared_inbox == f"{peer.origin}/inbox"
    signed_by = [fetch["signedBy"] for fetch in peer.control("fetches", "GET")[1:]]
    assert signed_by and set(signed_by) == {f"{live_server.url}/broadcast/ap/actor"}
    (accept,) = wait_for(lambda: peer.received("Accept"))
    assert accept["actor"] == actor

    post = services.post_publish(
        actor=bc.police_publisher,
        account=bc.police,
        text="青山大道今晚封闭施工",
        category="traffic",
    )
    (created,) = wait_for(lambda: peer.received("Create"))
    assert created["inbox"] == "shared"
    assert created["json"]["object"]["id"] == f"{live_server.url}/broadcast/ap/posts/{post.pk}"
    assert set(Delivery.objects.values_list("state", flat=True)) == {DeliveryState.DELIVERED}

    peer.control("undo")
    assert not RemoteFollow.objects.exists()
