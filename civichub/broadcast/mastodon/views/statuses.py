"""Mastodon's statuses: broadcast's posts, the residents' replies (comments "c<pk>") and
reblogs (reposts "r<pk>"); posting, editing, retracting, favouriting and reblogging them;
media for a coming status; a status's thread, history and source."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from civichub.broadcast import selectors, services
from civichub.broadcast.mastodon.endpoint import (
    READ_STATUSES,
    WRITE_FAVOURITES,
    WRITE_MEDIA,
    WRITE_STATUSES,
    endpoint,
)
from civichub.broadcast.mastodon.render import (
    account_json,
    comment_json,
    escape_text,
    media_attachments,
    media_json,
    reblog_json,
    status_json,
    timestamp,
    video_media_json,
)
from civichub.broadcast.mastodon.selectors import (
    comment_of,
    post_of,
    publishing_account,
    status_ref,
)
from civichub.core.errors import NotFound, ValidationFailed
from civichub.core.http import request_user, request_user_or_none
from civichub.core.models import User


@endpoint(scopes_needed=WRITE_STATUSES, methods=("POST",))
def status_post(request: HttpRequest) -> HttpResponse:
    """A publisher's status is a post of the first account they may publish for; a status in
    reply to a post (or to a comment on it) is a comment.

    With an `Idempotency-Key` header, a retry of the same request (a client that lost the
    answer) gets the status made the first time instead of a second one, through the services'
    one mechanism for repeated submissions (`services.submit_once`)."""
    user = request_user(request)

    def made_before(status_id: str) -> JsonResponse:
        kind, pk = status_ref(status_id)
        if kind == "comment":
            return JsonResponse(comment_json(request, comment_of(pk), user))
        return JsonResponse(status_json(request, post_of(status_id), user))

    key = request.headers.get("Idempotency-Key", "").strip()
    response, _repeated = services.submit_once(
        actor=user,
        key=f"mastodon:{key}" if key else "",
        submit=lambda: _status_create(request, user),
        ref=lambda made: str(json.loads(made.content)["id"]),
        load=made_before,
    )
    return response


def _status_create(request: HttpRequest, user: User) -> JsonResponse:
    text = request.POST.get("status", "")
    if request.POST.get("visibility", "public") in {"private", "direct"}:
        raise ValidationFailed(
            "Validation failed: only public statuses are supported",
            errors={"visibility": ["public or unlisted"]},
        )
    reply_to = request.POST.get("in_reply_to_id", "")
    if reply_to:
        kind, pk = status_ref(reply_to)
        if kind == "comment":
            parent = comment_of(pk)
            comment = services.comment_create(
                actor=user, post_id=parent.post_id, text=text, parent_id=parent.pk
            )
        else:
            comment = services.comment_create(actor=user, post_id=post_of(reply_to).pk, text=text)
        return JsonResponse(comment_json(request, comment, user))
    media_ids = request.POST.getlist("media_ids[]") or request.POST.getlist("media_ids")
    videos = [m[1:] for m in media_ids if m.startswith("v")]
    images = [m for m in media_ids if not m.startswith("v")]
    if any(not m.isdigit() for m in images + videos) or len(videos) > 1:
        raise ValidationFailed(
            "Validation failed: media_ids are not valid", errors={"media_ids": ["not ids"]}
        )
    post = services.post_publish(
        actor=user,
        account=publishing_account(user),
        text=text,
        category=request.POST.get("category", "news"),
        media_ids=[int(m) for m in images],
        video_id=int(videos[0]) if videos else None,
    )
    return JsonResponse(status_json(request, post, user))


# The start of the image formats broadcast takes; anything else is treated as a video (and
# probed as one, so a file that is neither is refused with the video's message).
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")


def _is_image(head: bytes) -> bool:
    return head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


@endpoint(scopes_needed=WRITE_MEDIA, methods=("POST",))
def media_upload(request: HttpRequest) -> HttpResponse:
    """POST /api/v1/media and /api/v2/media: an image for a coming status, its header checked
    at once, a small one re-encoded at once (200 with its URL), a large one re-encoded in the
    background; or a video, probed now and transcoded in the background. While a large image
    or a video is processing, v2 answers 202 with a null URL, as Mastodon does."""
    user = request_user(request)
    upload = request.FILES.get("file")
    if upload is None:
        raise ValidationFailed("Validation failed: file can't be blank", errors={"file": ["blank"]})
    head = upload.read(12)
    upload.seek(0)
    if not _is_image(head):
        video = services.video_upload(
            actor=user,
            account=publishing_account(user),
            video=services.VideoIn(
                name=upload.name or "upload",
                file=upload,
                description=request.POST.get("description", ""),
            ),
        )
        video.refresh_from_db()
        processing = video.state == "processing" and "/api/v2/" in request.path
        return JsonResponse(video_media_json(request, video), status=202 if processing else 200)
    image = services.media_upload(
        actor=user,
        account=publishing_account(user),
        image=services.ImageIn(
            name=upload.name or "upload",
            data=upload.read(),
            alt_text=request.POST.get("description", ""),
        ),
    )
    image.refresh_from_db()
    processing = image.state == "processing" and "/api/v2/" in request.path
    return JsonResponse(media_json(request, image), status=202 if processing else 200)


@endpoint(scopes_needed=WRITE_MEDIA, methods=("GET",))
def media_get(request: HttpRequest, media_id: str) -> HttpResponse:
    """GET /api/v1/media/:id: an uploaded attachment; 206 while a video or a large image is
    still processing; 422 with the reason when an image could not be read."""
    user = request_user(request)
    if media_id.startswith("v") and media_id[1:].isdigit():
        video = selectors.video_get(user, int(media_id[1:]))
        body = video_media_json(request, video)
        return JsonResponse(body, status=206 if video.state == "processing" else 200)
    if not media_id.isdigit():
        raise NotFound("Record not found")
    image = selectors.image_get(user, int(media_id))
    if image.state == "failed":
        raise ValidationFailed(
            f"Error processing media: {image.error}", errors={"file": [image.error]}
        )
    status = 206 if image.state == "processing" else 200
    return JsonResponse(media_json(request, image), status=status)


@endpoint(auth=False, scopes_needed=READ_STATUSES)
def status_get(request: HttpRequest, status_id: str) -> HttpResponse:
    kind, pk = status_ref(status_id)
    if kind == "comment":
        return JsonResponse(comment_json(request, comment_of(pk), request_user_or_none(request)))
    return JsonResponse(status_json(request, post_of(status_id), request_user_or_none(request)))


@endpoint(scopes_needed=WRITE_STATUSES, methods=("DELETE",))
def status_delete(request: HttpRequest, status_id: str) -> HttpResponse:
    """A publisher retracts a post (it stays in the record, out of every timeline)."""
    post = post_of(status_id)
    body = status_json(request, post, request_user(request))
    services.post_retract(actor=request_user(request), post_id=post.pk)
    return JsonResponse({**body, "text": post.text})


@endpoint(scopes_needed=WRITE_STATUSES, methods=("PUT",))
def status_edit(request: HttpRequest, status_id: str) -> HttpResponse:
    """A publisher edits a post's text; the earlier text stays in its history."""
    post = services.post_edit(
        actor=request_user(request),
        post_id=post_of(status_id).pk,
        text=request.POST.get("status", ""),
    )
    return JsonResponse(status_json(request, selectors.post_get(post.pk), request_user(request)))


@csrf_exempt
def status_detail(request: HttpRequest, status_id: str) -> HttpResponseBase:
    views = {"DELETE": status_delete, "PUT": status_edit}
    response: HttpResponseBase = views.get(request.method or "", status_get)(request, status_id)
    return response


@endpoint(auth=False, scopes_needed=READ_STATUSES)
def status_history(request: HttpRequest, status_id: str) -> HttpResponse:
    """Every version of a post, oldest first, the current one last (Mastodon's StatusEdit)."""
    post = post_of(status_id)
    account = account_json(request, post.account)
    media = media_attachments(request, post)
    return JsonResponse(
        [
            {
                "content": f"<p>{escape_text(text)}</p>",
                "spoiler_text": "",
                "sensitive": False,
                "created_at": timestamp(at),
                "account": account,
                "media_attachments": media,
                "emojis": [],
            }
            for text, at in selectors.post_versions(post)
        ],
        safe=False,
    )


@endpoint(scopes_needed=READ_STATUSES)
def status_source(request: HttpRequest, status_id: str) -> HttpResponse:
    post = post_of(status_id)
    return JsonResponse({"id": str(post.pk), "text": post.text, "spoiler_text": ""})


@endpoint(auth=False, scopes_needed=READ_STATUSES)
def status_context(request: HttpRequest, status_id: str) -> HttpResponse:
    """The thread around a status: a post's visible comments in thread order; for a comment,
    the post and the comments it answers, and the replies below it."""
    user = request_user_or_none(request)
    kind, pk = status_ref(status_id)
    if kind == "comment":
        comment = comment_of(pk)
        post = post_of(str(comment.post_id))
    else:
        comment, post = None, post_of(status_id)
    thread = selectors.thread(post)
    by_id = {c.pk: c for c in thread}
    for reply in thread:  # the thread's post and parents are already here: no query per reply
        reply.post = post
        if reply.parent_id in by_id:
            reply.parent = by_id[reply.parent_id]
    if comment is None:
        return JsonResponse(
            {"ancestors": [], "descendants": [comment_json(request, c, user) for c in thread]}
        )
    ancestors: list[dict[str, Any]] = []
    parent_id = comment.parent_id
    while parent_id is not None and parent_id in by_id:
        ancestors.insert(0, comment_json(request, by_id[parent_id], user))
        parent_id = by_id[parent_id].parent_id
    descendants: list[dict[str, Any]] = []
    position = next((i for i, c in enumerate(thread) if c.pk == comment.pk), len(thread))
    if position < len(thread):
        depth = thread[position].depth  # type: ignore[attr-defined]
        for reply in thread[position + 1 :]:
            if reply.depth <= depth:  # type: ignore[attr-defined]
                break
            descendants.append(comment_json(request, reply, user))
    return JsonResponse(
        {"ancestors": [status_json(request, post, user), *ancestors], "descendants": descendants}
    )


@endpoint(scopes_needed=WRITE_STATUSES, methods=("POST",))
def status_reblog(request: HttpRequest, status_id: str) -> HttpResponse:
    user = request_user(request)
    post = post_of(status_id)
    repost = services.repost_create(actor=user, post_id=post.pk)
    return JsonResponse(reblog_json(request, repost, selectors.post_get(post.pk), user))


def _changed(request: HttpRequest, status_id: str, change: Callable[..., object]) -> HttpResponse:
    """Applies `change(actor=, post_id=)` to the status's post; answers the post as it is now."""
    user = request_user(request)
    post = post_of(status_id)
    change(actor=user, post_id=post.pk)
    return JsonResponse(status_json(request, selectors.post_get(post.pk), user))


@endpoint(scopes_needed=WRITE_STATUSES, methods=("POST",))
def status_unreblog(request: HttpRequest, status_id: str) -> HttpResponse:
    return _changed(request, status_id, services.repost_delete)


@endpoint(scopes_needed=WRITE_FAVOURITES, methods=("POST",))
def status_favourite(request: HttpRequest, status_id: str) -> HttpResponse:
    return _changed(request, status_id, services.favourite_create)


@endpoint(scopes_needed=WRITE_FAVOURITES, methods=("POST",))
def status_unfavourite(request: HttpRequest, status_id: str) -> HttpResponse:
    return _changed(request, status_id, services.favourite_delete)
