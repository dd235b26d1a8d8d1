"""Followers on other servers (ActivityPub): the accounts' key pairs, the actors of other
servers (fetched through core's guarded HTTP client, signed by the site's own actor), what
their inboxes accept — `Follow` and `Undo`, `Like`, `Announce` and replies — and the servers
operators block.

Every request to an inbox is refused unless: its server is not blocked; it is signed (draft-cavage
as Mastodon sends it, or RFC 9421) by a key of the activity's actor, fetched from that actor;
the body's digest matches; its time is within the window; and its signature was not seen before
within the window (a replay)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urldefrag, urlsplit

import requests
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.utils.html import strip_tags
from django.utils.translation import gettext as _

from civichub.broadcast import activitystreams as streams
from civichub.broadcast.conf import broadcast_settings, site_url
from civichub.broadcast.models import (
    COMMENT_MAX_CHARS,
    BlockedServer,
    BroadcastAccount,
    Delivery,
    DeliveryState,
    Post,
    PostState,
    RemoteActor,
    RemoteFollow,
    RemoteInteraction,
    RemoteInteractionKind,
    SeenSignature,
)
from civichub.broadcast.services.delivery import (
    allow_http,
    deliver,
    instance_key,
    server_blocked,
    signing_key,
)
from civichub.core.audit import audit_record
from civichub.core.errors import (
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationFailed,
)
from civichub.core.httpsig import SignatureRefused, sign_request, verify_request
from civichub.core.models import User
from civichub.core.outbound import OutboundRefused, guarded_session, url_check
from civichub.core.permissions import require

logger = logging.getLogger(__name__)

# A remote actor's key is fetched again after this long (and at once when a signature fails
# with the stored one: the actor may have changed its key).
ACTOR_REFRESH = dt.timedelta(days=1)
FETCH_TIMEOUT = 10
ACTIVITY_MAX_BYTES = 256 * 1024
HOST_MAX_CHARS = 255


def signature_window() -> dt.timedelta:
    return dt.timedelta(seconds=broadcast_settings().federation_signature_seconds)


# Blocked servers ------------------------------------------------------------------------------


def host_normalised(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if not host or len(host) > HOST_MAX_CHARS or any(c in host for c in "/@ :\t"):
        raise ValidationFailed.on("host", _("请填写服务器的域名，例如 example.social。"))
    return host


@transaction.atomic
def blocked_server_add(*, actor: User | None, host: str, reason: str = "") -> BlockedServer:
    """Blocks a server: its requests are refused from now on, its actors' follows end and
    nothing more is delivered to it."""
    if actor is not None:
        require(actor, "broadcast.federation.manage")
    host = host_normalised(host)
    blocked, created = BlockedServer.objects.get_or_create(
        host=host, defaults={"reason": reason.strip()[:200], "created_by": actor}
    )
    if not created:
        return blocked
    suffix = "." + host
    on_host = [
        pk
        for pk, actor_host in RemoteActor.objects.values_list("pk", "host")
        if actor_host == host or actor_host.endswith(suffix)
    ]
    ended, _kinds = RemoteFollow.objects.filter(actor_id__in=on_host).delete()
    dropped = 0
    for delivery in Delivery.objects.filter(state=DeliveryState.PENDING).only("pk", "inbox"):
        inbox_host = (urlsplit(delivery.inbox).hostname or "").lower()
        if inbox_host == host or inbox_host.endswith(suffix):
            dropped += Delivery.objects.filter(pk=delivery.pk).update(
                state=DeliveryState.FAILED, last_error="blocked"
            )
    audit_record(
        actor=actor,
        action="broadcast.federation.block",
        obj=blocked,
        changes={
            "host": host,
            "reason": blocked.reason,
            "follows_ended": ended,
            "dropped": dropped,
        },
    )
    return blocked


@transaction.atomic
def blocked_server_remove(*, actor: User | None, host: str) -> bool:
    if actor is not None:
        require(actor, "broadcast.federation.manage")
    blocked = BlockedServer.objects.filter(host=host_normalised(host)).first()
    if blocked is None:
        return False
    audit_record(
        actor=actor, action="broadcast.federation.unblock", obj=blocked, changes={"host": host}
    )
    blocked.delete()
    return True


# Remote actors --------------------------------------------------------------------------------


def _id_of(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("id", "")
    return value if isinstance(value, str) else ""


def _fetch_json(url: str) -> dict[str, Any]:
    """A document of another server, fetched with a GET signed by the site's own actor (as
    Mastodon signs its fetches: draft-cavage over (request-target), host and date), which
    servers in secure mode require and the others ignore."""
    url_check(url, allow_http=allow_http())
    headers = sign_request(
        method="GET",
        url=url,
        body=b"",
        key_id=streams.instance_key_id(),
        private_key_pem=signing_key(instance_key()),
        now=timezone.now(),
    )
    headers |= {"Accept": streams.ACTIVITY_JSON, "User-Agent": f"civichub ({site_url()})"}
    response = guarded_session().get(
        url, headers=headers, timeout=FETCH_TIMEOUT, allow_redirects=False
    )
    if response.status_code != 200 or len(response.content) > ACTIVITY_MAX_BYTES:
        raise SignatureRefused("key")
    document = response.json()
    if not isinstance(document, dict):
        raise SignatureRefused("key")
    return document


def remote_actor_fetch(uri: str) -> RemoteActor:
    """Fetches an actor (or the key document a key id names, then its owner) and stores its
    inboxes and public key."""
    try:
        document = _fetch_json(uri)
        if "inbox" not in document and _id_of(document.get("owner")):
            document = _fetch_json(_id_of(document["owner"]))
    except (OutboundRefused, requests.RequestException, ValueError) as exc:
        raise SignatureRefused("key") from exc
    actor_uri = _id_of(document)
    key = document.get("publicKey")
    key = key[0] if isinstance(key, list) and key else key
    inbox = _id_of(document.get("inbox"))
    endpoints = document.get("endpoints")
    shared = _id_of(endpoints.get("sharedInbox")) if isinstance(endpoints, dict) else ""
    if not isinstance(key, dict) or not actor_uri or not inbox:
        raise SignatureRefused("key")
    host = (urlsplit(actor_uri).hostname or "").lower()
    # An actor speaks for its own server only: its key, inbox and shared inbox lie there.
    for url in (_id_of(key.get("id")), inbox, shared):
        if url and (urlsplit(url).hostname or "").lower() != host:
            raise SignatureRefused("key")
    remote, _created = RemoteActor.objects.update_or_create(
        uri=actor_uri,
        defaults={
            "host": host,
            "inbox": inbox,
            "shared_inbox": shared,
            "key_id": _id_of(key.get("id")) or f"{actor_uri}#main-key",
            "public_key_pem": str(key.get("publicKeyPem", "")),
            "fetched_at": timezone.now(),
        },
    )
    return remote


class _Keys:
    """The public keys a verification asks for: stored ones first, fetched where missing or
    old; `refetch` fetches again (after a stored key failed)."""

    def __init__(self, actor_host: str, *, refetch: bool) -> None:
        self.actor_host = actor_host
        self.refetch = refetch
        self.used_stored = False

    def __call__(self, key_id: str) -> str:
        if (urlsplit(key_id).hostname or "").lower() != self.actor_host:
            raise SignatureRefused("key")
        stored = RemoteActor.objects.filter(key_id=key_id).first()
        fresh = stored is not None and timezone.now() - stored.fetched_at < ACTOR_REFRESH
        if stored is not None and fresh and not self.refetch:
            self.used_stored = True
            return stored.public_key_pem
        remote = remote_actor_fetch(urldefrag(key_id)[0])
        if remote.key_id != key_id:
            raise SignatureRefused("key")
        return remote.public_key_pem


# The inbox ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxRequest:
    """A request to an inbox: `url` is its address on the configured site."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    address: str | None = None  # the client's address, for the inbox's rate limit


def _verified(request: InboxRequest, actor_uri: str) -> str:
    """The replay key of the request's verified signature by the actor, or NotAuthenticated."""
    host = (urlsplit(actor_uri).hostname or "").lower()
    now = timezone.now()
    for refetch in (False, True):
        keys = _Keys(host, refetch=refetch)
        try:
            signed = verify_request(
                method=request.method,
                url=request.url,
                headers=request.headers,
                body=request.body,
                public_key_for=keys,
                now=now,
                window=signature_window(),
            )
        except SignatureRefused as exc:
            if keys.used_stored and exc.reason == "signature":
                continue
            raise NotAuthenticated(_("签名无效。"), reason=exc.reason) from exc
        owner = RemoteActor.objects.filter(key_id=signed.key_id).first()
        if owner is None or owner.uri != actor_uri:
            raise NotAuthenticated(_("签名无效。"), reason="owner")
        return signed.replay_key
    raise NotAuthenticated(_("签名无效。"), reason="signature")


def _remember_signature(replay_key: str) -> None:
    try:
        with transaction.atomic():
            SeenSignature.objects.create(
                digest=replay_key, expires_at=timezone.now() + 2 * signature_window()
            )
    except IntegrityError as exc:
        raise NotAuthenticated(_("请求重复。"), reason="replay") from exc


def _inbox_allow(host: str, address: str | None) -> None:
    """Counts an activity against its server's and its client address's minute; past
    `federation_inbox_per_minute` either way it is refused (429) before its signature is
    checked (which may fetch a key)."""
    limit = broadcast_settings().federation_inbox_per_minute
    minute = int(time.time() // 60)
    for kind, who in (("server", host), ("address", address or "-")):
        key = f"broadcast:inbox:{kind}:{who}:{minute}"
        cache.add(key, 0, 120)
        if int(cache.incr(key)) > limit:
            raise RateLimited(_("该服务器发来的活动过多，请稍后再试。"), limit=kind)


def inbox_receive(*, handle: str | None, request: InboxRequest) -> str:
    """Accepts one activity sent to an account's inbox (`handle`) or to the shared inbox, and
    returns what was done with it ("follow", "undo", "like", …, "ignored")."""
    if len(request.body) > ACTIVITY_MAX_BYTES:
        raise ValidationFailed.on("body", _("内容过大。"))
    try:
        activity = json.loads(request.body)
    except ValueError as exc:
        raise ValidationFailed.on("body", _("不是有效的 JSON。")) from exc
    if not isinstance(activity, dict):
        raise ValidationFailed.on("body", _("不是有效的活动。"))
    actor_uri = _id_of(activity.get("actor"))
    host = (urlsplit(actor_uri).hostname or "").lower()
    if not host:
        raise ValidationFailed.on("actor", _("缺少发送者。"))
    if server_blocked(host):
        raise PermissionDenied(_("该服务器已被屏蔽。"), action="broadcast.federation.blocked")
    _inbox_allow(host, request.address)
    account = None
    if handle is not None:
        account = BroadcastAccount.objects.filter(handle=handle).first()
        if account is None:
            raise NotFound(_("没有这个账号。"))
    replay_key = _verified(request, actor_uri)
    with transaction.atomic():
        _remember_signature(replay_key)
        return _activity_apply(activity, actor_uri, account)


def _local_target(url: str) -> tuple[str, dict[str, Any]] | None:
    """The view name and arguments of an address on this site, or None."""
    if not url.startswith(site_url() + "/"):
        return None
    try:
        match = resolve(urlsplit(url).path)
    except Resolver404:
        return None
    return match.url_name or "", match.kwargs


def _account_named(url: str) -> BroadcastAccount | None:
    target = _local_target(url)
    if target is None or target[0] != "ap_actor":
        return None
    return BroadcastAccount.objects.filter(handle=target[1]["handle"]).first()


def _post_named(url: str) -> Post | None:
    target = _local_target(url)
    if target is None or target[0] not in ("ap_note", "post"):
        return None
    return Post.objects.filter(
        pk=target[1]["post_id"], state=PostState.PUBLISHED, published_at__lte=timezone.now()
    ).first()


def _activity_apply(
    activity: dict[str, Any], actor_uri: str, inbox_account: BroadcastAccount | None
) -> str:
    kind = activity.get("type")
    obj = activity.get("object")
    activity_id = _id_of(activity)
    if kind == "Follow":
        account = _account_named(_id_of(obj))
        if account is None or (inbox_account is not None and account != inbox_account):
            raise NotFound(_("没有这个账号。"))
        return _follow_accept(account, actor_uri, activity)
    if kind == "Undo" and isinstance(obj, dict | str):
        return _undo(actor_uri, obj if isinstance(obj, dict) else {"id": obj})
    if kind in ("Like", "Announce") and activity_id:
        post = _post_named(_id_of(obj))
        if post is None:
            return "ignored"
        interaction = (
            RemoteInteractionKind.LIKE if kind == "Like" else RemoteInteractionKind.ANNOUNCE
        )
        return _interaction_record(post, interaction, actor_uri, activity_id)
    if kind == "Create" and isinstance(obj, dict) and obj.get("type") == "Note":
        post = _post_named(_id_of(obj.get("inReplyTo")))
        if post is None or _id_of(obj.get("attributedTo")) != actor_uri:
            return "ignored"
        return _reply_hold(post, actor_uri, activity_id or _id_of(obj), obj)
    if kind == "Delete":
        return _delete(actor_uri, _id_of(obj))
    return "ignored"


def _follow_accept(account: BroadcastAccount, actor_uri: str, follow: dict[str, Any]) -> str:
    remote = RemoteActor.objects.get(uri=actor_uri)
    record, created = RemoteFollow.objects.update_or_create(
        account=account, actor=remote, defaults={"activity_id": _id_of(follow)}
    )
    if created:
        audit_record(
            actor=None,
            action="broadcast.federation.follow",
            obj=account,
            organisation=account.organisation,
            changes={"remote_actor": actor_uri},
        )
    accept = streams.accept_activity(account, follow, record.pk)
    # The Accept goes to the follower's own inbox, as Mastodon expects it.
    delivery = Delivery.objects.create(account=account, inbox=remote.inbox, activity=accept)
    transaction.on_commit(lambda: deliver.enqueue(delivery.pk))
    return "follow"


def _undo(actor_uri: str, undone: dict[str, Any]) -> str:
    undone_id, kind = _id_of(undone), undone.get("type")
    if (
        kind in ("Like", "Announce")
        or RemoteInteraction.objects.filter(activity_id=undone_id).exists()
    ):
        found = RemoteInteraction.objects.filter(activity_id=undone_id, actor_uri=actor_uri)
        post = found.select_related("post__account__organisation").first()
        if post is None:
            return "ignored"
        audit_record(
            actor=None,
            action="broadcast.federation.interaction_undo",
            obj=post.post,
            organisation=post.post.account.organisation,
            changes={"kind": post.kind, "remote_actor": actor_uri},
        )
        found.delete()
        return "undo"
    follows = RemoteFollow.objects.filter(actor__uri=actor_uri)
    if kind == "Follow" and _id_of(undone.get("object")):
        account = _account_named(_id_of(undone.get("object")))
        follows = follows.filter(account=account)
    else:
        follows = follows.filter(activity_id=undone_id)
    ended = 0
    for follow in follows.select_related("account__organisation"):
        audit_record(
            actor=None,
            action="broadcast.federation.unfollow",
            obj=follow.account,
            organisation=follow.account.organisation,
            changes={"remote_actor": actor_uri},
        )
        follow.delete()
        ended += 1
    return "undo" if ended else "ignored"


def _interaction_record(post: Post, kind: str, actor_uri: str, activity_id: str) -> str:
    _found, created = RemoteInteraction.objects.get_or_create(
        activity_id=activity_id,
        defaults={"post": post, "kind": kind, "actor_uri": actor_uri},
    )
    if created:
        audit_record(
            actor=None,
            action="broadcast.federation.interaction",
            obj=post,
            organisation=post.account.organisation,
            changes={"kind": kind, "remote_actor": actor_uri},
        )
    return str(kind)


def _reply_hold(post: Post, actor_uri: str, activity_id: str, note: dict[str, Any]) -> str:
    """A reply from elsewhere is held, like a comment a keyword filter holds, until the
    account's staff release it."""
    content = note.get("content")
    text = strip_tags(content if isinstance(content, str) else "").strip()[:COMMENT_MAX_CHARS]
    _found, created = RemoteInteraction.objects.get_or_create(
        activity_id=activity_id,
        defaults={
            "post": post,
            "kind": RemoteInteractionKind.REPLY,
            "actor_uri": actor_uri,
            "object_id": _id_of(note),
            "text": text,
            "held": True,
        },
    )
    if created:
        audit_record(
            actor=None,
            action="broadcast.federation.reply",
            obj=post,
            organisation=post.account.organisation,
            changes={"remote_actor": actor_uri, "held": True},
        )
    return "reply"


def _delete(actor_uri: str, deleted: str) -> str:
    if deleted == actor_uri:
        removed, _kinds = RemoteActor.objects.filter(uri=actor_uri).delete()
        if removed:
            audit_record(
                actor=None,
                action="broadcast.federation.actor_delete",
                object_type="broadcast.remoteactor",
                object_id=actor_uri[:200],
                changes={"remote_actor": actor_uri},
            )
        return "delete"
    replies = RemoteInteraction.objects.filter(object_id=deleted, actor_uri=actor_uri)
    reply = replies.select_related("post__account__organisation").first()
    if reply is None or not deleted:
        return "ignored"
    audit_record(
        actor=None,
        action="broadcast.federation.reply_delete",
        obj=reply.post,
        organisation=reply.post.account.organisation,
        changes={"remote_actor": actor_uri},
    )
    replies.delete()
    return "delete"


@transaction.atomic
def remote_reply_release(*, actor: User | None, interaction_id: int) -> RemoteInteraction:
    """Shows a held reply from another server (the account's staff, like held comments)."""
    reply = (
        RemoteInteraction.objects.select_related("post__account__organisation")
        .select_for_update(of=("self",))
        .filter(pk=interaction_id, kind=RemoteInteractionKind.REPLY)
        .first()
    )
    if reply is None:
        raise NotFound(_("没有这条回复。"))
    if actor is not None:
        require(actor, "broadcast.comment.moderate", reply.post.account)
    if reply.held:
        reply.held = False
        reply.save(update_fields=["held"])
        audit_record(
            actor=actor,
            action="broadcast.federation.reply_release",
            obj=reply.post,
            organisation=reply.post.account.organisation,
            changes={"interaction": reply.pk},
        )
    return reply


@transaction.atomic
def remote_followers_show(
    *, actor: User | None, account: BroadcastAccount, show: bool
) -> BroadcastAccount:
    """Whether the account's followers collection lists its followers on other servers (its
    count is public either way; residents who follow are never listed)."""
    if actor is not None:
        require(actor, "broadcast.post.publish", account)
    if account.show_remote_followers != show:
        BroadcastAccount.objects.filter(pk=account.pk).update(show_remote_followers=show)
        account.show_remote_followers = show
        audit_record(
            actor=actor,
            action="broadcast.federation.followers_shown",
            obj=account,
            organisation=account.organisation,
            changes={"show_remote_followers": show},
        )
    return account


def seen_signatures_expire() -> int:
    """Forgets signatures older than the window (they would be refused for their time now)."""
    removed, _kinds = SeenSignature.objects.filter(expires_at__lt=timezone.now()).delete()
    return removed
