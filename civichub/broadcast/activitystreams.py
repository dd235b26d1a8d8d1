"""ActivityStreams documents of broadcast's accounts and posts, as servers elsewhere read them:
the actor (with its public key), the site's own actor (whose key signs the site's fetches),
notes, the activities delivered to followers, the outbox and followers collections, and the
WebFinger answers. Every address is on the configured site (`conf.absolute`), never a request's
Host header. Reads only; keys are made by the services."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape, linebreaks

from civichub.broadcast.conf import absolute, site_url
from civichub.broadcast.models import (
    BroadcastAccount,
    ImageState,
    Post,
    PostState,
    RemoteFollow,
    RemoteInteraction,
    RemoteInteractionKind,
    VideoState,
)

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
CONTEXT = ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"]
ACTIVITY_JSON = "application/activity+json"
OUTBOX_PAGE_SIZE = 20


def actor_id(account: BroadcastAccount) -> str:
    return absolute(reverse("broadcast:ap_actor", args=[account.handle]))


def key_id(account: BroadcastAccount) -> str:
    return actor_id(account) + "#main-key"


def followers_id(account: BroadcastAccount) -> str:
    return absolute(reverse("broadcast:ap_followers", args=[account.handle]))


def note_id(post: Post) -> str:
    return absolute(reverse("broadcast:ap_note", args=[post.pk]))


def shared_inbox_id() -> str:
    return absolute(reverse("broadcast:ap_shared_inbox"))


def site_host() -> str:
    """The host (and port, where not the default) in `acct:handle@host`."""
    return site_url().split("://", 1)[1].split("/", 1)[0]


# The site's own actor is found as `acct:civichub.internal@<host>` (Mastodon's instance actor is
# `mastodon.internal`): a name with a dot, which no account's handle (a slug) can take.
INSTANCE_ACTOR_NAME = "civichub.internal"


def instance_actor_id() -> str:
    return absolute(reverse("broadcast:ap_instance_actor"))


def instance_key_id() -> str:
    return instance_actor_id() + "#main-key"


def instance_actor_document(public_key_pem: str) -> dict[str, Any]:
    """The site itself as an `Application`: its key signs the site's fetches of other servers'
    actors (servers in secure mode answer only signed fetches). Nobody follows it; what
    reaches its inbox goes to the shared inbox."""
    actor = instance_actor_id()
    return {
        "@context": CONTEXT,
        "id": actor,
        "type": "Application",
        "preferredUsername": INSTANCE_ACTOR_NAME,
        "name": site_host(),
        "url": site_url() + "/",
        "inbox": shared_inbox_id(),
        "outbox": absolute(reverse("broadcast:ap_instance_outbox")),
        "endpoints": {"sharedInbox": shared_inbox_id()},
        "manuallyApprovesFollowers": True,
        "discoverable": False,
        "publicKey": {"id": instance_key_id(), "owner": actor, "publicKeyPem": public_key_pem},
    }


def instance_outbox_document() -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "id": absolute(reverse("broadcast:ap_instance_outbox")),
        "type": "OrderedCollection",
        "totalItems": 0,
        "orderedItems": [],
    }


def actor_document(account: BroadcastAccount, public_key_pem: str) -> dict[str, Any]:
    actor = actor_id(account)
    document: dict[str, Any] = {
        "@context": CONTEXT,
        "id": actor,
        # A government department, not a person: Mastodon shows Organization like a Person.
        "type": "Organization",
        "preferredUsername": account.handle,
        "name": account.name,
        "summary": escape(account.description),
        "url": absolute(reverse("broadcast:account", args=[account.handle])),
        "inbox": absolute(reverse("broadcast:ap_inbox", args=[account.handle])),
        "outbox": absolute(reverse("broadcast:ap_outbox", args=[account.handle])),
        "followers": followers_id(account),
        "endpoints": {"sharedInbox": shared_inbox_id()},
        "manuallyApprovesFollowers": False,
        "discoverable": True,
        "published": _time(account.created_at),
        "publicKey": {"id": key_id(account), "owner": actor, "publicKeyPem": public_key_pem},
    }
    if account.avatar:
        document["icon"] = {
            "type": "Image",
            "mediaType": account.avatar_content_type,
            "url": absolute(reverse("broadcast:avatar", args=[account.handle])),
        }
    return document


def _time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _content(post: Post) -> str:
    """The post's text as HTML; an alert leads with its event and its words for residents."""
    text = linebreaks(escape(post.text))
    if post.is_alert:
        headline = escape(f"⚠ {post.cap_event} · {post.cap_words}")
        text = f"<p><strong>{headline}</strong></p>{text}"
        if post.cap_instruction:
            text += linebreaks(escape(post.cap_instruction))
    return text


def _attachments(post: Post) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [
        {
            "type": "Document",
            "mediaType": image.content_type,
            "url": absolute(reverse("broadcast:image", args=[image.pk])),
            "name": image.alt_text,
            "width": image.width,
            "height": image.height,
        }
        for image in post.images.all()
        if image.state == ImageState.READY
    ]
    video = getattr(post, "video", None)
    if video is not None and video.state == VideoState.READY:
        found.append(
            {
                "type": "Document",
                "mediaType": "video/mp4",
                "url": absolute(reverse("broadcast:video_file", args=[video.pk, "video.mp4"])),
                "name": video.description,
                "width": video.out_width,
                "height": video.out_height,
            }
        )
    return found


def note_document(post: Post, *, with_context: bool = True) -> dict[str, Any]:
    account = post.account
    note: dict[str, Any] = {
        "id": note_id(post),
        "type": "Note",
        "attributedTo": actor_id(account),
        "content": _content(post),
        "contentMap": {"zh-Hans": _content(post)},
        "published": _time(post.published_at),
        "url": absolute(reverse("broadcast:post", args=[post.pk])),
        "to": [PUBLIC],
        "cc": [followers_id(account)],
        "sensitive": False,
        "attachment": _attachments(post),
        "tag": [],
    }
    if post.text_en:
        note["contentMap"]["en"] = linebreaks(escape(post.text_en))
    if post.edited_at is not None:
        note["updated"] = _time(post.edited_at)
    counts = remote_counts(post)
    note["likes"] = {"type": "Collection", "totalItems": post.favourites_count + counts["like"]}
    note["shares"] = {"type": "Collection", "totalItems": post.reposts_count + counts["announce"]}
    if with_context:
        note["@context"] = CONTEXT
    return note


def create_activity(post: Post) -> dict[str, Any]:
    return _wrap(post, "Create", f"{note_id(post)}#create", note_document(post, with_context=False))


def update_activity(post: Post) -> dict[str, Any]:
    edited = post.edited_at or timezone.now()
    return _wrap(
        post,
        "Update",
        f"{note_id(post)}#update-{int(edited.timestamp())}",
        note_document(post, with_context=False),
    )


def delete_activity(post: Post) -> dict[str, Any]:
    tombstone = {"id": note_id(post), "type": "Tombstone"}
    return _wrap(post, "Delete", f"{note_id(post)}#delete", tombstone)


def _wrap(post: Post, kind: str, activity_id: str, obj: dict[str, Any]) -> dict[str, Any]:
    account = post.account
    return {
        "@context": CONTEXT,
        "id": activity_id,
        "type": kind,
        "actor": actor_id(account),
        "published": _time(post.edited_at or post.published_at),
        "to": [PUBLIC],
        "cc": [followers_id(account)],
        "object": obj,
    }


def accept_activity(
    account: BroadcastAccount, follow: dict[str, Any], number: int
) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "id": f"{actor_id(account)}#accepts/{number}",
        "type": "Accept",
        "actor": actor_id(account),
        "object": follow,
    }


def outbox_posts(account: BroadcastAccount) -> Any:
    return Post.objects.filter(
        account=account, state=PostState.PUBLISHED, published_at__lte=timezone.now()
    )


def outbox_document(account: BroadcastAccount, *, page: bool, max_id: int | None) -> dict[str, Any]:
    outbox = absolute(reverse("broadcast:ap_outbox", args=[account.handle]))
    posts = outbox_posts(account)
    if not page:
        return {
            "@context": CONTEXT,
            "id": outbox,
            "type": "OrderedCollection",
            "totalItems": posts.count(),
            "first": f"{outbox}?page=true",
            "last": f"{outbox}?page=true&min_id=0",
        }
    if max_id is not None:
        posts = posts.filter(pk__lt=max_id)
    found = list(
        posts.select_related("account", "video")
        .prefetch_related("images")
        .order_by("-pk")[:OUTBOX_PAGE_SIZE]
    )
    document: dict[str, Any] = {
        "@context": CONTEXT,
        "id": f"{outbox}?page=true" + (f"&max_id={max_id}" if max_id is not None else ""),
        "type": "OrderedCollectionPage",
        "partOf": outbox,
        "orderedItems": [create_activity(post) for post in found],
    }
    if len(found) == OUTBOX_PAGE_SIZE:
        document["next"] = f"{outbox}?page=true&max_id={found[-1].pk}"
    return document


def followers_document(account: BroadcastAccount) -> dict[str, Any]:
    """The count of followers, here and elsewhere; the remote followers' addresses only where
    the account shows them, residents here never (who follows what is theirs)."""
    remote = RemoteFollow.objects.filter(account=account).select_related("actor")
    document: dict[str, Any] = {
        "@context": CONTEXT,
        "id": followers_id(account),
        "type": "OrderedCollection",
        "totalItems": account.followers_count + remote.count(),
    }
    if account.show_remote_followers:
        document["orderedItems"] = sorted(follow.actor.uri for follow in remote)
    return document


def webfinger_document(account: BroadcastAccount) -> dict[str, Any]:
    actor = actor_id(account)
    page = absolute(reverse("broadcast:account", args=[account.handle]))
    return {
        "subject": f"acct:{account.handle}@{site_host()}",
        "aliases": [actor, page],
        "links": [
            {"rel": "self", "type": ACTIVITY_JSON, "href": actor},
            {"rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": page},
        ],
    }


def instance_webfinger_document() -> dict[str, Any]:
    actor = instance_actor_id()
    return {
        "subject": f"acct:{INSTANCE_ACTOR_NAME}@{site_host()}",
        "aliases": [actor],
        "links": [{"rel": "self", "type": ACTIVITY_JSON, "href": actor}],
    }


def remote_counts(post: Post) -> dict[str, int]:
    """Likes, announces and replies from other servers; held replies apart."""
    totals = RemoteInteraction.objects.filter(post=post).aggregate(
        like=Count("pk", filter=Q(kind=RemoteInteractionKind.LIKE)),
        announce=Count("pk", filter=Q(kind=RemoteInteractionKind.ANNOUNCE)),
        reply=Count("pk", filter=Q(kind=RemoteInteractionKind.REPLY, held=False)),
        held=Count("pk", filter=Q(kind=RemoteInteractionKind.REPLY, held=True)),
    )
    return {key: int(value or 0) for key, value in totals.items()}
