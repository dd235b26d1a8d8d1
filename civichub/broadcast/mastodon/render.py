"""Broadcast's objects as Mastodon's JSON entities: accounts (broadcast accounts "a<pk>",
residents "u<pk>"), statuses (posts; a resident's reply is a comment "c<pk>", a reblog a repost
"r<pk>"), relationships and media attachments."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils.html import escape

from civichub.broadcast import selectors
from civichub.broadcast.mastodon.selectors import NotificationRow
from civichub.broadcast.models import (
    BroadcastAccount,
    Comment,
    ImageState,
    Post,
    PostImage,
    PostVideo,
    Repost,
    VideoState,
)
from civichub.core.models import User


def api_base(request: HttpRequest) -> str:
    """The API base: Mastodon clients expect /api/v1/… and /oauth/… at the site's root."""
    return request.build_absolute_uri("/").rstrip("/")


def timestamp(value: Any) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def account_json(request: HttpRequest, account: BroadcastAccount) -> dict[str, Any]:
    avatar_path = selectors.avatar_url(account)
    avatar = request.build_absolute_uri(avatar_path) if avatar_path else ""
    return {
        "id": f"a{account.pk}",
        "username": account.handle,
        "acct": account.handle,
        "display_name": account.name,
        "url": request.build_absolute_uri(f"/broadcast/@{account.handle}/"),
        "created_at": timestamp(account.created_at),
        "note": account.description,
        "avatar": avatar,
        "avatar_static": avatar,
        "header": "",
        "header_static": "",
        "followers_count": account.followers_count,
        "following_count": 0,
        "statuses_count": account.posts_count,
        "locked": False,
        "bot": False,
        "verified": account.verified,
        "fields": [],
        "emojis": [],
    }


def user_json(request: HttpRequest, user: User, *, viewer: User | None) -> dict[str, Any]:
    """A resident as a Mastodon account. Residents are private people: anyone but the resident
    sees only a pseudonym (`u<pk>`), never their user name, join time or follows."""
    own = viewer is not None and viewer.pk == user.pk
    name = user.username if own else f"u{user.pk}"
    joined = user.date_joined if own else user.date_joined.replace(hour=0, minute=0, second=0)
    return {
        "id": f"u{user.pk}",
        "username": name,
        "acct": name,
        "display_name": name,
        "url": "",
        "created_at": timestamp(joined.replace(microsecond=0)),
        "note": "",
        "avatar": "",
        "avatar_static": "",
        "header": "",
        "header_static": "",
        "followers_count": 0,
        "following_count": selectors.following_count(user) if own else 0,
        "statuses_count": 0,
        "locked": False,
        "bot": False,
        "fields": [],
        "emojis": [],
    }


def status_json(
    request: HttpRequest, post: Post, user: User | None, *, marks: selectors.Marks | None = None
) -> dict[str, Any]:
    if marks is None:
        marks = selectors.marks_for(user, [post.pk])
    url = request.build_absolute_uri(f"/broadcast/posts/{post.pk}/")
    return {
        "id": str(post.pk),
        "uri": url,
        "url": url,
        "created_at": timestamp(post.published_at),
        "edited_at": timestamp(post.edited_at) if post.edited_at else None,
        "account": account_json(request, post.account),
        "content": f"<p>{escape_text(post.text)}</p>",
        "visibility": "public",
        "sensitive": False,
        "spoiler_text": "",
        "in_reply_to_id": None,
        "in_reply_to_account_id": None,
        "reblog": None,
        "mentions": [],
        "media_attachments": media_attachments(request, post),
        "tags": [
            {
                "name": post.category,
                "url": request.build_absolute_uri(f"/broadcast/category/{post.category}/feed.atom"),
            }
        ],
        "emojis": [],
        "reblogs_count": post.reposts_count,
        "favourites_count": post.favourites_count,
        "replies_count": post.comments_count,
        "favourited": post.pk in marks.favourited,
        "reblogged": post.pk in marks.reblogged,
        "language": "zh",
    }


def comment_json(request: HttpRequest, comment: Comment, user: User | None) -> dict[str, Any]:
    """A comment as a reply status: text only (no images, tags or counts of its own)."""
    post_id = comment.post_id
    url = request.build_absolute_uri(f"/broadcast/posts/{post_id}/#c{comment.pk}")
    return {
        "id": f"c{comment.pk}",
        "uri": url,
        "url": url,
        "created_at": timestamp(comment.created_at),
        "edited_at": None,
        "account": user_json(request, comment.author, viewer=user),
        "content": f"<p>{escape_text(comment.text)}</p>",
        "visibility": "public",
        "sensitive": False,
        "spoiler_text": "",
        "in_reply_to_id": f"c{comment.parent_id}" if comment.parent_id else str(post_id),
        "in_reply_to_account_id": (
            f"u{comment.parent.author_id}"
            if comment.parent_id and comment.parent
            else f"a{comment.post.account_id}"
        ),
        "reblog": None,
        "mentions": [],
        "media_attachments": [],
        "tags": [],
        "emojis": [],
        "reblogs_count": 0,
        "favourites_count": 0,
        "replies_count": 0,
        "favourited": False,
        "reblogged": False,
        "language": "zh",
    }


def escape_text(text: str) -> str:
    return str(escape(text))


def relationship_json(account: BroadcastAccount, following: bool) -> dict[str, Any]:
    return {
        "id": f"a{account.pk}",
        "following": following,
        "followed_by": False,
        "requested": False,
        "showing_reblogs": True,
        "notifying": False,
        "blocking": False,
        "muting": False,
        "muting_notifications": False,
        "endorsed": False,
        "domain_blocking": False,
        "note": "",
    }


def reblog_json(request: HttpRequest, repost: Repost, original: Post, user: User) -> dict[str, Any]:
    inner = status_json(request, original, user)
    return {
        **inner,
        "id": f"r{repost.pk}",
        "account": user_json(request, user, viewer=user),
        "reblog": inner,
        "reblogged": True,
    }


def media_json(request: HttpRequest, image: PostImage, *, aspect: bool = False) -> dict[str, Any]:
    """An image as a Mastodon `MediaAttachment`; a status's attachments also give the image's
    aspect ratio (an uploaded one's answer does not). A large upload still being re-encoded has
    null URLs, as Mastodon answers while it processes media."""
    ready = image.state == ImageState.READY
    url = request.build_absolute_uri(selectors.image_url(image)) if ready else None
    size: dict[str, Any] = {
        "width": image.width,
        "height": image.height,
        "size": f"{image.width}x{image.height}",
    }
    if aspect:
        size["aspect"] = round(image.width / image.height, 4) if image.height else 1.0
    return {
        "id": str(image.pk),
        "type": "image",
        "url": url,
        "preview_url": url,
        "remote_url": None,
        "text_url": None,
        "meta": {"original": size, "small": size},
        "description": image.alt_text,
        "blurhash": None,
    }


def video_media_id(video: PostVideo) -> str:
    """Videos are "v<pk>" among media ids, beside the images' plain numbers."""
    return f"v{video.pk}"


def _length(seconds: float) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours)}:{int(minutes):02d}:{secs:05.2f}"


def video_media_json(request: HttpRequest, video: PostVideo) -> dict[str, Any]:
    """A video as a Mastodon `MediaAttachment` of type `video`: the MP4 and its poster once
    transcoded (both null while processing, as Mastodon answers), with the output's meta."""
    ready = video.state == VideoState.READY

    def url(name: str) -> str | None:
        return request.build_absolute_uri(selectors.video_file_url(video, name)) if ready else None

    meta: dict[str, Any] = {}
    if ready:
        width, height = video.out_width, video.out_height
        aspect = round(width / height, 4) if height else 1.0
        fps = 0.0
        numerator, _slash, denominator = video.frame_rate.partition("/")
        with contextlib.suppress(ValueError, ZeroDivisionError):
            fps = float(numerator) / float(denominator or 1)
        size = {"width": width, "height": height, "size": f"{width}x{height}", "aspect": aspect}
        meta = {
            "length": _length(video.duration),
            "duration": round(video.duration, 3),
            "fps": round(fps),
            **size,
            "original": {
                "width": width,
                "height": height,
                "frame_rate": video.frame_rate,
                "duration": round(video.duration, 3),
                "bitrate": video.bitrate,
            },
            "small": size,
        }
    return {
        "id": video_media_id(video),
        "type": "video",
        "url": url("video.mp4"),
        "preview_url": url("poster.jpg"),
        "remote_url": None,
        "text_url": None,
        "meta": meta,
        "description": video.description or None,
        "blurhash": None,
    }


def media_attachments(request: HttpRequest, post: Post) -> list[dict[str, Any]]:
    attachments = [media_json(request, image, aspect=True) for image in post.images.all()]
    video = selectors.post_video(post)
    if video is not None and video.state == VideoState.READY:
        attachments.append(video_media_json(request, video))
    return attachments


def notification_json(
    request: HttpRequest, row: NotificationRow, user: User, marks: selectors.Marks | None = None
) -> dict[str, Any]:
    """An alert as a Mastodon "status" notification (the type Mastodon gives a post by an
    account one asked to be notified about), a reply as a "mention"."""
    if row.comment is not None:
        return {
            "id": f"m{row.comment.pk}",
            "type": "mention",
            "created_at": timestamp(row.comment.created_at),
            "account": user_json(request, row.comment.author, viewer=user),
            "status": comment_json(request, row.comment, user),
        }
    assert row.post is not None
    return {
        "id": str(row.place.pk),
        "type": "status",
        "created_at": timestamp(row.place.at),
        "account": account_json(request, row.post.account),
        "status": status_json(request, row.post, user, marks=marks),
    }
