"""Delivering posts to followers on other servers: publishing, editing or retracting a post
enqueues one task after commit, whatever the number of followers here or elsewhere; that task
writes one Delivery per remote server (its shared inbox where it has one) and enqueues each.
A delivery that fails is tried again later with growing delays (a periodic task picks up the
ones due), until delivered or given up after `federation_max_attempts`."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import task, task_backends

from civichub.broadcast import activitystreams as streams
from civichub.broadcast.conf import broadcast_settings, site_url
from civichub.broadcast.models import (
    AccountKey,
    BlockedServer,
    BroadcastAccount,
    Delivery,
    DeliveryState,
    InstanceKey,
    Post,
    PostState,
    RemoteActor,
)
from civichub.broadcast.queue import priority
from civichub.core.audit import audit_record
from civichub.core.context import acting
from civichub.core.crypto import decrypt_text, encrypt_text
from civichub.core.httpsig import key_pair_new, private_key_load, sign_request
from civichub.core.outbound import OutboundRefused, guarded_session, url_check

logger = logging.getLogger(__name__)

DELIVERY_TIMEOUT = 10
# A claimed delivery is not picked up by the periodic task for this long (one attempt's time).
CLAIM = dt.timedelta(minutes=5)
FIRST_RETRY = dt.timedelta(minutes=1)
LONGEST_RETRY = dt.timedelta(hours=12)
# Statuses after which sending the same request again cannot help (Mastodon's choice too).
_RETRYABLE_CLIENT_ERRORS = frozenset({401, 408, 429})

ACTIVITY_KINDS = ("Create", "Update", "Delete")


def allow_http() -> bool:
    """Plain http only where loopback is allowed (a local test server); never by default."""
    return bool(settings.OUTBOUND_ALLOW_LOOPBACK)


def server_blocked(host: str) -> bool:
    """Whether the host, or a domain it lies under, is blocked."""
    labels = host.lower().rstrip(".").split(".")
    candidates = [".".join(labels[i:]) for i in range(len(labels))]
    return BlockedServer.objects.filter(host__in=candidates).exists()


def account_key(account: BroadcastAccount) -> AccountKey:
    """The account's key pair, made the first time it is needed (an account that existed
    before federation has none yet); the private key is stored encrypted (core.crypto)."""
    found = AccountKey.objects.filter(account=account).first()
    if found is not None:
        return found
    private, public = key_pair_new()
    with transaction.atomic():
        key, created = AccountKey.objects.get_or_create(
            account=account,
            defaults={"public_key_pem": public, "private_key_encrypted": encrypt_text(private)},
        )
        if created:
            audit_record(
                actor=None,
                action="broadcast.federation.key",
                obj=account,
                organisation=account.organisation,
                changes={"key_id": streams.key_id(account)},
            )
    return key


def instance_key() -> InstanceKey:
    """The key pair of the site's own actor (`streams.instance_actor_document`), which signs
    the site's fetches of other servers' actors; made the first time it is needed. Two
    processes making it at once keep the one written first."""
    found = InstanceKey.objects.filter(pk=1).first()
    if found is not None:
        return found
    private, public = key_pair_new()
    with transaction.atomic():
        key, created = InstanceKey.objects.get_or_create(
            pk=1,
            defaults={"public_key_pem": public, "private_key_encrypted": encrypt_text(private)},
        )
        if created:
            audit_record(
                actor=None,
                action="broadcast.federation.instance_key",
                obj=key,
                changes={"key_id": streams.instance_key_id()},
            )
    return key


@lru_cache(maxsize=64)
def _signing_key(encrypted_digest: str, encrypted: bytes) -> Any:
    """A private key (an account's or the site's), decrypted and loaded once per process
    (loading checks the key, which costs more than signing); keyed by the stored ciphertext,
    so a new key is loaded anew."""
    return private_key_load(decrypt_text(encrypted))


def signing_key(key: AccountKey | InstanceKey) -> Any:
    encrypted = bytes(key.private_key_encrypted)
    return _signing_key(hashlib.sha256(encrypted).hexdigest(), encrypted)


_sessions = threading.local()


def _session() -> Any:
    """One guarded session per thread: its connections are kept for the next delivery."""
    session = getattr(_sessions, "session", None)
    if session is None:
        session = _sessions.session = guarded_session()
    return session


def retry_delay(attempts: int) -> dt.timedelta:
    """1 minute after the first failure, then four times longer each time, at most 12 hours."""
    return min(FIRST_RETRY * 4 ** max(attempts - 1, 0), LONGEST_RETRY)


def post_federation_schedule(post: Post, kind: str) -> None:
    """Called by the publishing services inside their transaction: one task after commit (at
    the post's time where it is scheduled and the task backend can wait)."""
    post_id, when = post.pk, post.published_at
    if kind == "Create" and when > timezone.now():
        if task_backends[federate_post.backend].supports_defer:
            transaction.on_commit(
                lambda: federate_post.using(run_after=when).enqueue(post_id, kind)
            )
        return
    transaction.on_commit(lambda: federate_post.enqueue(post_id, kind))


def remote_inboxes(account: BroadcastAccount) -> list[str]:
    """The inboxes one activity of the account goes to: one per server that follows it (the
    shared inbox where the server has one), blocked servers left out."""
    inboxes: dict[str, None] = {}
    actors = RemoteActor.objects.filter(follows__account=account).values_list(
        "inbox", "shared_inbox", "host"
    )
    blocked = set(BlockedServer.objects.values_list("host", flat=True))
    for inbox, shared, host in actors:
        labels = host.split(".")
        if any(".".join(labels[i:]) in blocked for i in range(len(labels))):
            continue
        inboxes[shared or inbox] = None
    return list(inboxes)


def post_federate(*, post_id: int, kind: str) -> int:
    """Writes and enqueues the deliveries of one activity about a post; returns how many."""
    if kind not in ACTIVITY_KINDS:
        raise ValueError(kind)
    post = (
        Post.objects.select_related("account", "video")
        .prefetch_related("images")
        .filter(pk=post_id)
        .first()
    )
    if post is None:
        return 0
    live = post.state == PostState.PUBLISHED and post.published_at <= timezone.now()
    if kind != "Delete" and not live:
        return 0
    inboxes = remote_inboxes(post.account)
    if not inboxes:
        return 0
    activity = {
        "Create": streams.create_activity,
        "Update": streams.update_activity,
        "Delete": streams.delete_activity,
    }[kind](post)
    with transaction.atomic():
        rows = Delivery.objects.bulk_create(
            Delivery(post=post, account=post.account, inbox=inbox, activity=activity)
            for inbox in inboxes
        )
        ids = [row.pk for row in rows]
        transaction.on_commit(lambda: [deliver.enqueue(pk) for pk in ids])
    return len(ids)


def _claimed(delivery_id: int) -> Delivery | None:
    now = timezone.now()
    claimed = Delivery.objects.filter(
        pk=delivery_id, state=DeliveryState.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + CLAIM)
    if not claimed:
        return None
    return Delivery.objects.select_related("account").get(pk=delivery_id)


def _send(delivery: Delivery) -> tuple[bool, bool, str]:
    """One attempt: (delivered, worth retrying, error)."""
    host = (urlsplit(delivery.inbox).hostname or "").lower()
    if server_blocked(host):
        return False, False, "blocked"
    key = account_key(delivery.account)
    body = json.dumps(delivery.activity, ensure_ascii=False).encode()
    headers = sign_request(
        method="POST",
        url=delivery.inbox,
        body=body,
        key_id=streams.key_id(delivery.account),
        private_key_pem=signing_key(key),
        now=timezone.now(),
    )
    headers["Content-Type"] = streams.ACTIVITY_JSON
    headers["User-Agent"] = f"civichub ({site_url()})"
    try:
        url_check(delivery.inbox, allow_http=allow_http())
        response = _session().post(
            delivery.inbox,
            data=body,
            headers=headers,
            timeout=DELIVERY_TIMEOUT,
            allow_redirects=False,
        )
    except OutboundRefused as exc:
        return False, False, f"refused: {exc.reason}"
    except requests.RequestException as exc:
        return False, True, type(exc).__name__
    status = response.status_code
    if 200 <= status < 300:
        return True, False, ""
    retry = not (400 <= status < 500) or status in _RETRYABLE_CLIENT_ERRORS
    return False, retry, f"HTTP {status}"


def delivery_attempt(*, delivery_id: int) -> bool:
    """Tries one delivery that is due; a failure is left for a later try or given up."""
    delivery = _claimed(delivery_id)
    if delivery is None:
        return False
    delivered, retry, error = _send(delivery)
    now = timezone.now()
    attempts = delivery.attempts + 1
    fields: dict[str, Any] = {"attempts": attempts, "last_error": error[:200]}
    if delivered:
        fields |= {"state": DeliveryState.DELIVERED, "delivered_at": now}
    elif retry and attempts < broadcast_settings().federation_max_attempts:
        fields["next_attempt_at"] = now + retry_delay(attempts)
    else:
        fields["state"] = DeliveryState.FAILED
    Delivery.objects.filter(pk=delivery.pk).update(**fields)
    if not delivered:
        logger.info("delivery %s to %s failed (%s)", delivery.pk, delivery.inbox, error)
    return delivered


def deliveries_due() -> int:
    """Enqueues the deliveries whose next try is due (periodic); returns how many."""
    due = list(
        Delivery.objects.filter(
            state=DeliveryState.PENDING, attempts__gt=0, next_attempt_at__lte=timezone.now()
        ).values_list("pk", flat=True)[:1000]
    )
    for pk in due:
        deliver.enqueue(pk)
    return len(due)


@task(priority=priority(40))
def federate_post(post_id: int, kind: str) -> int:
    with acting(channel="task"):
        return post_federate(post_id=int(post_id), kind=kind)


@task(priority=priority(40))
def deliver(delivery_id: int) -> bool:
    with acting(channel="task"):
        return delivery_attempt(delivery_id=int(delivery_id))
