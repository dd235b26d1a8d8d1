"""Followers on other servers (ActivityPub): WebFinger, the actor with its key, outbox and
followers; inboxes that accept only requests signed by the actor's key (draft-cavage or RFC
9421), with a matching digest, a time within the window, not seen before, and not from a
blocked server; deliveries once per remote server, retried with growing delays. The other
server is `remote.RemoteServer` here; tests/test_federation_fedify.py runs an independent one."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from civichub.broadcast import services
from civichub.broadcast.models import (
    AccountKey,
    BlockedServer,
    Delivery,
    DeliveryState,
    InstanceKey,
    RemoteFollow,
    RemoteInteraction,
)
from civichub.broadcast.tests.conftest import Broadcast
from civichub.broadcast.tests.remote import RemoteServer
from civichub.broadcast.tests.test_alerts import fields
from civichub.core.errors import PermissionDenied
from civichub.core.httpsig import digest_header, verify_request
from civichub.core.models import AuditEvent
from civichub.testing.city import staff_user

pytestmark = pytest.mark.django_db

SITE = "http://testserver"
AP_JSON = "application/activity+json"


@pytest.fixture
def remote(settings: Any) -> Iterator[RemoteServer]:
    settings.CIVICHUB_PROFILE = {**settings.CIVICHUB_PROFILE, "site_url": SITE}
    # The stand-in server listens on loopback, which only this setting lets through.
    settings.OUTBOUND_ALLOW_LOOPBACK = True
    server = RemoteServer().start()
    yield server
    server.stop()


def actor_url(handle: str) -> str:
    return f"{SITE}/broadcast/ap/accounts/{handle}"


def send(
    client: Any,
    remote: RemoteServer,
    activity: dict[str, Any],
    *,
    name: str = "alice",
    path: str = "/broadcast/ap/inbox",
    form: str = "cavage",
    now: dt.datetime | None = None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """Posts an activity to an inbox, signed by the remote actor `name`."""
    signed_body = json.dumps(activity).encode()
    signed = headers or remote.signed_headers(
        name=name, url=SITE + path, body=signed_body, form=form, now=now
    )
    return client.post(
        path,
        data=body if body is not None else signed_body,
        content_type=AP_JSON,
        headers={"Host": "testserver", **signed},
    )


def follow(remote: RemoteServer, name: str, handle: str) -> dict[str, Any]:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{remote.actor(name)}/follows/{handle}",
        "type": "Follow",
        "actor": remote.actor(name),
        "object": actor_url(handle),
    }


def test_webfinger_finds_a_government_account_and_no_resident(
    client: Any, remote: RemoteServer, bc: Broadcast
) -> None:
    found = client.get("/.well-known/webfinger", {"resource": "acct:safe-qingshan@testserver"})
    assert found.status_code == 200
    assert found["Content-Type"].startswith("application/jrd+json")
    self_link = next(link for link in found.json()["links"] if link["rel"] == "self")
    assert self_link == {"rel": "self", "type": AP_JSON, "href": actor_url("safe-qingshan")}
    resident = bc.resident_a.username
    for resource in (f"acct:{resident}@testserver", "acct:safe-qingshan@elsewhere.example"):
        assert client.get("/.well-known/webfinger", {"resource": resource}).status_code == 404


@pytest.mark.parametrize(
    "accept", [AP_JSON, 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"']
)
def test_the_actor_document_carries_the_accounts_public_key(
    client: Any, remote: RemoteServer, bc: Broadcast, accept: str
) -> None:
    response = client.get("/broadcast/ap/accounts/safe-qingshan", headers={"Accept": accept})
    assert response.status_code == 200
    assert response["Content-Type"].startswith(AP_JSON)
    actor = response.json()
    assert actor["id"] == actor_url("safe-qingshan")
    assert actor["type"] == "Organization" and actor["preferredUsername"] == "safe-qingshan"
    assert actor["endpoints"]["sharedInbox"] == f"{SITE}/broadcast/ap/inbox"
    key = AccountKey.objects.get(account=bc.police)
    assert actor["publicKey"] == {
        "id": actor_url("safe-qingshan") + "#main-key",
        "owner": actor_url("safe-qingshan"),
        "publicKeyPem": key.public_key_pem,
    }
    # The private key is stored encrypted, never as PEM.
    assert b"PRIVATE KEY" not in bytes(key.private_key_encrypted)
    # A browser is sent to the account's page.
    page = client.get("/broadcast/ap/accounts/safe-qingshan", headers={"Accept": "text/html"})
    assert page.status_code == 302 and page["Location"].endswith("/broadcast/@safe-qingshan/")


def test_outbox_is_paged_and_followers_show_a_count(
    client: Any, remote: RemoteServer, bc: Broadcast, settings: Any
) -> None:
    for i in range(22):
        services.post_publish(
            actor=bc.police_publisher, account=bc.police, text=f"第{i}条", category="news"
        )
    services.follow_create(actor=bc.resident_a, account_id=bc.police.pk)
    outbox = client.get("/broadcast/ap/accounts/safe-qingshan/outbox").json()
    assert outbox["type"] == "OrderedCollection" and outbox["totalItems"] == 22
    first = client.get(outbox["first"].removeprefix(SITE)).json()
    assert first["type"] == "OrderedCollectionPage" and len(first["orderedItems"]) == 20
    assert first["orderedItems"][0]["type"] == "Create"
    assert first["orderedItems"][0]["object"]["content"] == "<p>第21条</p>"
    second = client.get(first["next"].removeprefix(SITE)).json()
    assert [item["object"]["content"] for item in second["orderedItems"]] == [
        "<p>第1条</p>",
        "<p>第0条</p>",
    ]
    followers = client.get("/broadcast/ap/accounts/safe-qingshan/followers").json()
    assert followers["totalItems"] == 1 and "orderedItems" not in followers


def test_a_signed_follow_is_accepted_and_answered_with_a_signed_accept(
    client: Any, remote: RemoteServer, bc: Broadcast, after_commit: Any
) -> None:
    with after_commit():
        response = send(client, remote, follow(remote, "alice", "safe-qingshan"))
    assert response.status_code == 202, response.content
    assert RemoteFollow.objects.filter(account=bc.police, actor__uri=remote.actor("alice")).exists()
    (accept,) = remote.received
    assert accept.path == "/users/alice/inbox"
    assert accept.activity["type"] == "Accept"
    assert accept.activity["object"]["id"] == f"{remote.actor('alice')}/follows/safe-qingshan"
    # The Accept is signed by the account's key (draft-cavage, with a digest).
    key = AccountKey.objects.get(account=bc.police).public_key_pem
    signed = verify_request(
        method="POST",
        url=remote.origin + accept.path,
        headers=accept.headers,
        body=accept.body,
        public_key_for=lambda key_id: key,
        now=timezone.now(),
        window=dt.timedelta(minutes=5),
    )
    assert signed.key_id == actor_url("safe-qingshan") + "#main-key"
    followers = client.get("/broadcast/ap/accounts/safe-qingshan/followers").json()
    assert followers["totalItems"] == 1 and "orderedItems" not in followers
    assert AuditEvent.objects.filter(action="broadcast.federation.follow").count() == 1
    # The account may list its followers elsewhere (never the residents who follow it).
    services.follow_create(actor=bc.resident_a, account_id=bc.police.pk)
    with pytest.raises(PermissionDenied):
        services.remote_followers_show(actor=bc.health_publisher, account=bc.police, show=True)
    services.remote_followers_show(actor=bc.police_publisher, account=bc.police, show=True)
    followers = client.get("/broadcast/ap/accounts/safe-qingshan/followers").json()
    assert followers["totalItems"] == 2 and followers["orderedItems"] == [remote.actor("alice")]


def test_the_sites_own_actor_serves_its_key_to_anyone_and_is_found_by_webfinger(
    client: Any, remote: RemoteServer, bc: Broadcast
) -> None:
    # Unsigned, as any actor here: a server checking a signed fetch reads it without signing.
    response = client.get("/broadcast/ap/actor", headers={"Accept": AP_JSON})
    assert response.status_code == 200
    assert response["Content-Type"].startswith(AP_JSON)
    actor = response.json()
    key = InstanceKey.objects.get()
    assert actor["type"] == "Application" and actor["id"] == f"{SITE}/broadcast/ap/actor"
    assert actor["preferredUsername"] == "civichub.internal"
    assert actor["inbox"] == f"{SITE}/broadcast/ap/inbox"
    assert actor["publicKey"] == {
        "id": f"{SITE}/broadcast/ap/actor#main-key",
        "owner": f"{SITE}/broadcast/ap/actor",
        "publicKeyPem": key.public_key_pem,
    }
    assert b"PRIVATE KEY" not in bytes(key.private_key_encrypted)
    outbox = client.get(actor["outbox"].removeprefix(SITE)).json()
    assert outbox["type"] == "OrderedCollection" and outbox["totalItems"] == 0
    for resource in ("acct:civichub.internal@testserver", f"{SITE}/broadcast/ap/actor"):
        found = client.get("/.well-known/webfinger", {"resource": resource})
        assert found.status_code == 200
        assert found.json()["links"] == [
            {"rel": "self", "type": AP_JSON, "href": f"{SITE}/broadcast/ap/actor"}
        ]
    # The key is made once, audited once.
    assert services.instance_key().pk == key.pk
    assert InstanceKey.objects.count() == 1
    assert AuditEvent.objects.filter(action="broadcast.federation.instance_key").count() == 1


def test_fetches_of_remote_actors_are_signed_by_the_sites_own_actor(
    client: Any, remote: RemoteServer, bc: Broadcast, after_commit: Any
) -> None:
    with after_commit():
        response = send(client, remote, follow(remote, "alice", "safe-qingshan"))
    assert response.status_code == 202, response.content
    (fetch,) = remote.fetched
    assert fetch.path == "/users/alice"
    assert "(request-target) host date" in fetch.headers["Signature"]
    public = InstanceKey.objects.get().public_key_pem
    signed = verify_request(
        method="GET",
        url=remote.origin + fetch.path,
        headers=fetch.headers,
        body=b"",
        public_key_for=lambda key_id: public,
        now=timezone.now(),
        window=dt.timedelta(minutes=5),
    )
    assert signed.key_id == f"{SITE}/broadcast/ap/actor#main-key"


def test_an_rfc9421_signed_follow_and_its_undo_are_accepted(
    client: Any, remote: RemoteServer, bc: Broadcast, after_commit: Any
) -> None:
    activity = follow(remote, "alice", "safe-qingshan")
    path = "/broadcast/ap/accounts/safe-qingshan/inbox"
    with after_commit():
        assert send(client, remote, activity, path=path, form="rfc9421").status_code == 202
    assert RemoteFollow.objects.count() == 1
    undo = {
        "id": f"{remote.actor('alice')}/undo/1",
        "type": "Undo",
        "actor": remote.actor("alice"),
        "object": activity,
    }
    assert send(client, remote, undo, form="rfc9421").status_code == 202
    assert RemoteFollow.objects.count() == 0
    assert AuditEvent.objects.filter(action="broadcast.federation.unfollow").count() == 1


def test_bad_signatures_are_refused(client: Any, remote: RemoteServer, bc: Broadcast) -> None:
    activity = follow(remote, "alice", "safe-qingshan")
    body = json.dumps(activity).encode()
    good = remote.signed_headers(name="alice", url=f"{SITE}/broadcast/ap/inbox", body=body)
    other = json.dumps(dict(activity, id=activity["id"] + "-changed")).encode()
    # A body that is not the one signed: the digest does not match.
    tampered = send(client, remote, activity, body=other, headers=good)
    assert tampered.status_code == 401 and tampered.json()["reason"] == "digest"
    # A digest recomputed for the new body: the signature no longer covers it.
    forged = send(
        client, remote, activity, body=other, headers={**good, "Digest": digest_header(other)}
    )
    assert forged.status_code == 401 and forged.json()["reason"] == "signature"
    # Signed for another address (the signature covers the request target).
    elsewhere = remote.signed_headers(name="alice", url=f"{SITE}/broadcast/other", body=body)
    assert send(client, remote, activity, headers=elsewhere).json()["reason"] == "signature"
    # Signed an hour and a half ago (the window is an hour), in both forms.
    late = timezone.now() - dt.timedelta(minutes=90)
    assert send(client, remote, activity, now=late).json()["reason"] == "time"
    assert send(client, remote, activity, now=late, form="rfc9421").status_code == 401
    # Signed by bob's key for an activity whose actor is alice.
    assert send(client, remote, activity, name="bob").status_code == 401
    # Not signed at all.
    unsigned = client.post("/broadcast/ap/inbox", data=body, content_type=AP_JSON)
    assert unsigned.status_code == 401
    assert not RemoteFollow.objects.exists()


def test_a_replayed_request_is_refused(
    client: Any, remote: RemoteServer, bc: Broadcast, after_commit: Any
) -> None:
    activity = follow(remote, "alice", "safe-qingshan")
    body = json.dumps(activity).encode()
    for form in ("cavage", "rfc9421"):
        headers = remote.signed_headers(
            name="alice", url=f"{SITE}/broadcast/ap/inbox", body=body, form=form
        )
        with after_commit():
            assert send(client, remote, activity, headers=headers).status_code == 202
        again = send(client, remote, activity, headers=headers)
        assert again.status_code == 401 and again.json()["reason"] == "replay"


def test_a_blocked_server_is_refused_and_its_follows_end(
    client: Any, remote: RemoteServer, bc: Broadcast, after_commit: Any
) -> None:
    with after_commit():
        send(client, remote, follow(remote, "alice", "safe-qingshan"))
    assert RemoteFollow.objects.count() == 1
    publisher = bc.police_publisher
    with pytest.raises(PermissionDenied):
        services.blocked_server_add(actor=publisher, host="127.0.0.1", reason="spam")
    operator = staff_user("operator", bc.city.city)
    services.blocked_server_add(actor=operator, host=" 127.0.0.1 ", reason="spam")
    assert RemoteFollow.objects.count() == 0
    audit = AuditEvent.objects.get(action="broadcast.federation.block")
    assert audit.actor == operator and audit.changes["follows_ended"] == 1
    refused = send(client, remote, follow(remote, "bob", "safe-qingshan"), name="bob")
    assert refused.status_code == 403
    # Nothing is delivered there any more.
    remote.received.clear()
    with after_commit():
        services.post_publish(actor=publisher, account=bc.police, text="通知", category="news")
    assert remote.received == [] and not Delivery.objects.filter(post__isnull=False).exists()
    assert services.blocked_server_remove(actor=operator, host="127.0.0.1")
    with after_commit():
        again = send(client, remote, follow(remote, "bob", "safe-qingshan"), name="bob")
    assert again.status_code == 202


def test_posts_and_alerts_go_once_to_each_remote_server_whatever_the_local_followers(
    client: Any, remote: RemoteServer, bc: Broadcast, after_commit: Any
) -> None:
    # alice and bob share their server's inbox; solo's server has none.
    with after_commit():
        for name in ("alice", "bob", "solo"):
            assert (
                send(client, remote, follow(remote, name, "safe-qingshan"), name=name).status_code
                == 202
            )
    remote.received.clear()

    def publish(text: str) -> int:
        with CaptureQueriesContext(connection) as queries:
            services.post_publish(
                actor=bc.police_publisher, account=bc.police, text=text, category="news"
            )
        return len(queries)

    publish("第一次（缓存预热）")
    before = publish("无本地关注者时")
    for resident in (bc.resident_a, bc.resident_a2, bc.resident_b):
        services.follow_create(actor=resident, account_id=bc.police.pk)
    assert publish("有三位本地关注者时") == before

    with after_commit():
        post = services.post_publish(
            actor=bc.police_publisher, account=bc.police, text="道路封闭", category="traffic"
        )
    assert sorted(r.path for r in remote.received) == ["/inbox", "/users/solo/inbox"]
    create = remote.received[0].activity
    assert create["type"] == "Create" and create["object"]["content"] == "<p>道路封闭</p>"
    assert create["object"]["cc"] == [actor_url("safe-qingshan") + "/followers"]

    remote.received.clear()
    with after_commit():
        alert = services.post_publish(
            actor=bc.police_publisher,
            account=bc.police,
            text="东湖区今夜有特大暴雨。",
            text_en="Extreme rain in Donghu tonight.",
            category="weather",
            target_area_ids=[bc.city.district_a.pk],
            alert=fields(),
        )
    (first, _second) = remote.received
    assert first.activity["object"]["id"] == f"{SITE}/broadcast/ap/posts/{alert.pk}"
    assert "暴雨红色预警" in first.activity["object"]["content"]

    remote.received.clear()
    with after_commit():
        services.post_edit(actor=bc.police_publisher, post_id=post.pk, text="道路已恢复通行")
    with after_commit():
        services.post_retract(actor=bc.police_publisher, post_id=post.pk)
    kinds = [r.activity["type"] for r in remote.received]
    assert sorted(kinds) == ["Delete", "Delete", "Update", "Update"]
    assert Delivery.objects.filter(post=post).count() == 6


def test_a_failed_delivery_is_retried_later_with_growing_delays(
    client: Any, remote: RemoteServer, bc: Broadcast, after_commit: Any
) -> None:
    with after_commit():
        send(client, remote, follow(remote, "alice", "safe-qingshan"))
    remote.received.clear()
    remote.statuses.extend([503])
    with after_commit():
        services.post_publish(
            actor=bc.police_publisher, account=bc.police, text="停水", category="notice"
        )
    delivery = Delivery.objects.get(post__isnull=False)
    assert delivery.state == DeliveryState.PENDING and delivery.attempts == 1
    assert delivery.last_error == "HTTP 503" and remote.received == []
    wait = delivery.next_attempt_at - timezone.now()
    assert dt.timedelta(seconds=50) < wait <= dt.timedelta(minutes=1)
    assert services.deliveries_due() == 0  # not yet
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    with after_commit():
        assert services.deliveries_due() == 1
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.DELIVERED and delivery.attempts == 2
    assert [r.activity["type"] for r in remote.received] == ["Create"]
    assert [services.retry_delay(n).total_seconds() for n in (1, 2, 3, 8)] == [
        60,
        240,
        960,
        12 * 3600,
    ]
    # A refusal that retrying cannot change is given up at once.
    remote.statuses.extend([410])
    with after_commit():
        services.post_publish(
            actor=bc.police_publisher, account=bc.police, text="停电", category="notice"
        )
    gone = Delivery.objects.filter(post__isnull=False).order_by("-pk").first()
    assert gone is not None and gone.state == DeliveryState.FAILED and gone.attempts == 1


def test_likes_announces_and_replies_are_counted_and_replies_held(
    client: Any, remote: RemoteServer, bc: Broadcast, after_commit: Any
) -> None:
    post = services.post_publish(
        actor=bc.police_publisher, account=bc.police, text="公告", category="notice"
    )
    note = f"{SITE}/broadcast/ap/posts/{post.pk}"
    actor = remote.actor("alice")
    for kind in ("Like", "Announce"):
        activity = {"id": f"{actor}/{kind}/1", "type": kind, "actor": actor, "object": note}
        assert send(client, remote, activity).status_code == 202
    reply = {
        "id": f"{actor}/notes/1/activity",
        "type": "Create",
        "actor": actor,
        "object": {
            "id": f"{actor}/notes/1",
            "type": "Note",
            "attributedTo": actor,
            "inReplyTo": note,
            "content": "<p>请问<b>几点</b>恢复？</p>",
        },
    }
    assert send(client, remote, reply).status_code == 202
    document = client.get(f"/broadcast/ap/posts/{post.pk}", headers={"Accept": AP_JSON}).json()
    assert document["likes"]["totalItems"] == 1 and document["shares"]["totalItems"] == 1
    # A resident's repost and favourite count too, wherever their counts sit (a counter slot).
    services.repost_create(actor=bc.resident_a, post_id=post.pk)
    services.favourite_create(actor=bc.resident_a, post_id=post.pk)
    document = client.get(f"/broadcast/ap/posts/{post.pk}", headers={"Accept": AP_JSON}).json()
    assert document["likes"]["totalItems"] == 2 and document["shares"]["totalItems"] == 2
    held = RemoteInteraction.objects.get(kind="reply")
    assert held.held and held.text == "请问几点恢复？"
    with pytest.raises(PermissionDenied):
        services.remote_reply_release(actor=bc.health_publisher, interaction_id=held.pk)
    page = Client()
    page.force_login(bc.police_publisher)
    before = page.get(f"/broadcast/posts/{post.pk}/").content.decode()
    assert "请问几点恢复？" not in before and "点赞 1 · 转发 1" in before
    queue = page.get(f"/broadcast/@{bc.police.handle}/moderation/").content.decode()
    assert "请问几点恢复？" in queue and held.actor_handle in queue
    released = page.post(
        f"/broadcast/@{bc.police.handle}/moderation/",
        {"action": "remote_release", "interaction_id": held.pk},
    )
    assert released.status_code == 302
    held.refresh_from_db()
    assert not held.held
    shown = page.get(f"/broadcast/posts/{post.pk}/").content.decode()
    assert "请问几点恢复？" in shown and f'<span lang="en">{held.actor_handle}</span>' in shown
    assert held.actor_handle == f"@alice@{urlsplit(actor).hostname}"
    undo = {
        "id": f"{actor}/undo/like",
        "type": "Undo",
        "actor": actor,
        "object": {"id": f"{actor}/Like/1", "type": "Like", "actor": actor, "object": note},
    }
    assert send(client, remote, undo).status_code == 202
    assert list(RemoteInteraction.objects.values_list("kind", flat=True).order_by("kind")) == [
        "announce",
        "reply",
    ]


def test_operators_block_and_unblock_servers_in_the_admin(client: Any, bc: Broadcast) -> None:
    client.force_login(bc.police_publisher)
    refused = client.post("/admin/broadcast/blockedserver/add/", {"host": "spam.example"})
    # Publishers have no admin: sent to its sign-in page, nothing blocked.
    assert refused.status_code == 302 and refused["Location"].startswith("/admin/login/")
    assert not BlockedServer.objects.exists()
    operator = staff_user("operator", bc.city.city)
    client.force_login(operator)
    added = client.post(
        "/admin/broadcast/blockedserver/add/", {"host": "Spam.Example", "reason": "垃圾信息"}
    )
    assert added.status_code == 302
    (blocked,) = BlockedServer.objects.all()
    assert blocked.host == "spam.example" and blocked.created_by == operator
    assert AuditEvent.objects.get(action="broadcast.federation.block").actor == operator
    assert client.get("/admin/broadcast/remoteactor/").status_code == 200
    assert client.get("/admin/broadcast/delivery/").status_code == 200
    removed = client.post(f"/admin/broadcast/blockedserver/{blocked.pk}/delete/", {"post": "yes"})
    assert removed.status_code == 302 and not BlockedServer.objects.exists()
    assert AuditEvent.objects.filter(action="broadcast.federation.unblock").count() == 1


def test_the_inboxes_take_a_limited_number_of_activities_a_minute(
    client: Any, remote: RemoteServer, bc: Broadcast, settings: Any
) -> None:
    """Past the limit a server (by its actor's host) is answered 429 with Retry-After before
    any signature is checked; another server is not held back by it."""
    from django.core.cache import cache

    cache.clear()
    settings.CIVICHUB_BROADCAST = {"federation_inbox_per_minute": 2}
    activity = follow(remote, "alice", "safe-qingshan")
    body = json.dumps(activity).encode()
    answers = [
        client.post("/broadcast/ap/inbox", data=body, content_type=AP_JSON).status_code
        for _ in range(3)
    ]
    assert answers == [401, 401, 429]  # unsigned: refused, then held back
    held = client.post("/broadcast/ap/inbox", data=body, content_type=AP_JSON)
    assert held["Retry-After"] == "60"
    other = dict(activity, actor="https://elsewhere.example/users/carol")
    answer = client.post(
        "/broadcast/ap/inbox",
        data=json.dumps(other).encode(),
        content_type=AP_JSON,
        REMOTE_ADDR="192.0.2.9",
    )
    assert answer.status_code == 401  # another server from another address: checked as usual
    # One address sending for many servers is held back too.
    many = [
        client.post(
            "/broadcast/ap/inbox",
            data=json.dumps(dict(activity, actor=f"https://s{n}.example/users/x")).encode(),
            content_type=AP_JSON,
            REMOTE_ADDR="192.0.2.10",
        ).status_code
        for n in range(3)
    ]
    assert many == [401, 401, 429]
    assert not RemoteFollow.objects.exists()
